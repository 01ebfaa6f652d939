using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using Xunit;

namespace FedActors.Core.Tests.Data;

public class PartitionerTests
{
    private static long[] Labels(int n, int classes = 10) => Enumerable.Range(0, n).Select(i => (long)(i % classes)).ToArray();

    private static void AssertDisjointCover(int[][] parts, int n)
    {
        var all = parts.SelectMany(p => p).ToArray();
        Assert.Equal(n, all.Length);
        Assert.Equal(n, all.Distinct().Count());
    }

    /// <summary>Mean share of a client's most frequent label: 0.1 for perfectly mixed 10-class data, 1 for one label.</summary>
    private static double MeanMajorityShare(int[][] parts, long[] labels) =>
        parts.Average(p => p.GroupBy(i => labels[i]).Max(g => g.Count()) / (double)p.Length);

    [Fact]
    public void Iid_should_deal_equal_shares_covering_every_sample_once()
    {
        var parts = new IidPartitioner().Assign(Labels(1003), 10, 10, seed: 1);
        AssertDisjointCover(parts, 1003);
        Assert.Equal([101, 101, 101, 100, 100, 100, 100, 100, 100, 100], parts.Select(p => p.Length));
        Assert.True(MeanMajorityShare(parts, Labels(1003)) < 0.2);
    }

    [Fact]
    public void Dirichlet_should_skew_labels_more_as_alpha_shrinks_and_respect_min_samples()
    {
        var labels = Labels(10_000);
        var skewed = new DirichletPartitioner(0.1, minSamples: 40).Assign(labels, 10, 20, seed: 7);
        var mild = new DirichletPartitioner(1.0, minSamples: 40).Assign(labels, 10, 20, seed: 7);
        var flat = new DirichletPartitioner(100, minSamples: 40).Assign(labels, 10, 20, seed: 7);
        foreach (var p in new[] { skewed, mild, flat })
        {
            AssertDisjointCover(p, 10_000);
            Assert.All(p, c => Assert.True(c.Length >= 40));
        }
        double s = MeanMajorityShare(skewed, labels), m = MeanMajorityShare(mild, labels), f = MeanMajorityShare(flat, labels);
        Assert.True(s > m && m > f, $"majority share α=0.1: {s:F3}, α=1: {m:F3}, α=100: {f:F3}");
        Assert.True(s > 0.5, $"α=0.1 should leave most clients dominated by one label, got {s:F3}");
        Assert.True(f < 0.2, $"α=100 should be near IID, got {f:F3}");
    }

    [Fact]
    public void Partitioners_should_be_stable_for_a_seed_and_differ_across_seeds()
    {
        var labels = Labels(2000);
        foreach (var p in new IPartitioner[] { new IidPartitioner(), new DirichletPartitioner(0.5), new PathologicalPartitioner(2, balanced: false) })
        {
            var a = p.Assign(labels, 10, 10, seed: 3);
            var b = p.Assign(labels, 10, 10, seed: 3);
            var c = p.Assign(labels, 10, 10, seed: 4);
            Assert.Equal(a, b);
            Assert.NotEqual(a, c);
        }
    }

    [Fact]
    public void Pathological_should_give_each_client_exactly_k_labels()
    {
        var labels = Labels(2000);
        var parts = new PathologicalPartitioner(2).Assign(labels, 10, 20, seed: 5);
        AssertDisjointCover(parts, 2000);
        Assert.All(parts, p => Assert.Equal(2, p.Select(i => labels[i]).Distinct().Count()));
        // balanced: 200 samples per class over the 4 clients that get it
        Assert.All(parts, p => Assert.Equal(100, p.Length));
    }

    [Fact]
    public void TrainTestSplit_should_cut_each_client_75_25_rounding_the_test_share_up()
    {
        int[][] parts = [Enumerable.Range(0, 10).ToArray(), Enumerable.Range(10, 7).ToArray()];
        var split = TrainTestSplit.Apply(parts, 0.75, seed: 1);
        Assert.Equal(7, split.Clients[0].Train.Length); // ceil(10 × 0.25) = 3 test
        Assert.Equal(3, split.Clients[0].Test.Length);
        Assert.Equal(5, split.Clients[1].Train.Length); // ceil(7 × 0.25) = 2 test
        Assert.Equal(2, split.Clients[1].Test.Length);
        Assert.Equal(parts[1].Order(), split.Clients[1].Train.Concat(split.Clients[1].Test).Order());
    }

    [Fact]
    public void Registry_should_name_the_valid_partitioners_when_given_an_unknown_one()
    {
        var e = Assert.Throws<ArgumentException>(() => PartitionerRegistry.Create(new PartitionOptions("shards", 0.5, 2, true, 40, 0.75)));
        Assert.Contains("dirichlet, iid, pathological", e.Message);
    }
}
