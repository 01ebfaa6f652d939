using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>
/// Label skew by Dirichlet(α), as PFLlib's <c>separate_data(partition="dir")</c> (after Hsu et al. 2019): for each
/// class, its shuffled samples are cut among clients in proportions p ~ Dir(α,…,α), where a client that already
/// holds more than N / clients samples gets no more. Redrawn (with the next attempt's stream) until every client has
/// at least <see cref="MinSamples"/> samples. Smaller α, more skew.
/// </summary>
public sealed class DirichletPartitioner(double alpha, int minSamples = 40, int maxAttempts = 1000) : IPartitioner
{
    public double Alpha { get; } = alpha > 0 ? alpha : throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "must be > 0");
    public int MinSamples { get; } = minSamples;

    public int[][] Assign(long[] labels, int numClasses, int numClients, long seed)
    {
        int n = labels.Length;
        if (n < numClients * MinSamples)
            throw new ArgumentException($"{n} samples cannot give {numClients} clients {MinSamples} samples each");
        var byClass = Enumerable.Range(0, numClasses).Select(k => Enumerable.Range(0, n).Where(i => labels[i] == k).ToArray()).ToArray();
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var rng = SeedStream.Rng(seed, attempt, -1, Purpose.Partition);
            var batches = Enumerable.Range(0, numClients).Select(_ => new List<int>()).ToArray();
            for (int k = 0; k < numClasses; k++)
            {
                var idx = byClass[k].ToArray();
                rng.Shuffle<int>(idx);
                var p = rng.NextDirichlet(Alpha, numClients);
                double sum = 0;
                for (int c = 0; c < numClients; c++)
                {
                    if (batches[c].Count >= (double)n / numClients) p[c] = 0;
                    sum += p[c];
                }
                // cumsum(p / sum) * len, truncated, as np.split points
                double cum = 0;
                int start = 0;
                for (int c = 0; c < numClients; c++)
                {
                    cum += sum > 0 ? p[c] / sum : 1.0 / numClients;
                    int end = c == numClients - 1 ? idx.Length : Math.Min(idx.Length, (int)(cum * idx.Length));
                    if (end > start) batches[c].AddRange(idx[start..end]);
                    start = Math.Max(start, end);
                }
            }
            if (batches.Min(b => b.Count) >= MinSamples) return batches.Select(b => b.ToArray()).ToArray();
        }
        throw new InvalidOperationException($"Dirichlet(α={Alpha}) found no split giving every one of {numClients} clients ≥ {MinSamples} samples in {maxAttempts} attempts");
    }
}
