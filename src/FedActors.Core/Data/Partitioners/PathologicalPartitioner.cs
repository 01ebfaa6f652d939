using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>
/// Pathological label skew: each client holds k classes, as PFLlib's <c>separate_data(partition="pat")</c>. Classes
/// are handed out in order; class i goes to the first ⌈clients/classes·k⌉ clients that still need classes. Balanced:
/// equal shares of the class; unbalanced: seeded random shares in [max(per/10, minSamples/classes), per).
/// </summary>
public sealed class PathologicalPartitioner(int classesPerClient, bool balanced = true, int minSamples = 40) : IPartitioner
{
    public int ClassesPerClient { get; } = classesPerClient > 0 ? classesPerClient : throw new ArgumentOutOfRangeException(nameof(classesPerClient));

    public int[][] Assign(long[] labels, int numClasses, int numClients, long seed)
    {
        if (ClassesPerClient > numClasses) throw new ArgumentException($"{ClassesPerClient} classes per client but only {numClasses} classes");
        var rng = SeedStream.Rng(seed, -1, -1, Purpose.Partition);
        var need = Enumerable.Repeat(ClassesPerClient, numClients).ToArray();
        var result = Enumerable.Range(0, numClients).Select(_ => new List<int>()).ToArray();
        int take = (int)Math.Ceiling((double)numClients / numClasses * ClassesPerClient);
        for (int k = 0; k < numClasses; k++)
        {
            var idx = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).ToArray();
            var selected = Enumerable.Range(0, numClients).Where(c => need[c] > 0).Take(take).ToArray();
            if (selected.Length == 0) continue;
            double per = (double)idx.Length / selected.Length;
            var counts = new int[selected.Length];
            for (int s = 0; s < selected.Length - 1; s++)
            {
                if (balanced) counts[s] = (int)per;
                else
                {
                    int lo = (int)Math.Max(per / 10, (double)minSamples / numClasses), hi = (int)per;
                    counts[s] = hi > lo ? rng.NextInt(lo, hi) : lo;
                }
            }
            counts[^1] = idx.Length - counts[..^1].Sum();
            int offset = 0;
            for (int s = 0; s < selected.Length; s++)
            {
                result[selected[s]].AddRange(idx[offset..(offset + counts[s])]);
                offset += counts[s];
                need[selected[s]]--;
            }
        }
        return result.Select(r => r.ToArray()).ToArray();
    }
}
