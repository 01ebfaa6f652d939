using FedActors.Core.Faults;
using Xunit;

namespace FedActors.Core.Tests.Faults;

public class FaultScheduleTests
{
    private static FaultSchedule Schedule(params Fault[] faults) => new(faults, seed: 7, population: 1000);

    [Fact]
    public void A_fault_should_apply_from_its_round_for_its_rounds_and_set_should_last_to_the_end()
    {
        var drop = new Fault(FaultKinds.Drop, 3, Rounds: 2);
        var set = new Fault(FaultKinds.Set, 4, Key: FaultKinds.PerRoundKey, Value: "5");
        Assert.Equal([false, false, true, true, false], Enumerable.Range(1, 5).Select(drop.ActiveIn));
        Assert.Equal([false, false, false, true, true, true], Enumerable.Range(1, 6).Select(set.ActiveIn));
        Assert.Equal(2, drop.Duration);
        Assert.Equal(1, new Fault(FaultKinds.Drop, 3).Duration);
        Assert.Equal(0, set.Duration);
        var s = Schedule(set);
        Assert.Null(s.For(3).PerRound);
        Assert.Equal(5, s.For(4).PerRound);
        Assert.Equal(5, s.For(400).PerRound);
    }

    [Fact]
    public void The_share_of_clients_hit_should_follow_the_fraction_and_stay_the_same_clients_for_the_faults_rounds()
    {
        // arrange: 10 % of clients 0-999 crash in rounds 5-7
        var s = Schedule(new Fault(FaultKinds.Crash, 5, Rounds: 3, Fraction: 0.1));

        // act
        int[] Hit(int round) => Enumerable.Range(0, 1000).Where(id => s.For(round).Client(id).Crash).ToArray();

        // assert: about 100 (binomial sd 9.5), the same set in each round, none outside the rounds
        Assert.InRange(Hit(5).Length, 70, 130);
        Assert.Equal(Hit(5), Hit(6));
        Assert.Equal(Hit(5), Hit(7));
        Assert.Empty(Hit(4));
        Assert.Empty(Hit(8));
    }

    [Fact]
    public void Plans_should_be_a_pure_function_of_the_faults_and_the_seed()
    {
        Fault[] faults = [new(FaultKinds.Drop, 2, Clients: "0-499", Fraction: 0.3), new(FaultKinds.LoseMessages, 2, Fraction: 0.2, Messages: "updates")];
        var a = new FaultSchedule(faults, 7, 1000).For(2);
        var b = new FaultSchedule(faults, 7, 1000).For(2);
        var other = new FaultSchedule(faults, 8, 1000).For(2);
        var ids = Enumerable.Range(0, 1000).ToArray();
        Assert.Equal(ids.Select(a.Client), ids.Select(b.Client));
        Assert.NotEqual(ids.Select(a.Client), ids.Select(other.Client));
        Assert.All(ids.Where(id => id >= 500), id => Assert.False(a.Client(id).Drop));
        Assert.All(ids, id => Assert.False(a.Client(id).LoseTask)); // updates only
        Assert.InRange(ids.Count(id => a.Client(id).LoseUpdate), 150, 250);
    }

    [Fact]
    public void Lost_messages_should_be_drawn_afresh_each_round()
    {
        var s = Schedule(new Fault(FaultKinds.LoseMessages, 1, Rounds: 0, Fraction: 0.5, Messages: "tasks"));
        var r1 = Enumerable.Range(0, 1000).Where(id => s.For(1).Client(id).LoseTask).ToArray();
        var r2 = Enumerable.Range(0, 1000).Where(id => s.For(2).Client(id).LoseTask).ToArray();
        Assert.NotEqual(r1, r2);
        Assert.InRange(r1.Length, 430, 570);
    }

    [Fact]
    public void Counts_should_say_what_the_plan_did_to_the_selected_clients()
    {
        var s = Schedule(new Fault(FaultKinds.Drop, 1, Clients: "0-2"), new Fault(FaultKinds.Crash, 1, Clients: "3"),
            new Fault(FaultKinds.Straggle, 1, Clients: "4-5", Seconds: 30), new Fault(FaultKinds.SlowNode, 1, Factor: 2, Node: "127.0.0.1:4053"));
        var counts = FaultCounts.Of(s.For(1), [0, 1, 3, 4, 9]);
        Assert.Equal(new FaultCounts(Dropped: 2, Crashed: 1, LostMessages: 0, Straggled: 1, NodeFaults: 1), counts);
        Assert.Equal(30, s.For(1).Client(5).StraggleSeconds);
        Assert.Equal(2, s.For(1).SlowFactor("akka.tcp://fedactors@127.0.0.1:4053"));
        Assert.Equal(1, s.For(1).SlowFactor("akka.tcp://fedactors@127.0.0.1:4054"));
    }

