namespace FedActors.Core.Data.Partitioners;

/// <summary>Splits a labelled pool among clients. Returns each client's sample indices (train and test together);
/// <see cref="TrainTestSplit"/> then cuts each client's share into local train and test.</summary>
public interface IPartitioner
{
    int[][] Assign(long[] labels, int numClasses, int numClients, long seed);

    /// <summary>Whether a sample may go to several clients (drawn with replacement across clients): the partition file
    /// then says so, and its check allows it.</summary>
    bool SharesSamples => false;
}
