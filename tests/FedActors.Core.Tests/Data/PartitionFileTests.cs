using FedActors.Core.Data;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Data;

[Collection("Torch")]
public class PartitionFileTests
{
    private static string Temp(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"partition-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_partition_written_and_read_back_should_give_the_same_run()
    {
        // arrange: a Dirichlet run, its partition written out
        var settings = TestExperiments.Synthetic(rounds: 2, clients: 8, perRound: 4, dropout: 0.2);
        var path = Path.Combine(Path.GetTempPath(), $"partition-{Guid.NewGuid():N}.json");
        List<RoundSummary> Run(Core.Config.ExperimentSettings s, bool write)
        {
            using var e = TestExperiments.Load(s);
            if (write) PartitionFile.Write(path, e.Partition, "synthetic", "train+test", e.Data.NumClasses);
            using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
            return new PlainSimulation(e, pool).Run().Select(r => r with { RoundMs = 0, ComputeMs = 0 }).ToList();
        }
        var original = Run(settings, write: true);
        // act: the same experiment reading that file
        var replay = Run(settings with { Data = settings.Data with { Partition = settings.Data.Partition with { Kind = "file", Path = path } } }, write: false);
        // assert
        Assert.Equal(original, replay);
        using var e = TestExperiments.Load(settings);
        var read = PartitionFile.Read(path, e.Data.Count);
        Assert.Equal(e.Partition.Clients.Select(c => c.Train.ToArray()), read.Clients.Select(c => c.Train.ToArray())); // order kept
    }

    [Theory]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1,2],"test":[70000]}]}""", "client 0: index 70000 is out of range")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1],"test":[2]},{"id":0,"train":[3],"test":[4]}]}""", "client 0 is listed twice")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1],"test":[2]},{"id":1,"train":[5,6],"test":[6]}]}""", "client 1: index 6 is in both train and test")]
    [InlineData("""{"format":"flwr-partition/2","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[]}""", "unknown format \"flwr-partition/2\"")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":1,"train":[1],"test":[2]}]}""", "client ids must be 0")]
    [InlineData("""not json""", "not valid JSON")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1,7],"test":[2]},{"id":1,"train":[5,7],"test":[6]}]}""", "index 7 belongs to both client 0 and client 1")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1,3,1,1],"test":[2]}]}""", "client 0: index 1 is in its train list twice")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1],"test":[2]},{"id":1,"train":[],"test":[6]}]}""", "client 1 has no training samples")]
    [InlineData("""{"format":"fedactors-partition/1","dataset":"fashion-mnist","pool":"train+test","num_classes":10,"clients":[{"id":0,"train":[1],"test":[2, 2]}]}""", "client 0: index 2 is in its test list twice")]
    public void A_bad_partition_file_should_be_refused_naming_the_client_and_index(string json, string expected)
    {
        var e = Assert.Throws<PartitionFileException>(() => PartitionFile.Read(Temp(json), 70_000, "fashion-mnist"));
        Assert.Contains(expected, e.Message);
    }
}
