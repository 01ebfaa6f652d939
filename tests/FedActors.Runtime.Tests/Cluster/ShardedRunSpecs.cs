using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Cluster;

[Collection("Node")]
public class ShardedRunSpecs
{
    private static RoundSummary Untimed(RoundSummary r) => r.WithoutClients() with { RoundMs = 0, ComputeMs = 0 }; // a run keeps no per-client rows (onRound has them)

    /// <summary>Runs the settings through the actor system and through the plain loop; asserts identical rounds.</summary>
    /// <param name="config">Extra HOCON for the actor system (e.g. <c>akka.actor.serialize-messages = on</c>).</param>
    private static async Task<RunResultWithExperiment> AssertActorRunMatchesPlainLoop(Core.Config.ExperimentSettings settings, string? config = null)
    {
        var e = TestExperiments.Load(settings);
        List<RoundSummary> plain;
        using (var pool = new TorchWorkerPool(2, 1, e.CreateModel)) plain = new PlainSimulation(e, pool).Run().ToList();
        var seen = new List<RoundSummary>();
        var result = await SimulationRunner.RunAsync(e, config is null ? Support.NodeConfig() : Support.NodeConfig(config), Support.Events().Events, onRound: seen.Add);
        Assert.Equal(plain.Select(Untimed), result.Rounds.Select(Untimed));
        // each evaluated client's outcome too (clients.csv), which the run hands out round by round and does not keep
        Assert.Equal(plain.Select(r => r.PerClient), seen.Select(r => r.PerClient));
        Assert.Contains(seen, r => r.PerClient.Count > 0);
        Assert.All(result.Rounds, r => Assert.Equal(0, r.PerClient.Count));
        return new RunResultWithExperiment(result, e);
    }

    private sealed record RunResultWithExperiment(FedActors.Runtime.Actors.RunResult Result, Experiment Experiment) : IDisposable
    {
        public void Dispose() => Experiment.Dispose();
    }

    /// <summary>Dropouts (25 %) and a 2 s simulated deadline that the slower devices miss.</summary>
    private static readonly Core.Config.ExperimentSettings Settings =
        TestExperiments.Synthetic(rounds: 3, clients: 12, perRound: 8, dropout: 0.25, deadline: 2.0);

    [Fact]
    public async Task A_sharded_run_should_match_the_plain_loop_round_for_round_with_dropouts_and_a_deadline()
    {
        // arrange
        using var e = TestExperiments.Load(Settings);
        var (events, sink) = Support.Events();
        List<RoundSummary> plain;
        using (var pool = new TorchWorkerPool(2, 1, e.CreateModel)) plain = new PlainSimulation(e, pool).Run().ToList();

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events);

