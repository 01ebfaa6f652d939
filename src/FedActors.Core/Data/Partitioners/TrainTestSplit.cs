using System.Collections.Immutable;
using FedActors.Core.Randomness;

namespace FedActors.Core.Data.Partitioners;

/// <summary>
/// PFLlib's per-client split (<c>train_test_split(train_size=0.75, shuffle=True)</c>): each client's samples are
/// shuffled with the client's own seeded stream; the first n − ⌈n·(1−train)⌉ go to
/// training (sklearn rounds the test share up) and the rest to the client's local test set.
/// </summary>
public static class TrainTestSplit
{
    public static Partition Apply(int[][] assignment, double trainFraction, long seed)
    {
        if (trainFraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(trainFraction));
        var clients = ImmutableArray.CreateBuilder<ClientSplit>(assignment.Length);
        for (int c = 0; c < assignment.Length; c++)
        {
            var idx = assignment[c].ToArray();
            SeedStream.Rng(seed, -1, c, Purpose.TrainTestSplit).Shuffle<int>(idx);
            int nTest = (int)Math.Ceiling(idx.Length * (1 - trainFraction) - 1e-9);
            int nTrain = idx.Length - nTest;
            clients.Add(new ClientSplit(c, [.. idx[..nTrain]], [.. idx[nTrain..]]));
        }
        return new Partition(clients.MoveToImmutable());
    }
}
