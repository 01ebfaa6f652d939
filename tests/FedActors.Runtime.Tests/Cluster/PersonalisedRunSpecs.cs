using FedActors.Core.Config;
using FedActors.Core.Simulation;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace FedActors.Runtime.Tests.Cluster;

/// <summary>End-to-end sharded runs of each personalisation method on a task where personalisation pays: 10
/// overlapping classes (hard for one global model), two classes per client (easy for a personal one).</summary>
[Collection("Node")]
public class PersonalisedRunSpecs(ITestOutputHelper output)
{
    private static readonly ExperimentSettings Settings = TestPersonalisation.NonIid();

    private static async Task<RunResult> Run(ExperimentSettings settings, IClientStateStore? store = null, params string[] hocon)
    {
        using var e = TestPersonalisation.Load(settings);
        return await SimulationRunner.RunAsync(e, Support.NodeConfig(hocon), Support.Events().Events, store: store);
    }

    private static RoundSummary Untimed(RoundSummary r) => r.WithoutClients() with { RoundMs = 0, ComputeMs = 0 }; // a run keeps no per-client rows (onRound has them)

    /// <summary>Counts loads: each one is an entity (re)starting.</summary>
    private sealed class CountingStore : IClientStateStore
    {
        private readonly InMemoryClientStateStore _inner = new();
        private int _loads;
        public int Loads => _loads;
        public ClientState? Load(int clientId) { Interlocked.Increment(ref _loads); return _inner.Load(clientId); }
        public void Save(ClientState state) => _inner.Save(state);
    }

    [Theory]
    [InlineData("fedala")]
    [InlineData("fedcp")]
    public async Task Entities_passivated_between_rounds_should_give_exactly_the_same_run(string method)
    {
        // arrange: the same personalised run, once with entities staying resident, once passivating whenever idle
        var settings = Settings.WithPersonalisation(method) with { Rounds = 4 };
        var resident = await Run(settings);
        var store = new CountingStore();

        // act
        var passivating = await Run(settings, store, "fedactors.state.passivate-idle-after = 20ms");

        // assert: entities really stopped and came back from the store, and nothing changed
        Assert.True(store.Loads > Settings.Clients.Count + 3, $"expected entities to restart, saw {store.Loads} loads");
        Assert.Equal(resident.Rounds.Select(Untimed), passivating.Rounds.Select(Untimed));
    }

    [Fact]
    public async Task A_cap_on_resident_entities_should_passivate_the_least_recently_used_and_change_nothing()
    {
        // arrange: FedALA (a personal model per client), 12 clients, 6 a round; idle passivation off, so only the cap stops entities
        var settings = TestExperiments.Synthetic(rounds: 4, clients: 12, perRound: 6).WithPersonalisation("fedala", evaluateClients: 6);
        var uncapped = await Run(settings, null, "fedactors.state.passivate-idle-after = off");
        var store = new CountingStore();

        // act
        var capped = await Run(settings, store, "fedactors.state.passivate-idle-after = off", "fedactors.state.max-active-entities = 6");

        // assert: entities beyond the cap stopped and came back from the store (more loads than clients), same rounds
        Assert.True(store.Loads > 12 + 3, $"expected entities to be passivated by the cap, saw {store.Loads} loads");
        Assert.Equal(uncapped.Rounds.Select(Untimed), capped.Rounds.Select(Untimed));
    }

    [Fact]
    public async Task FedALA_keeping_only_its_adapted_tensors_should_give_the_same_run_as_keeping_the_whole_model()
    {
        // arrange: every client evaluated every round (each takes in every version, the skip test runs each time), clients
        // trained in some rounds only, entities passivating whenever idle (so the state really comes back from the store)
        var adapted = TestExperiments.Synthetic(rounds: 5, clients: 12, perRound: 5).WithPersonalisation("fedala");
        var whole = TestExperiments.Synthetic(rounds: 5, clients: 12, perRound: 5)
            .WithPersonalisation("fedala", overrides: new Dictionary<string, object> { ["keep"] = "whole" });
        var adaptedStore = new InMemoryClientStateStore();
        var wholeStore = new InMemoryClientStateStore();

        // act
        var a = await Run(adapted, adaptedStore, "fedactors.state.passivate-idle-after = 20ms");
        var w = await Run(whole, wholeStore, "fedactors.state.passivate-idle-after = 20ms");

        // assert: the same rounds, bit for bit, from a fraction of the personal state
        Assert.Equal(w.Rounds.Select(Untimed), a.Rounds.Select(Untimed));
        Assert.All(a.Rounds, r => Assert.Equal(12, r.EvaluatedClients));
        long Floats(InMemoryClientStateStore store) => store.StatesAt(5).Sum(s => s.Personal!.Parts.Values.Sum(v => (long)v.Length));
        output.WriteLine($"personal state: adapted {Floats(adaptedStore)} floats, whole {Floats(wholeStore)}");
        Assert.True(Floats(adaptedStore) * 5 < Floats(wholeStore), $"adapted keeps {Floats(adaptedStore)} floats, whole {Floats(wholeStore)}");
    }

