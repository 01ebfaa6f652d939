using FedActors.Core.Data.Partitioners;
using FedActors.Core.Training;

namespace FedActors.Core.Config;

/// <summary>A whole experiment, typed. Read from HOCON by the runtime (<c>FedActorsSettings</c>); every value is
/// explained in <c>reference.conf</c>, the one place defaults live.</summary>
public sealed record ExperimentSettings(
    string Name,
    long Seed,
    int Rounds,
    DataSettings Data,
    string Model,
    TrainOptions Train,
    PopulationSettings Clients,
    RoundSettings Round,
    string Rule,
    DeviceSettings Device,
    IOptionReader? RuleOptions = null,
    AttackSettings? Attack = null,
    ServerSettings? Server = null,
    PersonalisationSettings? Personalisation = null)
{
    public PersonalisationSettings PersonalisationOrNone => Personalisation ?? PersonalisationSettings.None;

    /// <summary>Scripted faults (<c>fedactors.faults</c>), in the order given.</summary>
    public IReadOnlyList<Faults.Fault> Faults { get; init; } = [];

    /// <summary>A fresh instance of the configured personalisation method; null for <c>none</c>.</summary>
    public Personalisation.IPersonalisation? CreatePersonalisation() =>
        PersonalisationOrNone.Method == Core.Personalisation.PersonalisationRegistry.None ? null
        : Core.Personalisation.PersonalisationRegistry.Create(PersonalisationOrNone.Method, PersonalisationOrNone.Options!);

    public ServerSettings ServerOrDefault => Server ?? ServerSettings.Default;

    /// <summary>A fresh instance of the configured aggregation rule, with its options.</summary>
    public Aggregation.IAggregationRule CreateRule() =>
        RuleOptions is null ? Aggregation.AggregationRegistry.Create(Rule) : Aggregation.AggregationRegistry.Create(Rule, RuleOptions);
}

/// <param name="Dataset"><c>fashion-mnist</c> or <c>synthetic</c>.</param>
/// <param name="Limit">Keep only the first N pooled samples (0 = all).</param>
/// <param name="Evaluation"><c>clients</c>: the global model is tested on every client's local test split (PFLlib);
/// <c>held-out</c>: only the train files are partitioned and the model is tested on the t10k file (FLTrust, SkyMask).</param>
public sealed record DataSettings(string Dataset, string Directory, string Pool, int Limit, int SyntheticSamples, PartitionOptions Partition,
    string Evaluation = "clients");

/// <summary>The server's side of training (<c>fedactors.server</c>).</summary>
/// <param name="LearningRate">η_g: w ← w + η_g·aggregate(Δ). SkyMask uses 0.5.</param>
/// <param name="RootSamples">Clean samples the server holds (FLTrust, SkyMask: 100), taken out of the clients' pool; 0 = none.</param>
/// <param name="RootBias">p: share of the root set from <paramref name="RootBiasClass"/>, the rest spread evenly
/// (p = 1/C is uniform).</param>
public sealed record ServerSettings(double LearningRate, int RootSamples, double RootBias, int RootBiasClass)
{
    public static readonly ServerSettings Default = new(1.0, 0, 0.1, 1);
}

/// <param name="PerRound">Clients sampled per round; when 0, <see cref="Fraction"/> of the population (at least 1).</param>
public sealed record PopulationSettings(int Count, double Fraction, int PerRound, DropoutSettings Dropout, SpeedSettings Speed)
{
    public int SampledPerRound => PerRound > 0 ? PerRound : Math.Max(1, (int)Math.Round(Fraction * Count));
}

/// <summary>Seeded simulated dropout: every client drops a round with <see cref="Probability"/>; a seeded
/// <see cref="FlakyFraction"/> of clients are flaky and drop with <see cref="FlakyProbability"/> instead.</summary>
public sealed record DropoutSettings(double Probability, double FlakyFraction, double FlakyProbability);

/// <summary>Seeded simulated device speeds: samples per second, log-normal around <see cref="SamplesPerSecond"/>
/// with σ = <see cref="Sigma"/>, plus a fixed per-round link time (model down and update up).</summary>
public sealed record SpeedSettings(double SamplesPerSecond, double Sigma, double LinkSeconds);

/// <param name="DeadlineSeconds">Simulated round deadline; clients whose simulated finish is later miss the round. 0 = none.</param>
/// <param name="Timeout">Wall-clock safety timeout for real failures (a crashed entity, a lost message).</param>
/// <param name="EvaluateEvery">Evaluate the global model every k rounds (and always on the last).</param>
/// <param name="Health">What a round that leaves the run unsound does (null: <see cref="Simulation.HealthSettings.Default"/>).</param>
/// <param name="MaxInFlight">Requests (training, personal evaluation) the server has out at once; the rest wait.</param>
public sealed record RoundSettings(double DeadlineSeconds, TimeSpan Timeout, int EvaluateEvery, Simulation.HealthSettings? Health = null, int MaxInFlight = 256)
{
    public Simulation.HealthSettings HealthOrDefault => Health ?? Simulation.HealthSettings.Default;
}

