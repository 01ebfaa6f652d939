using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

public class PersonalStateTests
{
    [Fact]
    public void Bytes_should_round_trip_every_part_bit_for_bit()
    {
        var s = new PersonalState(7, new Dictionary<string, float[]>
        {
            ["head"] = [1.5f, -0f, float.Epsilon, 3e38f],
            ["v"] = [],
            ["local"] = Enumerable.Range(0, 1000).Select(i => i / 7f).ToArray(),
        });
        var back = PersonalState.FromBytes(s.ToBytes());
        Assert.True(s.SameAs(back));
        Assert.Equal(7, back.ReceivedRound);
        Assert.False(s.SameAs(s.With("v", [1f])));
    }

    [Fact]
    public void A_truncated_or_unknown_blob_should_be_refused()
    {
        var bytes = PersonalState.Empty.With("head", [1f, 2f]).ToBytes();
        Assert.Throws<InvalidDataException>(() => PersonalState.FromBytes(bytes[..^3]));
        bytes[0] = 9;
        Assert.Throws<InvalidDataException>(() => PersonalState.FromBytes(bytes));
    }

    [Fact]
    public void The_round_accuracy_should_be_pooled_and_the_spread_per_client()
    {
        // client 0: 9/10, client 1: 1/2, client 2: 30/40 → pooled 40/52; per client 0.5, 0.75, 0.9
        var e = ClientEvaluation.Of(new Dictionary<int, EvalOutcome>
        {
            [2] = new(30, 3, 40), [0] = new(9, 1, 10), [1] = new(1, 1, 2),
        });
        Assert.Equal(40.0 / 52, e.Pooled.Accuracy, 12);
        Assert.Equal(3, e.Clients);
        Assert.Equal((0.5, 0.75, 0.9), (e.Min, e.Median, e.Max));
        // an even count takes the middle pair's mean
        var even = ClientEvaluation.Of(new Dictionary<int, EvalOutcome> { [0] = new(1, 0, 4), [1] = new(3, 0, 4) });
        Assert.Equal(0.5, even.Median, 12);
    }

    [Fact]
    public void A_sampled_evaluation_should_draw_a_seeded_subset_per_round()
    {
        Assert.Equal(Enumerable.Range(0, 20), ClientEvaluation.Pick(1, 3, 20, 0));
        var a = ClientEvaluation.Pick(1, 3, 1000, 50);
        Assert.Equal(50, a.Distinct().Count());
        Assert.Equal(a, ClientEvaluation.Pick(1, 3, 1000, 50));
        Assert.NotEqual(a, ClientEvaluation.Pick(1, 4, 1000, 50));
        // not the round's training sample
        Assert.NotEqual(a, ClientSampler.Sample(1, 3, 1000, 50));
    }
}
