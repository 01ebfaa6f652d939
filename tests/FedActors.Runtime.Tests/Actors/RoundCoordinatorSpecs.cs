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
    [Fact]
    public void Malformed_updates_should_be_rejected_counted_and_never_aggregated()
    {
        // arrange: a coordinator whose "clients" are this test, and a real worker that aggregates and evaluates
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 1, clients: 6, perRound: 4));
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var clients = CreateTestProbe();
        var (events, sink) = Support.Events();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(e, clients, worker, CreateTestProbe(), events));
        coordinator.Tell(new RegisterWorker(worker));
        var global = e.InitialWeights();

        // act: four selected clients answer with NaN, ∞, a short vector and one good update
        coordinator.Tell(new StartRun(TestActor));
        var starts = Enumerable.Range(0, 4).Select(_ => clients.ExpectMsg<StartTraining>()).OrderBy(s => s.ClientId).ToArray();
        var good = new float[global.Length];
        good[0] = 0.5f;
        float[] With(float v) { var x = new float[global.Length]; x[7] = v; return x; }
        var answers = new[] { With(float.NaN), With(float.PositiveInfinity), new float[global.Length - 1], good };
        for (int i = 0; i < 4; i++)
            coordinator.Tell(new UpdateSubmitted(starts[i].ClientId, 1, new ParameterVector(answers[i]), 10, 0.1, 1, 1));

        // assert
        var round = ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary;
        Assert.Equal((4, 1, 3), (round.Selected, round.Responded, round.Rejected));
        var final = ExpectMsg<RunFinished>().FinalModel;
        Assert.True(final.IsFinite());
        Assert.Equal(global.Values[0] + 0.5f, final.Values[0]); // only the good update moved the model
        Assert.Equal(global.Values[7], final.Values[7]);
        Assert.Equal(3, sink.Named("UpdateRejected").Count());
    }
}
