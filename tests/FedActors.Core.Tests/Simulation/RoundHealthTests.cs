using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Simulation;

public class RoundHealthTests
{
    private static readonly ParameterVector Finite = new([1f, 2f, 3f]);

    private static RoundState Round(int accepted, int rejected)
    {
        var s = RoundState.Start(4, Enumerable.Range(0, accepted + rejected));
        for (int id = 0; id < accepted; id++) s = s.OnUpdate(new ClientUpdate(id, Finite, 10, 0.5), 3, 1, 1);
        for (int id = accepted; id < accepted + rejected; id++) s = s.OnUpdate(new ClientUpdate(id, new ParameterVector([float.NaN, 0, 0]), 10, 0.5), 3, 1, 1);
        return s;
    }

    [Fact]
    public void A_round_with_most_updates_rejected_should_fail_and_say_how_many()
    {
        // 6 of 10 rejected > 0.5
        var problem = RoundHealth.AfterAggregation(Round(4, 6), Finite, HealthSettings.Default);
        Assert.NotNull(problem);
        Assert.Contains("6 of the 10 updates", problem);
        Assert.Contains("round 4", problem);
    }

    [Theory]
    [InlineData(5, 5, 0.5)]  // exactly half: not more than half
    [InlineData(10, 0, 0.0)] // none rejected passes even with a zero tolerance
    [InlineData(0, 3, 1.0)]  // 1 = never for rejections
    public void Rejections_within_the_tolerance_should_pass(int accepted, int rejected, double tolerance) =>
        Assert.Null(RoundHealth.AfterAggregation(Round(accepted, rejected), Finite, new HealthSettings(tolerance)));

    [Fact]
    public void A_round_in_which_every_client_failed_should_fail_unless_a_fault_made_them()
    {
        // 3 failed, 2 timed out, no update: something is broken
        var s = RoundState.Start(2, Enumerable.Range(0, 5));
        for (int id = 0; id < 3; id++) s = s.OnDropped(id, DropReason.Failed, 0);
        s = s.OnTimeout();
        var problem = RoundHealth.AfterAggregation(s, Finite, HealthSettings.Default);
        Assert.NotNull(problem);
        Assert.Contains("no update arrived in round 2: 3 client(s) failed and 2 timed out", problem);
        // the same round made by a crash fault (3) and lost messages (2) is what the user asked for
        Assert.Null(RoundHealth.AfterAggregation(s, Finite, HealthSettings.Default, new Core.Faults.FaultCounts(Crashed: 3, LostMessages: 2)));
        // simulated dropouts alone are not a failure either
        var dropped = RoundState.Start(2, [0, 1]).OnDropped(0, DropReason.DroppedOut, 1).OnDropped(1, DropReason.MissedDeadline, 1);
        Assert.Null(RoundHealth.AfterAggregation(dropped, Finite, HealthSettings.Default));
    }

    [Fact]
    public void A_rejected_update_should_say_which_check_it_failed()
    {
        Assert.Equal("2 values where the model has 3", RoundState.Problem(new ClientUpdate(1, new ParameterVector([1f, 2f]), 10, 0), 3));
        Assert.Equal("2 of its 3 values are NaN or infinite", RoundState.Problem(new ClientUpdate(1, new ParameterVector([float.NaN, 1f, float.PositiveInfinity]), 10, 0), 3));
        Assert.Equal("it claims 0 training samples", RoundState.Problem(new ClientUpdate(1, Finite, 0, 0), 3));
        Assert.Null(RoundState.Problem(new ClientUpdate(1, Finite, 10, 0), 3));
    }

    [Fact]
    public void A_non_finite_global_model_should_fail()
    {
        var problem = RoundHealth.AfterAggregation(Round(3, 0), new ParameterVector([1f, float.PositiveInfinity, float.NaN]), HealthSettings.Default);
        Assert.Contains("non-finite values (2 of 3)", problem);
    }

    [Fact]
    public void A_non_finite_evaluation_loss_should_fail_but_a_round_not_evaluated_should_not()
    {
        Assert.Contains("round 2", RoundHealth.AfterEvaluation(2, 0.4, double.NaN));
        Assert.NotNull(RoundHealth.AfterEvaluation(2, 0.4, double.PositiveInfinity));
        Assert.Null(RoundHealth.AfterEvaluation(2, double.NaN, double.NaN));
        Assert.Null(RoundHealth.AfterEvaluation(2, 0.4, 1.2));
    }
}

/// <summary>Real diverging runs (learning rate 1e30) in the plain loop.</summary>
[Collection("Torch")]
public class DivergingRunTests
{
    private static Config.ExperimentSettings Diverging(string onFailure) =>
        TestExperiments.Synthetic(rounds: 3, clients: 6, perRound: 6) with
        {
            Train = new TrainOptions(1, 10, 1e30),
            Round = new Config.RoundSettings(0, TimeSpan.FromSeconds(30), 1, new HealthSettings(0.5, onFailure)),
        };

    [Fact]
    public void A_diverging_run_should_stop_at_round_1_after_reporting_it()
    {
        using var e = TestExperiments.Load(Diverging(HealthSettings.Stop));
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        var seen = new List<RoundSummary>();
        var error = Assert.Throws<RoundHealthException>(() => { foreach (var r in new PlainSimulation(e, pool).Run()) seen.Add(r); });
        Assert.Equal(1, error.Round);
        var round = Assert.Single(seen);
        Assert.False(round.Healthy);
        Assert.Equal(error.Problem, round.Health);
        // a diverging setting leaves the data as it was: the error says so
        Assert.EndsWith("; the dataset on this node is as loaded", error.Problem);
    }

    [Fact]
    public void A_run_whose_data_is_overwritten_in_memory_should_stop_and_say_the_data_changed()
    {
        // a sound setting; then every feature is overwritten with NaN bytes after loading, as memory corrupted under the run
        // would: every update comes back non-finite, the round fails, and the error names the data, not the setting
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 2, clients: 6, perRound: 6));
        e.Data.Features.bytes.Fill(0xFF);
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        var error = Assert.Throws<RoundHealthException>(() => new PlainSimulation(e, pool).Run().ToList());
        Assert.Equal(1, error.Round);
        Assert.Contains("rejected as non-finite", error.Problem);
        Assert.Contains("the dataset on this node CHANGED since it was loaded", error.Problem);
    }

    [Fact]
    public void With_keep_last_good_every_diverging_round_should_be_discarded_and_the_run_should_finish()
    {
        using var e = TestExperiments.Load(Diverging(HealthSettings.KeepLastGood));
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        var rounds = new PlainSimulation(e, pool).Run().ToList();
        Assert.Equal(3, rounds.Count);
        Assert.All(rounds, r => Assert.False(r.Healthy));
        // each round trained from the same (initial) model, so each diverged the same way
        Assert.Single(rounds.Select(r => r.Health!.Replace($"round {r.Round}", "round N")).Distinct());
    }
}
