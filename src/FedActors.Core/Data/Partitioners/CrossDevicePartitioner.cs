using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>
/// Cross-device populations of any size from any pool: each client's sample count is drawn from a log-normal with mean
/// <paramref name="meanSamples"/> and log-space σ <paramref name="sigma"/> (at least one sample), its label mix from a
/// symmetric Dirichlet(<paramref name="alpha"/>) (skewed per client, like <see cref="DirichletPartitioner"/>), and its
/// samples from the pool's samples of each drawn label — without replacement within a client, with replacement across
/// clients, so 100,000 clients fit Fashion-MNIST. Every draw is seeded per client (seed, client, partition), so a
/// client's data do not depend on the population's size or order. The partition file says its samples are shared
/// (<see cref="IPartitioner.SharesSamples"/>).
/// </summary>
/// <remarks>The FedScale/FLUTE practice for synthetic cross-device populations; the log-normal is parameterised by its
/// mean (μ = ln mean − σ²/2), so <paramref name="meanSamples"/> is the average client size.</remarks>
public sealed class CrossDevicePartitioner(double meanSamples, double sigma, double alpha) : IPartitioner
{
    public bool SharesSamples => true;

    public int[][] Assign(long[] labels, int numClasses, int numClients, long seed)
    {
        var byLabel = new List<int>[numClasses];
        for (int c = 0; c < numClasses; c++) byLabel[c] = [];
        for (int i = 0; i < labels.Length; i++) byLabel[labels[i]].Add(i);
        double mu = Math.Log(meanSamples) - sigma * sigma / 2;
        var result = new int[numClients][];
        for (int client = 0; client < numClients; client++)
        {
            var rng = SeedStream.Rng(seed, -1, client, Purpose.Partition);
            int n = (int)Math.Clamp(Math.Round(Math.Exp(mu + sigma * rng.NextGaussian())), 1, labels.Length);
            var mix = rng.NextDirichlet(alpha, numClasses);
            for (int c = 0; c < numClasses; c++) if (byLabel[c].Count == 0) mix[c] = 0; // labels the pool lacks
            double total = mix.Sum();
            var picked = new List<int>(n);
            var seen = new HashSet<int>();
            for (int k = 0, misses = 0; k < n && misses < 10 * n; )
            {
                // the label from the client's mix, then a sample of that label; a sample the client holds already is drawn again
                double u = rng.NextDouble() * total;
                int label = 0;
                while (label < numClasses - 1 && (u -= mix[label]) >= 0) label++;
                if (mix[label] == 0) label = Array.FindIndex(mix, m => m > 0);
                var pool = byLabel[label];
                int index = pool[rng.NextInt(pool.Count)];
                if (seen.Add(index)) { picked.Add(index); k++; }
                else misses++;
            }
            result[client] = [.. picked];
        }
        return result;
    }

    /// <summary>Bytes the partition of <paramref name="clients"/> such clients takes (index arrays, with the train/test
    /// split's copies and the partition file's text), to refuse up front a population that would not fit.</summary>
    public static long EstimatedBytes(int clients, double meanSamples) => (long)(clients * meanSamples * 4 * 3) + clients * 200L;
}