    [Fact]
    public void Attack_switches_and_stop_should_apply_the_latest_fault()
    {
        var s = Schedule(new Fault(FaultKinds.AttackOff, 2), new Fault(FaultKinds.AttackOn, 5), new Fault(FaultKinds.Stop, 8), new Fault(FaultKinds.Stop, 12));
        Assert.Null(s.For(1).Attack);
        Assert.False(s.For(3).Attack);
        Assert.True(s.For(6).Attack);
        Assert.True(s.For(6).Client(17).Attack);
        Assert.Equal(8, s.LastRound(20));
        Assert.Equal(6, s.LastRound(6));
    }

    [Fact]
    public void A_fault_should_come_back_from_its_json_line_unchanged()
    {
        var f = new Fault(FaultKinds.Straggle, 4, Rounds: 3, Clients: "0-9,20", Fraction: 0.25, Seconds: 12.5, Source: "api");
        var line = f.ToJson();
        Assert.DoesNotContain('\n', line);
        Assert.Contains("\"kind\":\"straggle\"", line);
        Assert.Equal(f, Fault.FromJson(line));
        Assert.Equal(new Fault(FaultKinds.Drop, 2), Fault.FromJson("{\"kind\":\"drop\",\"round\":2}"));
    }

    [Theory]
    [InlineData("{\"kind\":\"drop\",\"round\":2,\"speed\":3}", "speed")]
    [InlineData("{\"kind\":\"drop\",\"round\":\"two\"}", "round")]
    [InlineData("{\"kind\":\"drop\",", "(body)")]
    [InlineData("[1,2]", "(body)")]
    public void Malformed_json_should_name_the_field(string json, string field)
    {
        var e = Assert.Throws<FaultError>(() => Fault.FromJson(json));
        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData("explode", 2, "", 1.0, 0, 1, "", "", "kind")]
    [InlineData("drop", 0, "", 1.0, 0, 1, "", "", "round")]
    [InlineData("drop", 11, "", 1.0, 0, 1, "", "", "round")]
    [InlineData("drop", 2, "0-1000", 1.0, 0, 1, "", "", "clients")]
    [InlineData("drop", 2, "5-3", 1.0, 0, 1, "", "", "clients")]
    [InlineData("drop", 2, "a,b", 1.0, 0, 1, "", "", "clients")]
    [InlineData("drop", 2, "", 0.0, 0, 1, "", "", "fraction")]
    [InlineData("drop", 2, "", 1.5, 0, 1, "", "", "fraction")]
    [InlineData("drop", 2, "", double.NaN, 0, 1, "", "", "fraction")]
    [InlineData("straggle", 2, "", 1.0, 0, 1, "", "", "seconds")]
    [InlineData("slow-node", 2, "", 1.0, 0, 3, "", "", "node")]
    [InlineData("slow-node", 2, "", 1.0, 0, 1, "", "", "factor")]
    [InlineData("set", 2, "", 1.0, 0, 1, "model.kind", "cnn", "key")]
    [InlineData("set", 2, "", 1.0, 0, 1, "clients.per-round", "0", "value")]
    [InlineData("set", 2, "", 1.0, 0, 1, "round.deadline-seconds", "-1", "value")]
    [InlineData("pause", 2, "", 1.0, 0, 1, "", "", "kind")]
    public void A_bad_fault_should_be_refused_naming_its_field(string kind, int round, string clients, double fraction, double seconds, double factor,
        string key, string value, string field)
    {
        var f = new Fault(kind, round, Clients: clients, Fraction: fraction, Seconds: seconds, Factor: factor, Key: key, Value: value);
        var e = Assert.Throws<FaultError>(() => f.Validate(totalRounds: 10, population: 1000, scripted: true));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void A_straggler_should_miss_a_deadline_it_would_have_met()
    {
        // the simulated duration grows by the fault's seconds; the deadline (or the fault's override) then bites
        var p = new Core.Simulation.ClientProfile(3, false, 0, SamplesPerSecond: 10, LinkSeconds: 1); // 50 samples: 6 s
        var train = new Core.Training.TrainOptions(1, 10, 0.01, 0, 0, false, 0);
        var on = Core.Simulation.Participation.Decide(p, 1, 1, 50, train, deadlineSeconds: 10);
        var late = Core.Simulation.Participation.Decide(p, 1, 1, 50, train, deadlineSeconds: 10, extraSeconds: 20);
        Assert.True(on.Delivers);
        Assert.False(late.Delivers);
        Assert.Equal(Core.Simulation.DropReason.MissedDeadline, late.Reason);
    }
}
