using Akka.Actor;
using Akka.TestKit.Xunit2;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Protocol;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Actors;

[Collection("Node")]
public class RoundCoordinatorSpecs() : TestKit(LocalSpecConfig.Config)
{
    /// <summary>A coordinator whose "clients" are this test, with a real worker that aggregates and evaluates; round 1's four
    /// selected clients answer with NaN, ∞, a short vector and one good update (0.5 in coordinate 0).</summary>
    private (Core.Simulation.Experiment E, TorchWorkerPool Pool, ParameterVector Global, InMemorySink Sink) RunRoundOfBadUpdates(
        Core.Simulation.HealthSettings health, int rounds = 1)
    {
        var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: rounds, clients: 6, perRound: 4) with
        {
            Round = new Core.Config.RoundSettings(0, TimeSpan.FromSeconds(30), 1, health),
        });
        var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var clients = CreateTestProbe();
        var (events, sink) = Support.Events();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(e, clients, worker, CreateTestProbe(), events));
        coordinator.Tell(new RegisterWorker(worker));
        var global = e.InitialWeights();
        coordinator.Tell(new StartRun(TestActor));
        for (int round = 1; round <= rounds; round++)
        {
            var starts = Enumerable.Range(0, 4).Select(_ => clients.ExpectMsg<StartTraining>(TimeSpan.FromSeconds(30))).OrderBy(s => s.ClientId).ToArray();
            var good = new float[global.Length];
            good[0] = 0.5f;
            float[] With(float v) { var x = new float[global.Length]; x[7] = v; return x; }
            var answers = new[] { With(float.NaN), With(float.PositiveInfinity), new float[global.Length - 1], good };
            for (int i = 0; i < 4; i++)
                coordinator.Tell(new UpdateSubmitted(starts[i].ClientId, round, new ParameterVector(answers[i]), 10, 0.1, 1, 1));
        }
        return (e, pool, global, sink);
    }

    [Fact]
    public void Malformed_updates_should_be_rejected_counted_and_never_aggregated()
    {
        // arrange / act: a tolerance of 1 lets a round with 3 of 4 updates rejected go on
        var (e, pool, global, sink) = RunRoundOfBadUpdates(new(MaxRejectedFraction: 1.0));
        using var _ = e;
        using var __ = pool;

        // assert
        var round = ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary;
        Assert.Equal((4, 1, 3), (round.Selected, round.Responded, round.Rejected));
        Assert.True(round.Healthy);
        var final = ExpectMsg<RunFinished>().FinalModel;
        Assert.True(final.IsFinite());
        Assert.Equal(global.Values[0] + 0.5f, final.Values[0]); // only the good update moved the model
        Assert.Equal(global.Values[7], final.Values[7]);
        Assert.Equal(3, sink.Named("UpdateRejected").Count());
    }

    [Fact]
    public void A_round_with_most_updates_rejected_should_stop_the_run_with_an_error_naming_the_round()
    {
        var (e, pool, _, sink) = RunRoundOfBadUpdates(Core.Simulation.HealthSettings.Default);
        using var _e = e;
        using var _p = pool;

        // the round is still reported (rounds.csv keeps the evidence), then the run fails
        var round = ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary;
        Assert.Contains("3 of the 4 updates that arrived in round 1 were rejected", round.Health);
        Assert.EndsWith("; the dataset on this node is as loaded", round.Health);
        var failed = ExpectMsg<RunFailed>();
        Assert.StartsWith("round 1 failed its health check: 3 of the 4 updates", failed.Reason);
        Assert.Single(sink.Named("RunAborted"));
    }

    [Fact]
    public void With_keep_last_good_a_failed_round_should_be_discarded_loudly_and_the_run_should_go_on_from_the_model_before_it()
    {
        var (e, pool, global, sink) = RunRoundOfBadUpdates(new(0.5, Core.Simulation.HealthSettings.KeepLastGood), rounds: 2);
        using var _e = e;
        using var _p = pool;

        var rounds = new[] { ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary, ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary };
        Assert.All(rounds, r => Assert.False(r.Healthy));
        Assert.Equal(global.Values, ExpectMsg<RunFinished>().FinalModel.Values); // neither round's 0.5 step was kept
        Assert.Equal([1, 2], sink.Named("RoundDiscarded").Select(ev => (int)InMemorySink.Scalar(ev, "Round")!).Order());
    }
}
