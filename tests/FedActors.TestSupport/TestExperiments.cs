using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.Core.Simulation;
using FedActors.Core.Training;

namespace FedActors.TestSupport;

/// <summary>Small, fast, seeded experiments on the synthetic dataset.</summary>
public static class TestExperiments
{
    public static ExperimentSettings Synthetic(int rounds = 3, int clients = 12, int perRound = 6, double dropout = 0,
        double deadline = 0, long seed = 7, string model = "mlp", int samples = 1200, int workers = 2) =>
        new("test", seed, rounds,
            new DataSettings("synthetic", "", "train+test", 0, samples, new PartitionOptions("dirichlet", 0.5, 2, true, 20, 0.75)),
            model,
            new TrainOptions(1, 10, 0.05),
            new PopulationSettings(clients, 0.5, perRound, new DropoutSettings(dropout, 0, 0.5), new SpeedSettings(100, 0.8, 1)),
            new RoundSettings(deadline, TimeSpan.FromSeconds(30), 1),
            "fedavg",
            new DeviceSettings("cpu", workers, 1));

    public static Experiment Load(ExperimentSettings settings) => Experiment.Load(settings);
}

/// <summary>Attack and defence settings for tests, with every option at the reference default.</summary>
public static class TestAttacks
{
    public static readonly IReadOnlyDictionary<string, object> Defaults = new Dictionary<string, object>
    {
        ["min-lambda"] = 1e-5, ["knowledge"] = "partial", ["b"] = 2.0, ["sigma"] = 200.0, ["direction"] = "minus", ["perturbation"] = "unit-vector",
        ["gamma-init"] = 10.0, ["tolerance"] = 1e-5, ["fraction"] = 0.5, ["target-label"] = 0, ["patch-size"] = 5, ["patch-value"] = 1.0, ["boost"] = 0.0,
        ["scale"] = 1.0, ["f"] = 0, ["m"] = 0, ["beta"] = 0, ["check-precondition"] = true, ["iterations"] = 5, ["subsample-size"] = 10_000, ["filter-fraction"] = 1.0,
        ["noise-lambda"] = 0.001, ["distance-on"] = "updates", ["mask-learning-rate"] = 1e7, ["mask-gradient-clamp"] = 1e-7, ["max-iterations"] = 20,
        ["early-stop-delta"] = 0.01, ["threshold"] = 0.5, ["no-attack-check"] = "bic", ["benign-cluster"] = "root", ["min-separation"] = 6.0, ["root-scale"] = "raw",
    };

    private static Core.Config.IOptionReader Options(string path, IReadOnlyDictionary<string, object>? overrides)
    {
        var d = Defaults.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (k, v) in overrides ?? new Dictionary<string, object>()) d[k] = v;
        return new Core.Config.DictionaryOptions(path, d);
    }

    public static ExperimentSettings WithAttack(this ExperimentSettings s, string kind, double fraction = 0.2, int startRound = 1,
        string knowledge = "colluders", IReadOnlyDictionary<string, object>? options = null, Core.Attacks.PillOptions? pill = null) =>
        s with { Attack = new AttackSettings(kind, fraction, [], startRound, knowledge, Options($"fedactors.attack.{kind}", options), pill) };

    public static ExperimentSettings WithRule(this ExperimentSettings s, string rule, IReadOnlyDictionary<string, object>? options = null) =>
        s with { Rule = rule, RuleOptions = Options($"fedactors.defence.{rule}", options) };
}

/// <summary>Personalised settings for tests, each method's options at the reference default.</summary>
public static class TestPersonalisation
{
    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, object>> Defaults =
        new Dictionary<string, IReadOnlyDictionary<string, object>>
        {
            ["fedala"] = new Dictionary<string, object>
            {
                ["eta"] = 1.0, ["sample-percent"] = 80, ["adapted-tensors"] = 2, ["threshold"] = 0.1, ["num-pre-loss"] = 10, ["max-passes"] = 500,
            },
            ["dbe"] = new Dictionary<string, object> { ["momentum"] = 1.0, ["kappa"] = 50.0 },
            ["gpfl"] = new Dictionary<string, object> { ["lambda"] = 0.01, ["mu"] = 0.1 },
            ["fedcp"] = new Dictionary<string, object> { ["lambda"] = 5.0, ["tau"] = 1.0, ["head-mix"] = 0.5, ["noisy-evaluation"] = true },
            ["local"] = new Dictionary<string, object>(),
            ["none"] = new Dictionary<string, object>(),
        };

    public static ExperimentSettings WithPersonalisation(this ExperimentSettings s, string method, int evaluateClients = 0,
        IReadOnlyDictionary<string, object>? overrides = null)
    {
        var d = Defaults[method].ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (k, v) in overrides ?? new Dictionary<string, object>()) d[k] = v;
        return s with { Personalisation = new PersonalisationSettings(method, new Core.Config.DictionaryOptions($"fedactors.personalization.{method}", d), evaluateClients) };
    }

    /// <summary>A strongly non-IID task where personalisation pays: 10 overlapping Gaussian classes on 8×8 inputs (hard
    /// globally), two classes per client in unequal shares (easy locally), every client every round.</summary>
    public static ExperimentSettings NonIid(int rounds = 6, int clients = 10, long seed = 3) =>
        TestExperiments.Synthetic(rounds: rounds, clients: clients, perRound: clients, seed: seed, samples: 3000) with
        {
            Data = new DataSettings("synthetic", "", "train+test", 0, 3000, new PartitionOptions("pathological", 0.5, 2, false, 20, 0.75)),
        };

    /// <summary>Loads <see cref="NonIid"/>-style settings on the hard 8×8 synthetic data.</summary>
    public static Experiment Load(ExperimentSettings s) =>
        Experiment.Load(s, SyntheticDataset.Create(s.Seed, s.Data.SyntheticSamples, sampleShape: [1, 8, 8], separation: 0.25));
}
