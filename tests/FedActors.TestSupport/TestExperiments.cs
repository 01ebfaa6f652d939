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

/// <summary>Option readers for tests: the reference.conf defaults (the one home of defaults: tests keep no copy of
/// them), with a test's overrides on top.</summary>
public static class TestOptions
{
    public static Core.Config.IOptionReader For(string path, IReadOnlyDictionary<string, object>? overrides = null)
    {
        var config = Runtime.Settings.FedActorsSettings.Reference;
        if (overrides is { Count: > 0 })
        {
            var text = string.Join('\n', overrides.Select(kv => $"{path}.{kv.Key} = {Hocon(kv.Value)}"));
            config = Akka.Configuration.ConfigurationFactory.ParseString(text).WithFallback(config);
        }
        return new Runtime.Settings.HoconOptionReader(config, path);
    }

    private static string Hocon(object value) => value switch
    {
        string s => System.Text.Json.JsonSerializer.Serialize(s),
        bool b => b ? "on" : "off",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>Attack and defence settings for tests, with every option at the reference default unless overridden.</summary>
public static class TestAttacks
{
    private static Core.Config.IOptionReader Options(string path, IReadOnlyDictionary<string, object>? overrides) => TestOptions.For(path, overrides);

    public static ExperimentSettings WithAttack(this ExperimentSettings s, string kind, double fraction = 0.2, int startRound = 1,
        string knowledge = "colluders", IReadOnlyDictionary<string, object>? options = null, Core.Attacks.PillOptions? pill = null) =>
        s with { Attack = new AttackSettings(kind, fraction, [], startRound, knowledge, Options($"fedactors.attack.{kind}", options), pill) };

    public static ExperimentSettings WithRule(this ExperimentSettings s, string rule, IReadOnlyDictionary<string, object>? options = null) =>
        s with { Rule = rule, RuleOptions = Options($"fedactors.defence.{rule}", options) };
}

/// <summary>Personalised settings for tests, each method's options at the reference default.</summary>
public static class TestPersonalisation
{
    public static ExperimentSettings WithPersonalisation(this ExperimentSettings s, string method, int evaluateClients = 0,
        IReadOnlyDictionary<string, object>? overrides = null)
    {
        return s with { Personalisation = new PersonalisationSettings(method, TestOptions.For($"fedactors.personalization.{method}", overrides), evaluateClients) };
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