        // assert: the same rounds as the plain loop, timing aside
        Assert.Equal(plain.Select(Untimed), result.Rounds.Select(Untimed));
        // the simulated drops really happened, and are the ones Core predicts
        Assert.True(result.Rounds.Sum(r => r.DroppedOut) > 0, "expected some dropouts");
        Assert.True(result.Rounds.Sum(r => r.MissedDeadline) > 0, "expected some clients to miss the deadline");
        foreach (var r in result.Rounds)
        {
            var selected = ClientSampler.Sample(Settings.Seed, r.Round, Settings.Clients.Count, 8);
            var predicted = selected.Select(id => e.Participation(id, r.Round)).ToArray();
            Assert.Equal(predicted.Count(p => p.Reason == DropReason.DroppedOut), r.DroppedOut);
            Assert.Equal(predicted.Count(p => p.Reason == DropReason.MissedDeadline), r.MissedDeadline);
            Assert.Equal(predicted.Count(p => p.Delivers), r.Responded);
            Assert.Equal(0, r.TimedOut);
        }
        // one RoundCompleted event per round, with its properties
        var completed = sink.Named("RoundCompleted").ToList();
        Assert.Equal([1, 2, 3], completed.Select(ev => (int)InMemorySink.Scalar(ev, "Round")!));
        foreach (var p in new[] { "Selected", "Responded", "Dropped", "Accuracy", "Loss", "RoundMs", "ComputeMs" })
            Assert.All(completed, ev => Assert.NotNull(InMemorySink.Scalar(ev, p)));
        Assert.Single(sink.Named("RunStarted"));
        Assert.Single(sink.Named("RunCompleted"));
    }

    [Fact]
    public async Task Rounds_too_small_for_the_rule_should_keep_the_model_as_the_plain_loop_does_and_warn_each_round()
    {
        // arrange: dropouts and a deadline leave 2-4 of 8 updates a round, under Multi-Krum's n > 2f + 2 = 6
        var settings = Settings.WithRule("multi-krum", new Dictionary<string, object> { ["f"] = 2, ["check-precondition"] = false });
        var e = TestExperiments.Load(settings);
        List<RoundSummary> plain;
        using (var pool = new TorchWorkerPool(2, 1, e.CreateModel)) plain = new PlainSimulation(e, pool).Run().ToList();
        var (events, sink) = Support.Events();

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events);
        e.Dispose();

        // assert: the same rounds as the plain loop, each saying why it kept the model, and one warning a round
        Assert.Equal(plain.Select(Untimed), result.Rounds.Select(Untimed));
        Assert.All(result.Rounds, r => Assert.StartsWith("multi-krum: would select m = n − 2f − 2 = ", r.NotAggregated));
        var warnings = sink.Named("RoundNotAggregated").ToList();
        Assert.Equal([1, 2, 3], warnings.Select(ev => (int)InMemorySink.Scalar(ev, "Round")!));
        Assert.All(warnings, ev => Assert.Equal(Serilog.Events.LogEventLevel.Warning, ev.Level));
        Assert.Equal(result.Rounds.Select(r => r.NotAggregated), warnings.Select(ev => (string?)InMemorySink.Scalar(ev, "NotAggregated")));
    }

    [Fact]
    public async Task A_rule_that_measures_its_verdict_should_log_it_each_round_as_DefenceMeasured()
    {
        // arrange: SkyMask on a small synthetic run, every client every round
        var settings = TestExperiments.Synthetic(rounds: 2, clients: 12, perRound: 12, samples: 1200, seed: 5, model: "mlp").WithRule("skymask")
            with { Server = new Core.Config.ServerSettings(1.0, 100, 0.1, 1) };
        using var e = TestExperiments.Load(settings);
        var (events, sink) = Support.Events();

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events);

        // assert: one event a round, whose updates kept are the round's accepted ones, with SkyMask's separation
        var measured = sink.Named("DefenceMeasured").ToList();
        Assert.Equal([1, 2], measured.Select(ev => (int)InMemorySink.Scalar(ev, "Round")!));
        foreach (var (ev, round) in measured.Zip(result.Rounds))
        {
            Assert.Equal("skymask", InMemorySink.Scalar(ev, "Rule"));
            Assert.Equal((double)(round.Responded - round.Flagged), (double)InMemorySink.Scalar(ev, "Kept")!);
            Assert.True((double)InMemorySink.Scalar(ev, "Separation")! >= 0);
            Assert.Contains((double)InMemorySink.Scalar(ev, "Split")!, new[] { 0.0, 1.0 });
        }
    }

    [Theory]
    [InlineData("min-max", "colluders")]
    [InlineData("lie", "benign")]
    [InlineData("label-flip", "colluders")]
    public async Task Colluding_attackers_through_the_adversary_should_match_the_plain_loop(string attack, string knowledge)
    {
        // arrange: 25 % malicious, dropouts (some colluders drop out and are simply missing), Multi-Krum f = 2; 16 clients
        // a round, so that enough updates arrive for it (n > 2f + 2 = 6) despite the dropouts and the deadline
        var settings = TestExperiments.Synthetic(rounds: 3, clients: 16, perRound: 16, dropout: 0.25, deadline: 2.0)
            .WithAttack(attack, 0.25, knowledge: knowledge)
            .WithRule("multi-krum", new Dictionary<string, object> { ["f"] = 2, ["check-precondition"] = false });

        // act, and assert the same rounds as the plain loop
        using var run = await AssertActorRunMatchesPlainLoop(settings);
        var result = run.Result;

        // assert
        Assert.True(result.Rounds.Sum(r => r.Malicious) > 0, "no malicious update was received");
        // Multi-Krum (f = 2) keeps m = n − 2f − 2 of the n updates that arrived: it flags 6 whatever n is
        Assert.All(result.Rounds, r => Assert.Equal(6, r.Flagged));
    }

    [Fact]
    public async Task A_pill_augmented_attack_through_the_adversary_should_match_the_plain_loop()
    {
        // the Pill with its extra-trained reference (2 epochs), asked of the device worker by the adversary
        var settings = Settings.WithAttack("sign-flip", 0.25, pill: new Core.Attacks.PillOptions(Enabled: true, ExtraEpochs: 2))
            .WithRule("multi-krum", new Dictionary<string, object> { ["f"] = 2, ["check-precondition"] = false });
        using var run = await AssertActorRunMatchesPlainLoop(settings);
        Assert.Equal("sign-flip+pill", run.Experiment.Collusion.Attack!.Name);
    }

    [Fact]
    public async Task The_same_seed_should_give_identical_rounds_and_another_seed_different_ones()
    {
        async Task<IReadOnlyList<RoundSummary>> Run(long seed)
        {
            using var e = TestExperiments.Load(Settings with { Seed = seed });
            return (await SimulationRunner.RunAsync(e, Support.NodeConfig(), Support.Events().Events)).Rounds;
        }
        var a = await Run(7);
        var b = await Run(7);
        var c = await Run(8);
        Assert.Equal(a.Select(Untimed), b.Select(Untimed));
        Assert.NotEqual(a.Select(Untimed), c.Select(Untimed));
    }

    [Fact]
    public async Task A_round_should_serialise_every_message_with_serialize_messages_on()
    {
        // every message through its serializer and back: the rounds are still the plain loop's, bit for bit
        using var run = await AssertActorRunMatchesPlainLoop(Settings with { Rounds = 2 }, "akka.actor.serialize-messages = on");
        Assert.Equal(2, run.Result.Rounds.Count);
        Assert.All(run.Result.Rounds, r => Assert.True(r.Responded > 0));
    }

    /// <summary>A store that fails for one client, so its entity crashes on start and never answers.</summary>
    private sealed class BrokenStore(int brokenClient) : IClientStateStore
    {
        private readonly InMemoryClientStateStore _inner = new();
        public ClientState? Load(int clientId) =>
            clientId == brokenClient ? throw new IOException($"disk error for client {clientId}") : _inner.Load(clientId);
        public void Save(ClientState state) => _inner.Save(state);
    }

    /// <summary>Two rounds with no simulated drops or deadline, so only the wall-clock safety timeout can cut a client.</summary>
    private static Core.Config.ExperimentSettings NoDropsWithTimeout(TimeSpan timeout) => Settings with
    {
        Rounds = 2,
        Clients = Settings.Clients with { Dropout = Settings.Clients.Dropout with { Probability = 0 } },
        Round = Settings.Round with { DeadlineSeconds = 0, Timeout = timeout },
    };

    /// <summary>A store on one slow disk: every load and save takes <paramref name="delay"/>, one at a time.</summary>
    private sealed class SlowDiskStore(TimeSpan delay) : IClientStateStore
    {
        private readonly InMemoryClientStateStore _inner = new();
        private readonly Lock _disk = new();
        public ClientState? Load(int clientId) { lock (_disk) { Thread.Sleep(delay); return _inner.Load(clientId); } }
        public void Save(ClientState state) { lock (_disk) { Thread.Sleep(delay); _inner.Save(state); } }
    }

    [Fact]
    public async Task A_round_longer_than_the_safety_timeout_should_lose_no_client_while_answers_keep_coming()
    {
        // arrange: 8 clients a round queue on one slow disk (0.5 s per load or save), so a round takes ≥ 4 s, while
        // answers come every ~0.5-1 s; the safety timeout is 2.5 s, with 1.5 s of slack for a busy machine (before the
        // fix it counted from the round's start and cut the last clients of every round)
        var settings = NoDropsWithTimeout(TimeSpan.FromSeconds(2.5));
        using var e = TestExperiments.Load(settings);
        var (events, sink) = Support.Events();
        // the entities blocked on the disk hold thread-pool threads; enough of them that the rest of the node still runs
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), io);

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events, store: new SlowDiskStore(TimeSpan.FromMilliseconds(500)));

        // assert
        Assert.All(result.Rounds, r => Assert.Equal((8, 0), (r.Responded, r.TimedOut)));
        Assert.All(result.Rounds, r => Assert.True(r.RoundMs > 3000, $"round {r.Round} took {r.RoundMs} ms: the disk was not slow enough to test this"));
        Assert.Empty(sink.Named("ClientsTimedOut"));
    }

    [Fact]
    public async Task A_crashed_client_should_be_cut_by_the_safety_timeout_and_reported_apart_from_simulated_drops()
    {
        // arrange: no simulated drops, a wall-clock timeout short for a test but long for a round of 8 MLP clients even on
        // a busy machine (the healthy clients must not be cut), and a client whose entity crashes on start
        var settings = NoDropsWithTimeout(TimeSpan.FromSeconds(5));
        int broken = ClientSampler.Sample(settings.Seed, 1, settings.Clients.Count, 8)[0];
        using var e = TestExperiments.Load(settings);
        var (events, sink) = Support.Events();

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events, store: new BrokenStore(broken));

        // assert
        var first = result.Rounds[0];
        Assert.Equal((1, 7, 0), (first.TimedOut, first.Responded, first.Dropped));
        Assert.Contains(sink.Named("ClientsTimedOut"), ev => (int)InMemorySink.Scalar(ev, "Round")! == 1);
        Assert.Equal(2, result.Rounds.Count);
    }
}

public class SerializationSpecs
{
    [Fact]
    public void A_model_sized_update_should_travel_as_a_compact_float_array()
    {
        // arrange: the serializer HOCON binds our messages to
        using var system = Akka.Actor.ActorSystem.Create("ser", Support.NodeConfig("akka.actor.provider = local"));
        var update = new Protocol.UpdateSubmitted(3, 7, new Core.Updates.ParameterVector(Enumerable.Range(0, 100_000).Select(i => i * 0.5f).ToArray()), 500, 0.3, 12, 40);
        var serializer = system.Serialization.FindSerializerFor(update);
        // act
        var bytes = serializer.ToBinary(update);
        var back = (Protocol.UpdateSubmitted)serializer.FromBinary(bytes, typeof(Protocol.UpdateSubmitted));
        // assert
        Assert.IsType<Protocol.PayloadSerializer>(serializer);
        Assert.Equal(400_000 + 40, bytes.Length); // 4 bytes per parameter plus the fixed fields (ids, counts, loss, times)
        Assert.Equal(update.Delta.Values, back.Delta.Values);
        Assert.Equal((3, 7, 500), (back.ClientId, back.Round, back.NumSamples));
    }
}