    private static readonly Lazy<Task<RunResult>> FedAvg = new(() => Run(Settings));

    [Theory]
    [InlineData("fedala")]
    [InlineData("dbe")]
    [InlineData("gpfl")]
    [InlineData("fedcp")]
    [InlineData("local")]
    public async Task A_sharded_personalised_run_should_beat_FedAvg_on_a_strongly_non_IID_split(string method)
    {
        // arrange: FedAvg's global model, evaluated on every client's test split (pooled), is the baseline
        var fedAvg = await FedAvg.Value;

        // act
        var (events, sink) = Support.Events();
        RunResult personal;
        using (var e = TestPersonalisation.Load(Settings.WithPersonalisation(method)))
            personal = await SimulationRunner.RunAsync(e, Support.NodeConfig(), events);
        foreach (var failed in sink.Named("ClientFailed")) output.WriteLine(failed.RenderMessage());

        // assert: every round evaluates all 10 clients' own models; the pooled accuracy clearly beats FedAvg's
        double baseline = fedAvg.Rounds[^1].Accuracy, ours = personal.Rounds[^1].Accuracy;
        output.WriteLine($"{method}: {ours:P2} vs FedAvg {baseline:P2} (per round: {string.Join(", ", personal.Rounds.Select(r => r.Accuracy.ToString("P1")))})");
        Assert.Equal(Settings.Rounds, personal.Rounds.Count);
        Assert.All(personal.Rounds, r =>
        {
            Assert.Equal(10, r.EvaluatedClients);
            Assert.Equal(10, r.Responded);
            Assert.InRange(r.ClientAccuracyMedian, r.ClientAccuracyMin, r.ClientAccuracyMax);
        });
        Assert.True(ours > baseline + 0.05, $"{method} {ours:P2} should beat FedAvg {baseline:P2} by 5 points");
    }

    /// <summary>3 of the 10 clients send −4·Δ of their shared vector in every round.</summary>
    private static ExperimentSettings SignFlipped(ExperimentSettings s) =>
        s.WithAttack("sign-flip", fraction: 0.3, options: new Dictionary<string, object> { ["scale"] = 4.0 });

    /// <summary>No attack, evaluated over the clients <see cref="SignFlipped"/> keeps benign: the baseline of its runs.</summary>
    private static ExperimentSettings CleanBaseline(string method)
    {
        var s = Settings.WithPersonalisation(method).WithAttack("none", fraction: 0.3);
        return s with { Personalisation = s.Personalisation! with { Evaluate = PersonalisationSettings.EvaluateBenign } };
    }

    [Theory]
    [InlineData("fedala")]
    [InlineData("dbe")]
    [InlineData("gpfl")]
    [InlineData("fedcp")]
    public async Task A_sign_flip_attack_should_cost_the_benign_clients_accuracy_under_FedAvg(string method)
    {
        // act
        var none = await Run(CleanBaseline(method));
        var attacked = await Run(SignFlipped(Settings.WithPersonalisation(method)));

        // assert: every attacked round counts 3 malicious updates and evaluates only the 7 benign clients' personal models,
        // as the baseline does; the attack costs them clearly
        double a0 = none.Rounds[^1].Accuracy, a1 = attacked.Rounds[^1].Accuracy;
        output.WriteLine($"{method} benign accuracy: no attack {a0:P2}, sign-flip under fedavg {a1:P2}");
        Assert.All(attacked.Rounds, r =>
        {
            Assert.Equal(3, r.Malicious);
            Assert.Equal(7, r.EvaluatedClients);
        });
        Assert.All(none.Rounds, r => Assert.Equal((0, 7), (r.Malicious, r.EvaluatedClients)));
        Assert.True(a1 < a0 - 0.10, $"{method}: FedAvg under attack {a1:P2} should be 10 points under the clean run {a0:P2}");
    }

