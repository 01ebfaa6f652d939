namespace FedActors.Core.Data;

/// <summary>
/// Fashion-MNIST from the IDX files of Debian's <c>dataset-fashion-mnist</c> package. As PFLlib does, the train and
/// t10k files are pooled (<c>train+test</c>): sample i &lt; 60000 is the i-th train image, 60000 + j the j-th test
/// image. Pixels are normalised as PFLlib's <c>Normalize([0.5], [0.5])</c>: x / 127.5 − 1.
/// </summary>
public static class FashionMnist
{
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    public static readonly string[] Files =
    [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ];

    /// <param name="pool">"train+test" (PFLlib) or "train" (only the 60,000 training images).</param>
    /// <param name="limit">Keep only the first <paramref name="limit"/> samples of the pool (0 = all), for quick tests.</param>
    public static Dataset Load(string directory, string pool = "train+test", int limit = 0)
    {
        var parts = pool == "train" ? new[] { ("train", 0) } : new[] { ("train", 0), ("t10k", 2) };
        var images = new List<byte>();
        var labels = new List<long>();
        int rows = 0, cols = 0;
        foreach (var (prefix, _) in parts)
        {
            var img = IdxReader.Read(Path.Combine(directory, $"{prefix}-images-idx3-ubyte.gz"));
            var lab = IdxReader.Read(Path.Combine(directory, $"{prefix}-labels-idx1-ubyte.gz"));
            if (img.Shape.Length != 3 || lab.Shape.Length != 1 || img.Shape[0] != lab.Shape[0])
                throw new InvalidDataException($"{directory}/{prefix}: images {string.Join('x', img.Shape)} do not match labels {string.Join('x', lab.Shape)}");
            (rows, cols) = (img.Shape[1], img.Shape[2]);
            images.AddRange(img.Data);
            labels.AddRange(lab.Data.Select(b => (long)b));
        }
        int n = limit > 0 ? Math.Min(limit, labels.Count) : labels.Count;
        int size = rows * cols;
        var features = new float[n * size];
        for (int i = 0; i < features.Length; i++) features[i] = images[i] / 127.5f - 1f;
        return new Dataset("fashion-mnist", features, labels.Take(n).ToArray(), [1, rows, cols], 10);
    }
}
