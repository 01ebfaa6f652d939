using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>IID: the pool is shuffled and dealt into equal shares (the first n mod k clients get one more).</summary>
public sealed class IidPartitioner : IPartitioner
{
    public int[][] Assign(long[] labels, int numClasses, int numClients, long seed)
    {
        var perm = SeedStream.Rng(seed, -1, -1, Purpose.Partition).Permutation(labels.Length);
        var result = new int[numClients][];
        int offset = 0;
        for (int c = 0; c < numClients; c++)
        {
            int size = labels.Length / numClients + (c < labels.Length % numClients ? 1 : 0);
            result[c] = perm[offset..(offset + size)];
            offset += size;
        }
        return result;
    }
}