    [Fact]
    public async Task FedALA_under_a_sign_flip_attack_should_be_held_off_by_the_median()
    {
        var attacked = SignFlipped(Settings.WithPersonalisation("fedala"));

        double clean = (await Run(CleanBaseline("fedala"))).Rounds[^1].Accuracy;
        double fedAvg = (await Run(attacked)).Rounds[^1].Accuracy;
        double median = (await Run(attacked.WithRule("median"))).Rounds[^1].Accuracy;

        output.WriteLine($"fedala benign accuracy: no attack {clean:P2}, under fedavg {fedAvg:P2}, under median {median:P2}");
        Assert.True(median > fedAvg + 0.10 && median > clean - 0.10, $"median under attack {median:P2} should be near the clean run {clean:P2}, far above FedAvg {fedAvg:P2}");
    }

    [Theory]
    [InlineData("fedala")]
    [InlineData("dbe")]
    public async Task A_backdoor_on_a_personalised_run_should_be_measured_on_the_benign_clients_personal_models(string method)
    {
        // arrange: 3 of 10 clients stamp a trigger on half their batches (target label 3) and boost their update n/f-fold; the
        // same backdoor that starts after the run gives the trigger's success on models nobody poisoned
        var settings = Settings.WithPersonalisation(method)
            .WithAttack("scaling", fraction: 0.3, options: new Dictionary<string, object> { ["target-label"] = 3, ["patch-size"] = 3, ["patch-value"] = 2.5 });
        var notYet = settings with { Attack = settings.Attack! with { StartRound = 100 } };

        // act
        var attacked = await Run(settings);
        var clean = await Run(notYet);

        // assert: every round reports the backdoor's success over the 7 benign clients' own models, and the attack raises it
        output.WriteLine($"{method} attack success per round: {string.Join(", ", attacked.Rounds.Select(r => r.AttackSuccess.ToString("P1")))}; " +
            $"unpoisoned: {string.Join(", ", clean.Rounds.Select(r => r.AttackSuccess.ToString("P1")))}");
        Assert.All(attacked.Rounds.Concat(clean.Rounds), r =>
        {
            Assert.Equal(7, r.EvaluatedClients);
            Assert.InRange(r.AttackSuccess, 0, 1);
        });
        Assert.True(attacked.Rounds[^1].AttackSuccess > clean.Rounds[^1].AttackSuccess + 0.05,
            $"{method}: {attacked.Rounds[^1].AttackSuccess:P1} with the backdoor, {clean.Rounds[^1].AttackSuccess:P1} without");
    }

    [Fact]
    public async Task An_attack_off_fault_should_stop_the_poisoning_of_personalised_clients()
    {
        // arrange: label flipping switched off before round 1 by a scripted fault; the same attack starting after the run
        var attacked = (Settings with { Rounds = 3 }).WithPersonalisation("fedala").WithAttack("label-flip", fraction: 0.3);
        var switchedOff = attacked with { Faults = [new Core.Faults.Fault(Core.Faults.FaultKinds.AttackOff, 1)] };
        var notYet = attacked with { Attack = attacked.Attack! with { StartRound = 100 } };

        // act
        var off = await Run(switchedOff);
        var never = await Run(notYet);
        var on = await Run(attacked);

        // assert: switched off, the run is the one that never attacked, round for round; attacking, it is not
        Assert.Equal(never.Rounds.Select(Untimed), off.Rounds.Select(Untimed));
        Assert.NotEqual(on.Rounds.Select(r => r.TrainLoss), off.Rounds.Select(r => r.TrainLoss));
    }

    [Fact]
    public async Task A_round_with_no_client_to_evaluate_should_end_unevaluated_not_hang()
    {
        // arrange: every client malicious (settings made in code; a config file with this is refused up front)
        var settings = (Settings with { Rounds = 2 }).WithPersonalisation("fedala").WithAttack("sign-flip", fraction: 1.0);

        // act
        var result = await Run(settings).WaitAsync(TimeSpan.FromMinutes(2));

        // assert: both rounds end, neither evaluated
        Assert.Equal(2, result.Rounds.Count);
        Assert.All(result.Rounds, r => Assert.Equal((0, true), (r.EvaluatedClients, double.IsNaN(r.Accuracy))));
    }

    [Fact]
    public async Task A_large_population_should_evaluate_a_seeded_sample_of_clients_on_the_cadence()
    {
        // arrange: 4 of 10 clients evaluated, every second round (and always the last)
        var settings = Settings.WithPersonalisation("dbe", evaluateClients: 4) with { Rounds = 5, Round = Settings.Round with { EvaluateEvery = 2 } };

        // act
        var result = await Run(settings);

        // assert
        Assert.Equal([0, 4, 0, 4, 4], result.Rounds.Select(r => r.EvaluatedClients));
        Assert.Equal([false, true, false, true, true], result.Rounds.Select(r => !double.IsNaN(r.Accuracy)));
    }
}
