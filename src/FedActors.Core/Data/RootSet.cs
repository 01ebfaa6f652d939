using FedActors.Core.Config;
using FedActors.Core.Randomness;

namespace FedActors.Core.Data;

/// <summary>
/// The server's small clean dataset (FLTrust's root dataset; SkyMask's <c>server_pc</c> samples): p·N samples of the
/// bias class and (1 − p)·N/(C − 1) of every other class, drawn without replacement from the clients' pool with a
/// seeded stream. p = 1/C gives a uniform root set (SkyMask's default p = 0.1 for 10 classes).
/// </summary>
public static class RootSet
{
    public static int[] Draw(long[] labels, IReadOnlyList<int> pool, int numClasses, ServerSettings server, long seed)
    {
        if (server.RootSamples <= 0) return [];
        var rng = SeedStream.Rng(seed, -1, -1, Purpose.RootSet);
        var result = new List<int>();
        int biasCount = (int)Math.Round(server.RootBias * server.RootSamples);
        int rest = server.RootSamples - biasCount;
        var others = Enumerable.Range(0, numClasses).Where(c => c != server.RootBiasClass).ToArray();
        for (int k = 0; k < numClasses; k++)
        {
            int want = k == server.RootBiasClass ? biasCount : rest / others.Length + (Array.IndexOf(others, k) < rest % others.Length ? 1 : 0);
            var candidates = pool.Where(i => labels[i] == k).ToArray();
            if (candidates.Length < want) throw new ArgumentException($"root set wants {want} samples of class {k}, the pool has {candidates.Length}");
            rng.Shuffle<int>(candidates);
            result.AddRange(candidates[..want]);
        }
        result.Sort();
        return result.ToArray();
    }
}