/// <param name="Workers">Clients trained at once per node (0 = one per core).</param>
/// <param name="ThreadsPerWorker">Torch intra-op threads for each of them.</param>
/// <param name="BatchClients">Clients trained together in one batched call (1: one at a time; <see cref="Training.ClientBatching"/>).</param>
/// <param name="BatchWait">How long a node's worker waits for more tasks before it runs a batch that is not full.</param>
public sealed record DeviceSettings(string Device, int Workers, int ThreadsPerWorker, int BatchClients = 1, TimeSpan BatchWait = default)
{
    public int EffectiveWorkers => Workers > 0 ? Workers : Environment.ProcessorCount;
}

/// <summary>Who attacks, how, and from when (<c>fedactors.attack</c>).</summary>
/// <param name="Kind">A registered attack name, or <c>none</c>.</param>
/// <param name="Fraction">Share of the population that is malicious, chosen by a seeded draw (ignored when
/// <paramref name="Ids"/> is not empty).</param>
/// <param name="Ids">Explicit malicious client ids.</param>
/// <param name="StartRound">First round in which the malicious clients attack; before it they behave honestly.</param>
/// <param name="Knowledge"><c>colluders</c>: the attack sees the malicious clients' own honest updates (default);
/// <c>benign</c>: it sees every benign update of the round (full knowledge); <c>all</c>: every update of the round, benign and
/// the colluders' honest ones (SkyMask's reference code).</param>
/// <param name="Options">The attack's own section, <c>fedactors.attack.&lt;kind&gt;</c>.</param>
/// <param name="Pill">The Pill augmentation around the base attack (null or disabled: off).</param>
public sealed record AttackSettings(string Kind, double Fraction, int[] Ids, int StartRound, string Knowledge, IOptionReader? Options,
    Attacks.PillOptions? Pill = null)
{
    public static readonly AttackSettings None = new("none", 0, [], 1, "colluders", null);
    public bool Enabled => Kind != "none";
}

/// <summary>The personalisation method and the PFLlib evaluation protocol (<c>fedactors.personalization</c>).</summary>
/// <param name="Method">A registered method name, or <c>none</c> (FedAvg, the global model evaluated).</param>
/// <param name="Options">The method's own section, <c>fedactors.personalization.&lt;method&gt;</c>.</param>
/// <param name="EvaluateClients">Clients whose personalised models are evaluated in an evaluation round: 0 = all (PFLlib),
/// else a seeded sample of this many, drawn afresh each evaluation round.</param>
/// <param name="Evaluate">Whose personal models count (<c>fedactors.personalization.evaluate</c>): <see cref="EvaluateAuto"/>,
/// <see cref="EvaluateBenign"/> or <see cref="EvaluateAll"/>.</param>
public sealed record PersonalisationSettings(string Method, IOptionReader? Options, int EvaluateClients = 0, string Evaluate = PersonalisationSettings.EvaluateAuto)
{
    /// <summary>The benign clients when the run has an attack, else every client.</summary>
    public const string EvaluateAuto = "auto";

    /// <summary>Never the clients <c>fedactors.attack.fraction</c>/<c>ids</c> make malicious, even with
    /// <c>attack.kind = none</c>: a no-attack baseline over the population an attacked run evaluates (what the matrix's
    /// "increase over none" compares).</summary>
    public const string EvaluateBenign = "benign";

    /// <summary>Every client, the attacker's own personal models included.</summary>
    public const string EvaluateAll = "all";

    public static readonly IReadOnlyList<string> EvaluateModes = [EvaluateAuto, EvaluateBenign, EvaluateAll];

    public static readonly PersonalisationSettings None = new(Core.Personalisation.PersonalisationRegistry.None, null);
    public bool Enabled => Method != Core.Personalisation.PersonalisationRegistry.None;

    /// <summary>Populations up to this evaluate every client under <c>evaluate-clients = auto</c>; larger ones a sample of this many.</summary>
    public const int AutoEvaluationLimit = 10_000;

    /// <summary><c>auto</c>: every client (0) up to <see cref="AutoEvaluationLimit"/> clients — every population PFLlib's
    /// experiments use — and a seeded sample of that many beyond, so an evaluation round of a cross-device population costs
    /// a bounded time.</summary>
    public static int AutoEvaluateClients(int population) => population <= AutoEvaluationLimit ? 0 : AutoEvaluationLimit;

    /// <summary>Clients evaluated in an evaluation round, out of <paramref name="population"/>.</summary>
    public int EvaluatedOf(int population) => EvaluateClients <= 0 || EvaluateClients >= population ? population : EvaluateClients;
}
