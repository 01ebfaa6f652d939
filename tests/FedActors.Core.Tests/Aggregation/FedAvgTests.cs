using FedActors.Core.Aggregation;
using FedActors.Core.Updates;
using Xunit;

namespace FedActors.Core.Tests.Aggregation;

public class FedAvgTests
{
    private static ClientUpdate U(int id, int n, params float[] delta) => new(id, new ParameterVector(delta), n, 0);

    [Fact]
    public void FedAvg_should_return_the_sample_weighted_mean_of_the_updates()
    {
        // (1·[1, 2, 3] + 3·[5, 6, −1]) / 4 = [4, 5, 0]
        var result = new FedAvg().Aggregate(new RoundContext(1, new ParameterVector(new float[3]), 2),
            [U(0, 1, 1, 2, 3), U(1, 3, 5, 6, -1)]);
        Assert.Equal([4f, 5f, 0f], result.Delta.Values);
        Assert.Equal(new[] { 0, 1 }, result.Accepted.ToArray());
    }

    [Fact]
    public void FedAvg_of_equal_weights_should_be_the_plain_mean()
    {
        var mean = FedAvg.WeightedMean([U(0, 10, 0.5f, -1), U(1, 10, 1.5f, 1), U(2, 10, 1f, 3)]);
        Assert.Equal([1f, 1f], mean.Values);
    }

    [Fact]
    public void FedAvg_should_refuse_mismatched_lengths_and_empty_input()
    {
        Assert.Throws<ArgumentException>(() => FedAvg.WeightedMean([U(0, 1, 1, 2), U(1, 1, 1)]));
        Assert.Throws<ArgumentException>(() => FedAvg.WeightedMean([]));
    }

    [Fact]
    public void Registry_should_list_valid_rules_for_an_unknown_name()
    {
        var e = Assert.Throws<ArgumentException>(() => AggregationRegistry.Create("krumm"));
        Assert.Contains("fedavg", e.Message);
    }

    [Fact]
    public void Uniform_weighting_should_be_the_plain_mean_streamed_or_not()
    {
        var updates = new[]
        {
            new ClientUpdate(0, new ParameterVector([1f, 4f]), 10, 0),
            new ClientUpdate(1, new ParameterVector([3f, 0f]), 30, 0),
        };
        var context = new RoundContext(1, new ParameterVector([0f, 0f]), 2);
        var uniform = new FedAvg(FedAvg.Exact, FedAvg.Uniform);
        Assert.Equal([2f, 2f], uniform.Aggregate(context, updates).Delta.Values); // (1/n) Σ Δ, not Σ nΔ / Σ n = [2.5, 1]
        Assert.Equal([2.5f, 1f], new FedAvg().Aggregate(context, updates).Delta.Values);
        Assert.Equal([2f, 2f], new FedAvg(FedAvg.Ordered, FedAvg.Uniform).Aggregate(context, updates).Delta.Values);
        var sum = new ExactSum(2);
        foreach (var u in updates.Reverse()) sum.Add(u.Delta, uniform.Weight(u));
        Assert.Equal([2f, 2f], uniform.Finish(sum).Values);
    }
}
