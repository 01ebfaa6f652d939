using Akka.Actor;
using Akka.TestKit.Xunit2;
using FedActors.Core.Personalisation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Actors;

[Collection("Node")]
public class ClientStateSpecs() : TestKit(LocalSpecConfig.Config)
{
    [Fact]
    public void The_SQLite_store_should_keep_state_across_store_instances()
    {
        var path = Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db");
        new SqliteClientStateStore(path).Save(new ClientState(4, 3, 17));
        new SqliteClientStateStore(path).Save(new ClientState(4, 4, 18)); // upsert
        var reopened = new SqliteClientStateStore(path);
        Assert.Equal(new ClientState(4, 4, 18), reopened.Load(4));
        Assert.Null(reopened.Load(5));
    }

    [Fact]
    public void A_client_stopped_and_started_again_should_continue_with_the_same_state()
    {
        // arrange: a client trains one round, then its entity stops (as passivation does)
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var store = new SqliteClientStateStore(Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db"));
        var worker = CreateTestProbe();
        var first = Sys.ActorOf(ClientEntity.Props(2, e, worker, store, CreateTestProbe()));
        first.Tell(new StartTraining(2, 1, TestActor));
        worker.ExpectMsg<TrainTask>().ReplyTo.Tell(new TrainDone(2, 1, new ParameterVector([1f]), 10, 0.5, 1));
        ExpectMsg<UpdateSubmitted>();
        Watch(first);
        first.Tell(PoisonPill.Instance);
        ExpectTerminated(first);

        // act: the entity comes back and trains round 5
        var second = Sys.ActorOf(ClientEntity.Props(2, e, worker, store, CreateTestProbe()));
        second.Tell(new StartTraining(2, 5, TestActor));
        worker.ExpectMsg<TrainTask>().ReplyTo.Tell(new TrainDone(2, 5, new ParameterVector([1f]), 10, 0.5, 1));
        ExpectMsg<UpdateSubmitted>();

        // assert: it continued from the stored state
        AwaitAssert(() => Assert.Equal(new ClientState(2, 2, 5, Version: 5), store.Load(2)));
    }

    private static readonly PersonalState Trained = new(1, new Dictionary<string, float[]>
    {
        [FedAlaMethod.LocalPart] = [1f, 2f, 3f], [FedAlaMethod.WeightsPart] = [0.25f],
    });

    [Fact]
    public void The_SQLite_store_should_keep_personal_state_bit_for_bit()
    {
        var path = Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db");
        new SqliteClientStateStore(path).Save(new ClientState(3, 1, 1, Trained));
        var back = new SqliteClientStateStore(path).Load(3)!;
        Assert.True(Trained.SameAs(back.Personal!));
        new SqliteClientStateStore(path).Save(new ClientState(3, 2, 2)); // no personal state: the blob is cleared
        Assert.Null(new SqliteClientStateStore(path).Load(3)!.Personal);
    }

    [Fact]
    public void Personal_tasks_should_cross_a_process_boundary_through_Hyperion()
    {
        var hyperion = new Akka.Serialization.HyperionSerializer((ExtendedActorSystem)Sys);
        var task = new PersonalTask(2, 5, PersonalWork.Train, Trained, TestActor);
        var back = (PersonalTask)hyperion.FromBinary(hyperion.ToBinary(task), typeof(PersonalTask));
        Assert.True(Trained.SameAs(back.State));
        Assert.Equal((2, 5, PersonalWork.Train), (back.ClientId, back.Round, back.Work));
    }

    [Fact]
    public void A_personalised_client_stopped_and_started_again_should_continue_with_the_same_personal_state()
    {
        // arrange: a FedALA client trains round 1 and keeps what its worker returned; then its entity stops
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0).WithPersonalisation("fedala"));
        var store = new SqliteClientStateStore(Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db"));
        var worker = CreateTestProbe();
        var first = Sys.ActorOf(ClientEntity.Props(2, e, worker, store, CreateTestProbe()));
        first.Tell(new StartTraining(2, 1, TestActor));
        var task = worker.ExpectMsg<PersonalTask>();
        Assert.Equal((PersonalWork.Train, 1), (task.Work, task.Round));
        Assert.True(PersonalState.Empty.SameAs(task.State));
        task.ReplyTo.Tell(new PersonalTaskDone(2, 1, PersonalWork.Train, Trained, null, new TrainOutcome(new ParameterVector([1f]), 10, 0.5, 1), null, 10, 1));
        ExpectMsg<UpdateSubmitted>();
        Watch(first);
        first.Tell(PoisonPill.Instance);
        ExpectTerminated(first);

        // act: the entity comes back and is evaluated after round 1 (on the model of round 2)
        var second = Sys.ActorOf(ClientEntity.Props(2, e, worker, store, CreateTestProbe()));
        second.Tell(new EvaluateClient(2, 1, TestActor));

        // assert: its task carries exactly the personal state it had
        var again = worker.ExpectMsg<PersonalTask>();
        Assert.Equal((PersonalWork.Evaluate, 2), (again.Work, again.Round));
        Assert.True(Trained.SameAs(again.State));
        again.ReplyTo.Tell(new PersonalTaskDone(2, 2, PersonalWork.Evaluate, Trained with { ReceivedRound = 2 }, new EvalOutcome(3, 1, 4), null, null, 10, 1));
        Assert.Equal(new EvalOutcome(3, 1, 4), ExpectMsg<ClientEvaluated>().Outcome);
    }

