using Akka.Actor;
using Akka.TestKit.Xunit2;
using FedActors.Core.Faults;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Actors;

/// <summary>What faults do to the actors that meet them: a crashed client, a colluder that comes late.</summary>
[Collection("Node")]
public class FaultSpecs() : TestKit(LocalSpecConfig.Config)
{
    private static readonly PersonalState Trained = new(1, new Dictionary<string, float[]> { ["model"] = [0.25f, -1.5f, 3f] });

    private static readonly ClientFault Crash = ClientFault.None with { Crash = true };

    /// <summary>Hosts a client entity under the default supervisor, as a shard does: an exception restarts it.</summary>
    private sealed class Parent : ReceiveActor
    {
        public Parent(Props child)
        {
            var client = Context.ActorOf(child, "client");
            ReceiveAny(m => client.Forward(m));
        }
    }

    [Fact]
    public void A_crashed_client_should_report_a_failure_lose_its_memory_and_come_back_with_its_stored_state()
    {
        // arrange: a FedALA client trains round 1 and keeps what its worker returned
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0).WithPersonalisation("fedala"));
        var store = new InMemoryClientStateStore();
        var worker = CreateTestProbe();
        var client = Sys.ActorOf(Props.Create(() => new Parent(ClientEntity.Props(2, e, worker, store, CreateTestProbe(), null, null))));
        client.Tell(new StartTraining(2, 1, TestActor));
        var task = worker.ExpectMsg<PersonalTask>();
        task.ReplyTo.Tell(new PersonalTaskDone(2, 1, PersonalWork.Train, Trained, null, new TrainOutcome(new ParameterVector([1f]), 10, 0.5, 1), null, 10, 1));
        ExpectMsg<UpdateSubmitted>();
        var before = store.Load(2)!;

        // act: a crash fault in round 2, then the client is asked to train in round 3
        client.Tell(new StartTraining(2, 2, TestActor, Crash));
        var failed = ExpectMsg<ClientDropped>();
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // round 2 started no work
        client.Tell(new StartTraining(2, 3, TestActor));

        // assert: round 2 failed (counted as injected), and the restarted entity trains on exactly the stored state
        Assert.Equal((2, DropReason.Failed, true), (failed.Round, failed.Reason, failed.Injected));
        var again = worker.ExpectMsg<PersonalTask>();
        Assert.Equal((PersonalWork.Train, 3), (again.Work, again.Round));
        Assert.True(before.Personal!.SameAs(again.State));
        Assert.True(Trained.SameAs(again.State));
        Assert.Equal(before.RoundsTrained, store.Load(2)!.RoundsTrained);
    }

    [Fact]
    public void A_dropped_straggling_or_update_losing_client_should_do_what_its_fault_says()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(dropout: 0));
        var worker = CreateTestProbe();
        var client = Sys.ActorOf(ClientEntity.Props(1, e, worker, new InMemoryClientStateStore(), CreateTestProbe()));

        // drop: no work, dropped out, counted as a fault
        client.Tell(new StartTraining(1, 1, TestActor, ClientFault.None with { Drop = true }));
        var dropped = ExpectMsg<ClientDropped>();
        Assert.Equal((DropReason.DroppedOut, true), (dropped.Reason, dropped.Injected));
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        // straggle past a deadline set by the plan: misses the deadline
        double usual = e.Participation(1, 2).SimSeconds;
        client.Tell(new StartTraining(1, 2, TestActor, ClientFault.None with { StraggleSeconds = 1000, DeadlineSeconds = usual + 1 }));
        Assert.Equal(DropReason.MissedDeadline, ExpectMsg<ClientDropped>().Reason);

        // lose the update: it trains, and nothing arrives
        client.Tell(new StartTraining(1, 3, TestActor, ClientFault.None with { LoseUpdate = true }));
        var t = worker.ExpectMsg<TrainTask>();
        t.ReplyTo.Tell(new TrainDone(1, 3, new ParameterVector([1f]), 10, 0.1, 1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_colluder_whose_honest_update_comes_after_the_crafting_should_get_it_back_at_once()
    {
        // arrange: an experiment whose malicious clients collude (LIE); two of them selected in round 1
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 10, perRound: 10).WithAttack("lie", fraction: 0.3));
        var colluders = Enumerable.Range(0, 10).Where(e.Collusion.IsMalicious).ToArray();
        Assert.True(colluders.Length >= 2);
        var adversary = Sys.ActorOf(Adversary.Props(e, CreateTestProbe()));
        var early = CreateTestProbe();
        var late = CreateTestProbe();
        var global = new ParameterVector(new float[4]);
        adversary.Tell(new AdversaryRoundStarted(1, [.. Enumerable.Range(0, 10)], global));

        // act: every benign client and one colluder are missing or answer; the coordinator reports the late one missing
        adversary.Tell(new HonestUpdate(colluders[0], 1, new ParameterVector([1f, 1f, 1f, 1f]), 10, 0.1, true, early.Ref));
        adversary.Tell(new ClientsMissing(1, [.. Enumerable.Range(0, 10).Where(id => id != colluders[0])]));
        var crafted = early.ExpectMsg<PoisonedUpdate>(TimeSpan.FromSeconds(5));
        adversary.Tell(new HonestUpdate(colluders[1], 1, new ParameterVector([2f, 2f, 2f, 2f]), 10, 0.1, true, late.Ref));

        // assert: crafting did not wait for the safety timeout, and the late colluder submits its own update at once
        Assert.Equal(1, crafted.Round);
        var back = late.ExpectMsg<PoisonedUpdate>(TimeSpan.FromSeconds(2));
        Assert.Equal([2f, 2f, 2f, 2f], back.Delta.Values);
    }
}
