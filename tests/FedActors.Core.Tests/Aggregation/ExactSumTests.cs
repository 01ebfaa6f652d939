using FedActors.Core.Aggregation;
using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using Xunit;
using Xunit.Abstractions;

namespace FedActors.Core.Tests.Aggregation;

public class ExactSumTests(ITestOutputHelper output)
{
    /// <summary>Updates whose values span many magnitudes (1e-9 … 1e3), where a double sum depends on the order.</summary>
    private static ClientUpdate[] Updates(int n, int length, int seed)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(id => new ClientUpdate(id,
            new ParameterVector(Enumerable.Range(0, length).Select(_ => (float)(rng.NextGaussian() * Math.Pow(10, rng.NextInt(-9, 4)))).ToArray()),
            1 + rng.NextInt(500), 0.1)).ToArray();
    }

    [Fact]
    public void The_sum_should_be_the_same_bits_whatever_the_order_and_however_it_is_split_between_nodes()
    {
        // arrange
        var updates = Updates(40, 500, 1);
        var inOrder = new ExactSum(500);
        foreach (var u in updates) inOrder.Add(u.Delta, u.NumSamples);

        for (int trial = 0; trial < 5; trial++)
        {
            // act: another arrival order, summed on three "nodes" whose partial sums are then added
            var rng = new Rng((ulong)(100 + trial));
            var order = rng.Permutation(updates.Length);
            var nodes = new[] { new ExactSum(500), new ExactSum(500), new ExactSum(500) };
            foreach (var i in order) nodes[i % 3].Add(updates[i].Delta, updates[i].NumSamples);
            nodes[0].Add(nodes[1]);
            nodes[0].Add(nodes[2]);

            // assert
            Assert.Equal(inOrder.Mean().Values, nodes[0].Mean().Values);
        }
        // a plain double sum, by contrast, does depend on the order for such values (the reason for all this)
        double Forward(int i) => updates.Sum(u => (double)u.Delta.Values[i] * u.NumSamples);
        double Backward(int i) => updates.Reverse().Sum(u => (double)u.Delta.Values[i] * u.NumSamples);
        Assert.Contains(Enumerable.Range(0, 500), i => Forward(i) != Backward(i));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)] // not a multiple of any SIMD width: the scalar tail is used too
    [InlineData(1000)]
    public void The_SIMD_sum_should_hold_the_same_integers_as_a_scalar_128_bit_sum(int length)
    {
        // arrange: values of both signs over many magnitudes, so lower words wrap and carry often
        var updates = Updates(60, length, 4);
        var reference = new Int128[length];
        foreach (var u in updates)
            for (int i = 0; i < length; i++) reference[i] += ExactSum.Fixed((double)u.Delta.Values[i] * u.NumSamples);

        // act
        var sum = new ExactSum(length);
        foreach (var u in updates) sum.Add(u.Delta, u.NumSamples);

        // assert: the mean of the reference integers, computed the same way, bit for bit
        double total = updates.Sum(u => (double)u.NumSamples);
        var expected = reference.Select(x => (float)(((double)(long)(x >> 64) + (double)(ulong)x * (1.0 / 18446744073709551616.0)) / total)).ToArray();
        Assert.Equal(expected, sum.Mean().Values);
    }

    [Fact]
    public void The_mean_should_be_the_weighted_mean_to_float_precision()
    {
        var updates = Updates(25, 300, 2);
        var sum = new ExactSum(300);
        foreach (var u in updates) sum.Add(u.Delta, u.NumSamples);
        var mean = sum.Mean().Values;
        double total = updates.Sum(u => (double)u.NumSamples);
        for (int i = 0; i < 300; i++)
        {
            // reference in decimal (28 digits), far more precise than any double order
            decimal exact = updates.Sum(u => (decimal)(double)u.Delta.Values[i] * u.NumSamples) / (decimal)total; // (decimal)float keeps 7 digits only
            Assert.Equal((double)exact, mean[i], Math.Max(Math.Abs((double)exact) * 1e-6, 1e-12));
        }
        Assert.Equal((long)total, sum.TotalWeight);
    }

    [Fact]
    public void FedAvg_on_the_whole_list_should_equal_its_streamed_sum_bit_for_bit()
    {
        var updates = Updates(30, 400, 3);
        var rule = new FedAvg();
        var batch = rule.Aggregate(new RoundContext(1, new ParameterVector(new float[400]), 30), updates);
        var sum = new ExactSum(400);
        foreach (var u in updates.Reverse()) sum.Add(u.Delta, u.NumSamples);
        Assert.Equal(batch.Delta.Values, rule.Finish(sum).Values);
        Assert.True(rule.Streams);
        Assert.False(new FedAvg(FedAvg.Ordered).Streams);
    }

    [Fact]
    public void A_term_too_large_to_sum_should_be_refused_and_a_streamed_round_should_keep_no_vector()
    {
        var huge = new ClientUpdate(1, new ParameterVector([1f, 1e15f]), 1000, 0);
        Assert.NotNull(ExactSum.Problem(huge.Delta, huge.NumSamples));
        Assert.Throws<ArgumentException>(() => new ExactSum(2).Add(huge.Delta, huge.NumSamples));
        Assert.Contains("beyond what a sum of updates can hold", RoundState.Problem(huge, 2, summable: true));
        Assert.Null(RoundState.Problem(huge, 2)); // a rule that keeps updates (median…) may take it

        var state = RoundState.Start(1, [1, 2]).OnUpdate(new ClientUpdate(2, new ParameterVector([1f, 2f]), 10, 0.3), 2, 1, 1, summable: true, keepVector: false);
        Assert.Equal(0, state.Updates[2].Delta.Length);
        Assert.Equal(10, state.Updates[2].NumSamples);
        Assert.Equal(DropReason.Rejected, state.OnUpdate(huge, 2, 1, 1, summable: true, keepVector: false).Dropped[1]);
    }

    [Fact]
    public void Adding_updates_of_the_MLP_should_sum_their_weights_and_print_the_time_each_took()
    {
        // a measurement printed for the record (no timing assertion: machines are shared and noisy)
        var sum = new ExactSum(199_210);
        var delta = Updates(1, 199_210, 4)[0].Delta;
        for (int i = 0; i < 3; i++) sum.Add(delta, 20); // warm up
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 50; i++) sum.Add(delta, 20);
        output.WriteLine($"ExactSum.Add, 199,210 floats: {clock.Elapsed.TotalMilliseconds / 50:0.000} ms");

        Assert.Equal(53 * 20, sum.TotalWeight);
    }
}
