using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Simulation;

/// <summary>A round with nothing the rule can aggregate keeps the global model, and says why (it used to do so silently:
/// a run whose dropouts kept every round under Multi-Krum's n &gt; 2f + 2 showed only a flat accuracy).</summary>
[Collection("Torch")]
public class NotAggregatedTests
{
    private static readonly ParameterVector Global = new([1f, 2f, 3f]);

    private static ClientUpdate[] Updates(int n) =>
        [.. Enumerable.Range(0, n).Select(id => new ClientUpdate(id, new ParameterVector([id, 0f, 0f]), 10, 0.5))];

    [Fact]
    public void The_server_step_should_say_why_it_kept_the_model_and_nothing_when_it_aggregated()
    {
        var krum = new MultiKrum(new MultiKrumOptions(2, CheckPrecondition: false));

        var (kept, none, why) = ServerStep.Apply(krum, Global, 1, 6, Updates(6));
        Assert.Same(Global, kept);
        Assert.Null(none);
        Assert.Equal("multi-krum: would select m = n − 2f − 2 = 0 of n = 6 updates (f = 2)", why);

        // n = 7 > 6: one update picked (m = n − 2f − 2 = 1), the model moves
        var (moved, result, because) = ServerStep.Apply(krum, Global, 1, 7, Updates(7));
        Assert.Null(because);
        Assert.Single(result!.Accepted);
        Assert.NotEqual(Global.Values, moved.Values);

        Assert.Equal(ServerStep.NoUpdate, ServerStep.Apply(new FedAvg(), Global, 1, 6, []).NotAggregated);
        // with its precondition checked (the default) Multi-Krum names itself, not Krum
        Assert.Equal("multi-krum: needs n > 2f + 2, got n = 4, f = 2",
            ServerStep.Apply(new MultiKrum(new MultiKrumOptions(2)), Global, 1, 6, Updates(4)).NotAggregated);
    }

    [Fact]
    public void A_run_whose_rounds_are_too_small_for_its_rule_should_report_each_round_that_kept_the_model()
    {
        // 6 clients a round, Multi-Krum with f = 2 (its check at start switched off): no round can aggregate
        var settings = TestExperiments.Synthetic(rounds: 2, clients: 6, perRound: 6)
            .WithRule("multi-krum", new Dictionary<string, object> { ["f"] = 2, ["check-precondition"] = false });
        using var e = TestExperiments.Load(settings);
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);

        var rounds = new PlainSimulation(e, pool).Run().ToList();

        Assert.All(rounds, r => Assert.Equal("multi-krum: would select m = n − 2f − 2 = 0 of n = 6 updates (f = 2)", r.NotAggregated));
        Assert.Equal(rounds[0].Accuracy, rounds[1].Accuracy); // the model never moved
        // the same run with FedAvg aggregates every round
        using var f = TestExperiments.Load(TestExperiments.Synthetic(rounds: 2, clients: 6, perRound: 6));
        Assert.All(new PlainSimulation(f, pool).Run(), r => Assert.Null(r.NotAggregated));
    }
}
