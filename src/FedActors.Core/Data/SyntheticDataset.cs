using FedActors.Core.Randomness;

namespace FedActors.Core.Data;

/// <summary>
/// A seeded, learnable stand-in for image data in tests: each class c has a mean image μ_c ~ N(0, separation²),
/// and a sample of class c is μ_c + N(0, 1) noise. Labels are balanced and shuffled. Same seed, same data.
/// </summary>
public static class SyntheticDataset
{
    public static Dataset Create(long seed, int count, int numClasses = 10, int[]? sampleShape = null, double separation = 0.5)
    {
        sampleShape ??= [1, 28, 28];
        int size = sampleShape.Aggregate(1, (a, b) => a * b);
        var rng = SeedStream.Rng(seed, -1, -1, Purpose.Synthetic);
        var means = new float[numClasses * size];
        for (int i = 0; i < means.Length; i++) means[i] = (float)(rng.NextGaussian() * separation);
        var labels = new long[count];
        for (int i = 0; i < count; i++) labels[i] = i % numClasses;
        rng.Shuffle<long>(labels);
        var features = new float[count * size];
        for (int i = 0; i < count; i++)
        {
            int c = (int)labels[i];
            for (int j = 0; j < size; j++)
                features[i * size + j] = means[c * size + j] + (float)rng.NextGaussian();
        }
        return new Dataset("synthetic", features, labels, sampleShape, numClasses);
    }
}
