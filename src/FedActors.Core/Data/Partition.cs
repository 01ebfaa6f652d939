using System.Collections.Immutable;

namespace FedActors.Core.Data;

/// <summary>One client's share of the pooled dataset: sample indices for local training and for its local test.</summary>
public sealed record ClientSplit(int ClientId, ImmutableArray<int> Train, ImmutableArray<int> Test);

/// <summary>The whole population's split of a dataset, indexed by client id (0..n-1).</summary>
public sealed record Partition(ImmutableArray<ClientSplit> Clients)
{
    public int NumClients => Clients.Length;

    /// <summary>Samples may belong to several clients (a cross-device partition, drawn with replacement across clients).</summary>
    public bool SharesSamples { get; init; }

    /// <summary>Every client's test indices, in client order: the pooled test set of the PFLlib protocol.</summary>
    public int[] AllTestIndices() => Clients.SelectMany(c => c.Test).ToArray();

    /// <summary>Per-client label histogram over train+test, for reports and tests.</summary>
    public int[,] LabelCounts(long[] labels, int numClasses)
    {
        var counts = new int[NumClients, numClasses];
        foreach (var c in Clients)
            foreach (var i in c.Train.Concat(c.Test)) counts[c.ClientId, labels[i]]++;
        return counts;
    }
}