    [Fact]
    public void A_personalised_client_should_run_one_task_at_a_time_and_keep_later_requests_waiting()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0).WithPersonalisation("local"));
        var worker = CreateTestProbe();
        var client = Sys.ActorOf(ClientEntity.Props(1, e, worker, new InMemoryClientStateStore(), CreateTestProbe()));
        client.Tell(new EvaluateClient(1, 1, TestActor));
        client.Tell(new StartTraining(1, 2, TestActor));
        var evaluate = worker.ExpectMsg<PersonalTask>();
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // training waits for the evaluation's state
        evaluate.ReplyTo.Tell(new PersonalTaskDone(1, 2, PersonalWork.Evaluate, Trained, new EvalOutcome(1, 0, 1), null, null, 10, 1));
        ExpectMsg<ClientEvaluated>();
        var train = worker.ExpectMsg<PersonalTask>();
        Assert.Equal(PersonalWork.Train, train.Work);
        Assert.True(Trained.SameAs(train.State));
    }

    [Fact]
    public void An_idle_client_should_passivate_but_never_while_its_worker_has_its_task()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var shard = CreateTestProbe();
        var worker = CreateTestProbe();
        var client = shard.ChildActorOf(ClientEntity.Props(2, e, worker, new InMemoryClientStateStore(), CreateTestProbe(), TimeSpan.FromMilliseconds(500),
            region: CreateTestProbe()));

        // a task is on the worker for three times the idle time: the client must stay, or the reply would be lost
        client.Tell(new StartTraining(2, 1, TestActor));
        var task = worker.ExpectMsg<TrainTask>();
        shard.ExpectNoMsg(TimeSpan.FromMilliseconds(1500));

        // the reply comes back to the same incarnation, the update goes out, and then the idle client passivates
        task.ReplyTo.Tell(new TrainDone(2, 1, new ParameterVector([1f]), 10, 0.5, 1));
        ExpectMsg<UpdateSubmitted>();
        shard.ExpectMsg<Akka.Cluster.Sharding.Passivate>(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void A_request_that_arrives_after_the_client_asked_to_stop_should_go_back_through_the_region()
    {
        // arrange: an idle client asks its shard to passivate it; the shard's stop message has not come yet
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var shard = CreateTestProbe();
        var worker = CreateTestProbe();
        var region = CreateTestProbe();
        var client = shard.ChildActorOf(ClientEntity.Props(2, e, worker, new InMemoryClientStateStore(), CreateTestProbe(),
            TimeSpan.FromMilliseconds(100), region));
        shard.ExpectMsg<Akka.Cluster.Sharding.Passivate>(TimeSpan.FromSeconds(3));

        // act: a request already on its way reaches this incarnation
        client.Tell(new StartTraining(2, 1, TestActor));

        // assert: it starts no work whose reply would be lost, and goes back to the region for the next incarnation
        Assert.Equal(1, region.ExpectMsg<StartTraining>().Round);
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}

/// <summary>Model-sized messages cross processes compactly: <see cref="PayloadSerializer"/> writes a vector as one block, so an update of the
/// largest model (FedAvgCNN, 582,026 parameters, 2.3 MB) is 4 bytes a parameter plus a few bytes, well within remoting's
/// 64 MiB frame.</summary>
[Collection("Node")]
public class PayloadSpecs() : TestKit(LocalSpecConfig.Config)
{
    [Fact]
    public void An_update_of_the_largest_model_should_serialise_to_four_bytes_a_parameter_as_one_block()
    {
        var values = new float[582_026];
        new Random(1).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        var message = new UpdateSubmitted(17, 3, new ParameterVector(values), 40, 0.5, 2.5, 120);
        var serializer = Assert.IsType<PayloadSerializer>(Sys.Serialization.FindSerializerFor(message));
        var hyperion = Sys.Serialization.FindSerializerForType(typeof(RegisterWorker));
        Assert.IsType<Akka.Serialization.HyperionSerializer>(hyperion);

        static (byte[] Bytes, object Back, double Ms) Trip(Akka.Serialization.Serializer s, object m)
        {
            var best = double.MaxValue;
            (byte[] Bytes, object Back) last = ([], new object());
            for (int i = 0; i < 5; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var bytes = s.ToBinary(m);
                var back = s is Akka.Serialization.SerializerWithStringManifest sm
                    ? sm.FromBinary(bytes, sm.Manifest(m)) : s.FromBinary(bytes, m.GetType());
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
                last = (bytes, back);
            }
            return (last.Bytes, last.Back, best);
        }

        var (bytes, back, ms) = Trip(serializer, message);
        var (hBytes, _, hMs) = Trip(hyperion, message);
        Assert.Equal(4 * values.Length + 4 * 4 + 3 * 8, bytes.Length);
        var update = (UpdateSubmitted)back;
        Assert.True(values.AsSpan().SequenceEqual(update.Delta.Values));
        Assert.Equal(message with { Delta = update.Delta }, update);
        int frame = (int)Sys.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size")!.Value;
        Assert.True(bytes.Length < frame / 16, $"{bytes.Length} bytes against a frame of {frame}");
        Assert.True(bytes.Length < hBytes.Length, $"{bytes.Length} vs Hyperion {hBytes.Length}");
        Assert.Equal(bytes.Length, ((PayloadSerializer)serializer).BytesWritten / 5);
        Console.WriteLine($"UpdateSubmitted, 582,026 floats: {bytes.Length} bytes, best round trip {ms:0.00} ms; Hyperion {hBytes.Length} bytes, {hMs:0.00} ms");
    }

    [Fact]
    public void Every_payload_message_should_come_back_equal_with_its_actor_references()
    {
        var v = new ParameterVector([1f, -2.5f, float.Epsilon, 3e38f]);
        object[] messages =
        [
            new GlobalModel(4, v, [0.5f, 7f]),
            new GlobalModel(4, v),
            new HonestUpdate(3, 2, v, 12, 0.25, true, TestActor),
            new PoisonedUpdate(3, 2, v),
            new EvaluateModel(9, v, TestActor),
            new RunFinished(10, v),
        ];
        foreach (var m in messages)
        {
            var s = Assert.IsType<PayloadSerializer>(Sys.Serialization.FindSerializerFor(m));
            var back = s.FromBinary(s.ToBinary(m), s.Manifest(m));
            Assert.Equal(m.GetType(), back.GetType());
            // records compare vectors by reference: compare a description that holds the vectors' values
            Assert.Equal(Describe(m), Describe(back));
        }
        // a truncated or padded message is refused, not read past its end
        var ok = Sys.Serialization.FindSerializerFor(messages[0]);
        var bytes = ok.ToBinary(messages[0]);
        // (a SerializationException saying so: an IndexOutOfRangeException would be the read past the end itself)
        var truncated = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => ((PayloadSerializer)ok).FromBinary(bytes[..^3], "G"));
        Assert.True(truncated.Message.Contains("truncated") || truncated.Message.Contains("does not fit"), truncated.Message);
        Assert.Contains("1 bytes left over", Assert.Throws<System.Runtime.Serialization.SerializationException>(() => ((PayloadSerializer)ok).FromBinary([.. bytes, 0], "G")).Message);
        Assert.Contains("unknown payload manifest \"X\"", Assert.Throws<System.Runtime.Serialization.SerializationException>(() => ((PayloadSerializer)ok).FromBinary(bytes, "X")).Message);
    }

    private static string Describe(object m) => m switch
    {
        GlobalModel g => $"G {g.Round} {string.Join(' ', g.Weights.Values)} | {(g.Extra is null ? "null" : string.Join(' ', g.Extra))}",
        HonestUpdate h => $"H {h.ClientId} {h.Round} {string.Join(' ', h.Delta.Values)} {h.NumSamples} {h.TrainLoss} {h.Malicious} {h.Client.Path}",
        PoisonedUpdate p => $"P {p.ClientId} {p.Round} {string.Join(' ', p.Delta.Values)}",
        EvaluateModel e => $"E {e.Round} {string.Join(' ', e.Weights.Values)} {e.ReplyTo.Path}",
        RunFinished r => $"R {r.Rounds} {string.Join(' ', r.FinalModel.Values)}",
        _ => throw new ArgumentException(m.GetType().Name),
    };
}
