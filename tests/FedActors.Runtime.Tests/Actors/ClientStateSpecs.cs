using Akka.Actor;
using Akka.TestKit.Xunit2;
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
        AwaitAssert(() => Assert.Equal(new ClientState(2, 2, 5), store.Load(2)));
    }
}
