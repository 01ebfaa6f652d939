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
    public void Bias_should_send_a_label_to_its_group_with_probability_b()
    {
        var labels = Labels(20_000);
        var skewed = new BiasPartitioner(0.5).Assign(labels, 10, 100, seed: 2);
        var iid = new BiasPartitioner(0.1).Assign(labels, 10, 100, seed: 2);
        AssertDisjointCover(skewed, 20_000);
        AssertDisjointCover(iid, 20_000);
        // b = 0.5: a client's own-group label holds about half its data (0.5 of its group's label + ~0 of others)
        double s = MeanMajorityShare(skewed, labels), u = MeanMajorityShare(iid, labels);
        Assert.InRange(s, 0.45, 0.6);
        Assert.True(u < 0.25, $"b = 1/C should be near IID, got {u:F3}");
    }

    [Fact]
    public void RootSet_should_draw_the_biased_class_mix_from_the_pool()
    {
        var labels = Labels(5000);
        var pool = Enumerable.Range(0, 5000).Where(i => i % 3 != 0).ToArray();
        var root = RootSet.Draw(labels, pool, 10, new Core.Config.ServerSettings(1, 100, 0.1, 1), seed: 4);
        Assert.Equal(100, root.Length);
        Assert.Equal(100, root.Distinct().Count());
        Assert.All(root, i => Assert.Contains(i, pool));
        Assert.All(Enumerable.Range(0, 10), k => Assert.Equal(10, root.Count(i => labels[i] == k))); // p = 0.1 is uniform
        var biased = RootSet.Draw(labels, pool, 10, new Core.Config.ServerSettings(1, 100, 0.5, 1), seed: 4);
        Assert.Equal(50, biased.Count(i => labels[i] == 1));
        Assert.Empty(RootSet.Draw(labels, pool, 10, Core.Config.ServerSettings.Default, seed: 4));
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
        Assert.Contains("bias, cross-device, dirichlet, file, iid, pathological", e.Message);
    }
}
