using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>
/// Fang et al.'s "bias" non-IID split (USENIX Security 2020; FLTrust and SkyMask's <c>assign_data</c>): clients form C
/// equal groups; a sample of label y goes to group y with probability b, otherwise to one of the other C − 1 groups
/// uniformly, and then to a uniformly random client of that group. b = 1/C is IID; SkyMask uses b = 0.5.
/// </summary>
/// <remarks>Clients are numbered group by group and then permuted with the partition stream, as the reference code
/// shuffles its client list.</remarks>
public sealed class BiasPartitioner(double bias) : IPartitioner
{
    public double Bias { get; } = bias is >= 0 and <= 1 ? bias : throw new ArgumentOutOfRangeException(nameof(bias), bias, "must be in [0, 1]");

    public int[][] Assign(long[] labels, int numClasses, int numClients, long seed)
    {
        if (numClients < numClasses) throw new ArgumentException($"the bias split needs at least one client per class ({numClasses}), got {numClients}");
        var rng = SeedStream.Rng(seed, -1, -1, Purpose.Partition);
        var groups = Enumerable.Range(0, numClasses)
            .Select(g => Enumerable.Range(0, numClients).Where(c => c * numClasses / numClients == g).ToArray()).ToArray();
        var buckets = Enumerable.Range(0, numClients).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < labels.Length; i++)
        {
            int y = (int)labels[i];
            int group = y;
            if (rng.NextDouble() >= Bias)
            {
                int other = rng.NextInt(numClasses - 1);
                group = other >= y ? other + 1 : other;
            }
            var members = groups[group];
            buckets[members[rng.NextInt(members.Length)]].Add(i);
        }
        var order = rng.Permutation(numClients);
        return order.Select(c => buckets[c].ToArray()).ToArray();
    }
}
