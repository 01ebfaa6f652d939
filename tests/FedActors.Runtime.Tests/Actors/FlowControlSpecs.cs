using Akka.Actor;
using Akka.TestKit.Xunit2;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.Protocol;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Actors;

/// <summary>Flow control: the coordinator has at most <c>round.max-in-flight</c> requests out, and it changes nothing
/// but when clients start.</summary>
[Collection("Node")]
public class FlowControlSpecs() : TestKit(LocalSpecConfig.Config)
{
    [Fact]
    public void The_window_should_let_out_its_size_and_one_more_for_each_answer_and_cut_only_asked_clients()
    {
        var w = new RequestWindow(2, [5, 1, 9, 3]);
        Assert.Equal([5, 1], w.Take());
        Assert.Empty(w.Take());
        Assert.True(w.Release(1));
        Assert.False(w.Release(1));
        Assert.Equal([9], w.Take());
        Assert.True(w.WasSent(9));
        Assert.False(w.WasSent(3));
        Assert.Equal((2, 1), (w.Out, w.Waiting));
    }

    [Fact]
    public void The_coordinator_should_keep_at_most_the_window_of_training_requests_out()
    {
        // arrange: 6 clients a round, a window of 2; this test plays the clients
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 1, clients: 10, perRound: 6) with
        {
            Round = new Core.Config.RoundSettings(0, TimeSpan.FromSeconds(30), 1, MaxInFlight: 2),
        });
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var clients = CreateTestProbe();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(e, clients, worker, CreateTestProbe(), Support.Events().Events));
        coordinator.Tell(new RegisterWorker(worker));

        // act + assert: two requests, no third until one is answered; each answer lets exactly one more out
        coordinator.Tell(new StartRun(TestActor));
        var first = clients.ExpectMsg<StartTraining>(TimeSpan.FromSeconds(10));
        var second = clients.ExpectMsg<StartTraining>();
        clients.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var delta = new ParameterVector(new float[e.InitialWeights().Length]);
        var answered = new List<int> { first.ClientId, second.ClientId };
        coordinator.Tell(new UpdateSubmitted(first.ClientId, 1, delta, 10, 0.1, 1, 1));
        for (int i = 0; i < 4; i++)
        {
            var next = clients.ExpectMsg<StartTraining>();
            clients.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
            answered.Add(next.ClientId);
            coordinator.Tell(new ClientDropped(answered[i + 1], 1, DropReason.DroppedOut, 1));
        }
        coordinator.Tell(new UpdateSubmitted(answered[^1], 1, delta, 10, 0.1, 1, 1));
        var round = ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(30)).Summary;
        Assert.Equal((6, 2, 4), (round.Selected, round.Responded, round.DroppedOut));
        Assert.Equal(ClientSampler.Sample(e.Seed, 1, 10, 6).Order(), answered.Order());
    }

    [Fact]
    public void A_late_answer_after_the_round_closed_should_change_nothing()
    {
        // arrange: 2 clients a round, a 300 ms safety timeout; this test plays the clients and the device worker
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 1, clients: 4, perRound: 2) with
        {
            Round = new Core.Config.RoundSettings(0, TimeSpan.FromMilliseconds(300), 1),
        });
        var clients = CreateTestProbe();
        var worker = CreateTestProbe();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(e, clients, worker, CreateTestProbe(), Support.Events().Events));
        coordinator.Tell(new RegisterWorker(worker));
        coordinator.Tell(new StartRun(TestActor));
        var first = clients.ExpectMsg<StartTraining>(TimeSpan.FromSeconds(10));
        var second = clients.ExpectMsg<StartTraining>();
        var delta = new ParameterVector(new float[e.InitialWeights().Length]);

        // act: one client answers, the other is given up on at the timeout; while the closed round's model is being
        // evaluated, the slow client's answer arrives after all
        coordinator.Tell(new UpdateSubmitted(first.ClientId, 1, delta, 10, 0.1, 1, 1));
        var evaluation = worker.FishForMessage<EvaluateModel>(_ => true, TimeSpan.FromSeconds(10));
        coordinator.Tell(new UpdateSubmitted(second.ClientId, 1, delta, 10, 0.1, 1, 1));

        // assert: the round is not closed (and aggregated) again: before, the coordinator sent the worker the streamed
        // round's updates, which keep no vector, and the worker's "length 0 ≠ N" failure ended the run
        var after = worker.ReceiveWhile(TimeSpan.FromMilliseconds(500), m => m);
        Assert.DoesNotContain(after, m => m is AggregateRound);
        coordinator.Tell(new EvaluationDone(1, new Core.Training.EvalOutcome(50, 100.0, 100), null));
        var round = ExpectMsg<RoundFinished>(TimeSpan.FromSeconds(10)).Summary;
        Assert.Equal((2, 1, 1), (round.Selected, round.Responded, round.TimedOut));
        Assert.Equal(0.5, round.Accuracy);
    }

    [Fact]
    public void A_preparation_answer_after_its_client_was_given_up_should_not_count()
    {
        // arrange: DBE's preparation over 4 clients, 2 requests out at a time, a 300 ms safety timeout; this test plays
        // the clients
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 1, clients: 4, perRound: 2).WithPersonalisation("dbe") with
        {
            Round = new Core.Config.RoundSettings(0, TimeSpan.FromMilliseconds(300), 1, MaxInFlight: 2),
        });
        var clients = CreateTestProbe();
        var worker = CreateTestProbe();
        var (events, sink) = Support.Events();
        var coordinator = Sys.ActorOf(RoundCoordinator.Props(e, clients, worker, CreateTestProbe(), events));
        coordinator.Tell(new RegisterWorker(worker));
        coordinator.Tell(new StartRun(TestActor));
        var contribution = new float[8]; // DBE's preparation answers are averaged: any length, the same for all
        Assert.Equal([0, 1], new[] { clients.ExpectMsg<PrepareClient>(TimeSpan.FromSeconds(10)).ClientId, clients.ExpectMsg<PrepareClient>().ClientId });

        // act: 0 answers (2 is asked); the timeout gives up 1 and 2 (3 is asked); then 1 answers after all
        coordinator.Tell(new ClientPrepared(0, 10, contribution));
        Assert.Equal(2, clients.ExpectMsg<PrepareClient>().ClientId);
        Assert.Equal(3, clients.ExpectMsg<PrepareClient>(TimeSpan.FromSeconds(5)).ClientId);
        coordinator.Tell(new ClientPrepared(1, 10, contribution));

        // assert: the preparation still waits for 3 (before, 1 was counted as answered and given up both, the count reached
        // 4 and round 1 started with 3 still out); once 3 answers it ends, having given up 1 and 2
        clients.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        coordinator.Tell(new ClientPrepared(3, 10, contribution));
        clients.FishForMessage(m => m is not PrepareClient, TimeSpan.FromSeconds(10)); // round 1's first request
        var timedOut = sink.Named("ClientsTimedOut").Single();
        Assert.Equal(0, (int)InMemorySink.Scalar(timedOut, "Round")!);
        Assert.Contains("1, 2", timedOut.RenderMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_task_held_for_a_model_version_the_worker_never_gets_should_be_answered()
    {
        // arrange: a worker on round 1's model holds a task of round 2
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 3, clients: 4, perRound: 2));
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        worker.Tell(new GlobalModel(1, e.InitialWeights()));
        worker.Tell(new TrainTask(3, 2, TestActor));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // act: round 2's model never comes; round 3's does
        worker.Tell(new GlobalModel(3, e.InitialWeights()));

        // assert: the held task fails (before, it was dropped without a word and its client waited for ever)
        var failed = ExpectMsg<TrainFailed>(TimeSpan.FromSeconds(5));
        Assert.Equal((3, 2), (failed.ClientId, failed.Round));
    }

    [Fact]
    public void Tasks_queued_for_a_batched_call_should_be_answered_when_the_worker_stops()
    {
        // arrange: batches of 4 and a long batch wait; one task of the current round waits in the queue
        var settings = TestExperiments.Synthetic(rounds: 3, clients: 4, perRound: 2);
        using var e = TestExperiments.Load(settings with { Device = settings.Device with { BatchClients = 4, BatchWait = TimeSpan.FromMinutes(1) } });
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        worker.Tell(new GlobalModel(1, e.InitialWeights()));
        worker.Tell(new TrainTask(3, 1, TestActor));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // act
        Sys.Stop(worker);

        // assert: the queued task fails (before, it went with the worker and its client waited for the round's timeout)
        var failed = ExpectMsg<TrainFailed>(TimeSpan.FromSeconds(5));
        Assert.Equal((3, 1), (failed.ClientId, failed.Round));
    }

    [Fact]
    public async Task A_narrow_window_should_give_the_same_rounds_as_a_wide_one()
    {
        // arrange: the same experiment with every request out at once, and one at a time (colluders included)
        var settings = TestExperiments.Synthetic(rounds: 3, clients: 12, perRound: 8).WithAttack("lie", fraction: 0.25);
        async Task<IReadOnlyList<RoundSummary>> Run(int window)
        {
            using var e = TestExperiments.Load(settings with { Round = settings.Round with { MaxInFlight = window } });
            return (await SimulationRunner.RunAsync(e, Support.NodeConfig(), Support.Events().Events)).Rounds.Select(r => r with { RoundMs = 0, ComputeMs = 0 }).ToArray();
        }

        // act
        var wide = await Run(256);
        var narrow = await Run(1);

        // assert
        Assert.Equal(wide, narrow);
        Assert.True(wide.Sum(r => r.Malicious) > 0);
    }

    [Fact]
    public async Task A_personalised_run_through_a_window_of_one_should_give_the_rounds_of_a_wide_one()
    {
        // arrange: DBE (a preparation call to every client) with every client evaluated each round
        var settings = TestPersonalisation.NonIid(rounds: 2).WithPersonalisation("dbe");
        async Task<IReadOnlyList<RoundSummary>> Run(int window)
        {
            using var e = TestPersonalisation.Load(settings with { Round = settings.Round with { MaxInFlight = window } });
            return (await SimulationRunner.RunAsync(e, Support.NodeConfig(), Support.Events().Events)).Rounds.Select(r => r with { RoundMs = 0, ComputeMs = 0 }).ToArray();
        }

        // act
        var wide = await Run(256);
        var narrow = await Run(1);

        // assert: the same rounds, every client evaluated
        Assert.Equal(wide, narrow);
        Assert.All(narrow, r => Assert.Equal(settings.Clients.Count, r.EvaluatedClients));
    }
}