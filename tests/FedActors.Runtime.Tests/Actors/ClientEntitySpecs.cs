using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.Settings;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Actors;

public static class LocalSpecConfig
{
    /// <summary>A local (non-cluster) actor system with our serializer bindings and every message serialised.</summary>
    public static readonly Config Config = ConfigurationFactory.ParseString("""
        akka.actor.provider = local
        akka.actor.serialize-messages = on
        akka.loglevel = WARNING
        """).WithFallback(FedActorsSettings.Reference);
}

[Collection("Node")]
public class ClientEntitySpecs() : TestKit(LocalSpecConfig.Config)
{
    [Fact]
    public void ClientEntity_should_report_dropout_when_its_seeded_draw_says_so()
    {
        // arrange: every client drops out
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 1.0));
        var worker = CreateTestProbe();
        var client = Sys.ActorOf(ClientEntity.Props(3, e, worker, new InMemoryClientStateStore(), CreateTestProbe()));
        // act
        client.Tell(new StartTraining(3, 1, TestActor));
        // assert
        var dropped = ExpectMsg<ClientDropped>();
        Assert.Equal((3, 1, DropReason.DroppedOut), (dropped.ClientId, dropped.Round, dropped.Reason));
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void ClientEntity_should_train_through_its_worker_submit_the_update_and_save_its_state()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var worker = CreateTestProbe();
        var store = new InMemoryClientStateStore();
        var client = Sys.ActorOf(ClientEntity.Props(2, e, worker, store, CreateTestProbe()));

        client.Tell(new StartTraining(2, 4, TestActor));
        var task = worker.ExpectMsg<TrainTask>();
        Assert.Equal((2, 4), (task.ClientId, task.Round));
        task.ReplyTo.Tell(new TrainDone(2, 4, new ParameterVector([1f, 2f]), 30, 0.7, 5));

        var update = ExpectMsg<UpdateSubmitted>();
        Assert.Equal([1f, 2f], update.Delta.Values);
        Assert.Equal(e.Participation(2, 4).SimSeconds, update.SimSeconds);
        AwaitAssert(() => Assert.Equal(new ClientState(2, 1, 4, Version: 4), store.Load(2)));
    }

    [Fact]
    public void ClientEntity_should_ignore_a_result_for_a_round_it_is_not_training()
    {
        // arrange: a client with a store, so a stray result that it wrongly took would show as a saved round
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var store = new InMemoryClientStateStore();
        var worker = CreateTestProbe();
        var client = Sys.ActorOf(ClientEntity.Props(1, e, worker, store, CreateTestProbe()));
        // act: a result for round 9, which it never started
        client.Tell(new TrainDone(1, 9, new ParameterVector([1f]), 1, 0, 0));
        // assert: nothing submitted or saved, and the client still works (a crashed entity would also stay silent)
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Null(store.Load(1));
        client.Tell(new StartTraining(1, 2, TestActor));
        var task = worker.ExpectMsg<TrainTask>();
        task.ReplyTo.Tell(new TrainDone(1, 2, new ParameterVector([2f]), 5, 0.1, 1));
        Assert.Equal(2, ExpectMsg<UpdateSubmitted>().Round);
        AwaitAssert(() => Assert.Equal(1, store.Load(1)!.RoundsTrained));
    }
}

[Collection("Node")]
public class DeviceWorkerSpecs() : TestKit(ConfigurationFactory.ParseString("""akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]""")
    .WithFallback(LocalSpecConfig.Config)) // the worker's log where EventFilter sees it
{
    [Fact]
    public async Task DeviceWorker_should_hold_a_task_until_its_rounds_model_arrives_then_train_it()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic());
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var global = e.InitialWeights();

        worker.Tell(new TrainTask(0, 1, TestActor));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        worker.Tell(new GlobalModel(1, global));

        var done = ExpectMsg<TrainDone>(TimeSpan.FromSeconds(20));
        // what it trained is client 0's round 1 from that model, bit for bit
        var direct = await pool.Run(slot => e.Train(slot, global, 0, 1));
        Assert.Equal(direct.Delta.Values, done.Delta.Values);
        Assert.Equal((e.TrainSamples(0), direct.MeanLoss), (done.NumSamples, done.TrainLoss));
    }

    [Fact]
    public void DeviceWorker_should_name_the_pool_slot_that_computed_a_non_finite_update_from_a_finite_model()
    {
        // arrange: a finite global model so large that a forward pass overflows (as a diverged run's); and a sound one
        using var e = TestExperiments.Load(TestExperiments.Synthetic());
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var soundWorker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var sound = e.InitialWeights();
        var huge = new ParameterVector([.. sound.Values.Select(_ => 1e30f)]);
        worker.Tell(new GlobalModel(1, huge));
        soundWorker.Tell(new GlobalModel(1, sound));

        // act / assert: the diverging update is answered as it is (the coordinator rejects it) and said to come from slot 0;
        // a sound one is not
        EventFilter.Warning(contains: "Pool slot 0 (thread torch-worker-0) computed a non-finite update from a finite global model, client 0, round 1")
            .ExpectOne(TimeSpan.FromSeconds(20), () => worker.Tell(new TrainTask(0, 1, TestActor)));
        Assert.False(ExpectMsg<TrainDone>(TimeSpan.FromSeconds(20)).Delta.IsFinite());
        EventFilter.Warning(contains: "non-finite").Expect(0, TimeSpan.FromSeconds(20), () =>
        {
            soundWorker.Tell(new TrainTask(0, 1, TestActor));
            Assert.True(ExpectMsg<TrainDone>(TimeSpan.FromSeconds(20)).Delta.IsFinite());
        });
    }

    [Fact]
    public void DeviceWorker_should_evaluate_client_by_client_to_the_same_result_as_the_evaluator()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic());
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        var w = e.InitialWeights();
        worker.Tell(new EvaluateModel(1, w, TestActor));
        var done = ExpectMsg<EvaluationDone>(TimeSpan.FromSeconds(20));
        var reference = new PlainSimulation(e, pool).Evaluate(w);
        Assert.Equal((reference.Correct, reference.LossSum, reference.Count), (done.Total.Correct, done.Total.LossSum, done.Total.Count));

        // the PFLlib protocol: the global model on each client's own test split, so the round has their spread
        var perClient = Enumerable.Range(0, e.Partition.NumClients)
            .Select(id => pool.Run(slot => Evaluator.Evaluate(slot.Model, w, e.Data, e.Partition.Clients[id].Test)).Result)
            .Select(o => o.Accuracy).Order().ToArray();
        Assert.Equal(e.Partition.NumClients, done.Clients!.Clients);
        Assert.Equal((perClient[0], perClient[^1]), (done.Clients.Min, done.Clients.Max));
    }

    [Fact]
    public void DeviceWorker_should_report_why_an_evaluation_chunk_failed()
    {
        // arrange: weights that do not fit the model make every chunk throw
        using var e = TestExperiments.Load(TestExperiments.Synthetic());
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var worker = Sys.ActorOf(DeviceWorker.Props(e, pool));
        // act
        worker.Tell(new EvaluateModel(4, new ParameterVector([1f, 2f, 3f]), TestActor));
        // assert: the cause, not "A task was canceled"
        var failed = ExpectMsg<EvaluationFailed>(TimeSpan.FromSeconds(20));
        Assert.Equal(4, failed.Round);
        Assert.Contains("vector of 3 values is shorter than the model", failed.Error);
    }
}
