using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Data;

public class CrossDevicePartitionerTests
{
    private static long[] Labels(int n, int classes) => Enumerable.Range(0, n).Select(i => (long)(i % classes)).ToArray();

    [Fact]
    public void A_population_far_larger_than_the_pool_should_get_log_normal_sizes_and_skewed_labels()
    {
        // arrange: 10,000 clients of mean 20 samples from a pool of 2,000 (10 classes)
        var labels = Labels(2000, 10);
        var p = new CrossDevicePartitioner(meanSamples: 20, sigma: 0.5, alpha: 0.3);

        // act
        var clients = p.Assign(labels, 10, 10_000, seed: 5);

        // assert: sizes average ~20 and vary; no client holds a sample twice; a client's labels are skewed (α = 0.3)
        Assert.Equal(10_000, clients.Length);
        Assert.InRange(clients.Average(c => c.Length), 19, 21);
        Assert.True(clients.Min(c => c.Length) >= 1);
        Assert.True(clients.Max(c => c.Length) > 40);
        Assert.All(clients, c => Assert.Equal(c.Length, c.Distinct().Count()));
        double topShare = clients.Where(c => c.Length >= 20).Average(c => c.GroupBy(i => labels[i]).Max(g => g.Count()) / (double)c.Length);
        Assert.True(topShare > 0.4, $"the most frequent label holds {topShare:P0} of a client's samples on average");
        Assert.True(p.SharesSamples);
    }

    [Fact]
    public void A_clients_data_should_depend_only_on_the_seed_and_its_id()
    {
        var labels = Labels(1000, 10);
        var p = new CrossDevicePartitioner(15, 0.8, 0.5);
        var small = p.Assign(labels, 10, 100, seed: 3);
        var large = p.Assign(labels, 10, 1000, seed: 3);
        var again = p.Assign(labels, 10, 100, seed: 3);
        var other = p.Assign(labels, 10, 100, seed: 4);
        Assert.Equal(small, again);
        Assert.Equal(small, large[..100]); // growing the population leaves the first clients as they were
        Assert.NotEqual(small, other);
    }

    [Fact]
    public void Its_partition_file_should_say_samples_are_shared_and_read_back()
    {
        // arrange: a cross-device experiment on synthetic data, written as a run writes partition.json
        var settings = TestExperiments.Synthetic(clients: 300, samples: 400) is var s
            ? s with { Data = s.Data with { Partition = s.Data.Partition with { Kind = "cross-device", SamplesMean = 12 } } }
            : null!;
        using var e = TestExperiments.Load(settings);
        var path = Path.Combine(Path.GetTempPath(), $"part-{Guid.NewGuid():N}.json");
        PartitionFile.Write(path, e.Partition, "synthetic", "train+test", e.Data.NumClasses);

        // act
        var read = PartitionFile.Read(path, e.Data.Count);

        // assert: samples are shared between clients (300 × 12 > 400), and the file replays the partition
        Assert.True(e.Partition.SharesSamples);
        Assert.True(read.SharesSamples);
        Assert.True(e.Partition.Clients.Sum(c => c.Train.Length + c.Test.Length) > e.Data.Count);
        Assert.Equal(e.Partition.Clients.Select(c => c.Train.ToArray()), read.Clients.Select(c => c.Train.ToArray()));
        Assert.Contains("with-replacement-across-clients", File.ReadAllText(path));
    }
}
