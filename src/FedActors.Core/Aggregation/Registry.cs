using FedActors.Core.Config;

namespace FedActors.Core.Aggregation;

/// <summary>
/// Aggregation rules by their config name (<c>fedactors.defence.rule</c>); each reads its own options from
/// <c>fedactors.defence.&lt;name&gt;</c>. One line per rule, alphabetical. Names are written here once.
/// </summary>
public static class AggregationRegistry
{
    private static readonly IReadOnlyDictionary<string, Func<IOptionReader, IAggregationRule>> Factories =
        new SortedDictionary<string, Func<IOptionReader, IAggregationRule>>(StringComparer.Ordinal)
        {
            ["bulyan"] = o => new Bulyan(new BulyanOptions(o.Int("f", 0), o.Bool("check-precondition"))),
            ["dnc"] = o => new DnC(new DnCOptions(o.Int("f", 0), o.Int("iterations", 1), o.Int("subsample-size", 1), o.Double("filter-fraction", 0))),
            ["fedavg"] = o => new FedAvg(o is DictionaryOptions d && !d.Has("summation") ? FedAvg.Exact : o.OneOf("summation", FedAvg.Exact, FedAvg.Ordered),
                o is DictionaryOptions e && !e.Has("weighting") ? FedAvg.BySamples : o.OneOf("weighting", FedAvg.BySamples, FedAvg.Uniform)),
            ["flame"] = o => new Flame(new FlameOptions(o.Double("noise-lambda", 0), o.OneOf("distance-on", "updates", "models"))),
            ["fltrust"] = _ => new FLTrust(),
            ["krum"] = o => new Krum(new KrumOptions(o.Int("f", 0), o.Bool("check-precondition"))),
            ["median"] = _ => new Median(),
            ["multi-krum"] = o => new MultiKrum(new MultiKrumOptions(o.Int("f", 0), o.Int("m", 0), o.Bool("check-precondition"))),
            ["skymask"] = o => new SkyMask(new SkyMaskOptions(o.Double("mask-learning-rate", 0, double.MaxValue, exclusive: true),
                o.Double("mask-gradient-clamp", 0, double.MaxValue, exclusive: true),
                o.Int("max-iterations", 1), o.Double("early-stop-delta", 0), o.Double("threshold", 0, 1, exclusive: true), o.OneOf("no-attack-check", "separation", "bic", "off"),
                o.OneOf("benign-cluster", "root", "largest"), o.Double("min-separation", 0), o.OneOf("root-scale", "raw", "client-mean"),
                o.OneOf("step-order", "step-then-check", "check-then-step"))),
            ["trimmed-mean"] = o => new TrimmedMean(new TrimmedMeanOptions(o.Int("beta", 0))),
        };

    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)Factories.Keys;

    /// <param name="options">The rule's own section; rules without options ignore it.</param>
    public static IAggregationRule Create(string name, IOptionReader options) =>
        Factories.TryGetValue(name, out var f)
            ? f(options)
            : throw new ArgumentException($"unknown aggregation rule '{name}'; valid: {string.Join(", ", Names)}");

    /// <summary>A rule that takes no options (tests, the plain loop's default).</summary>
    public static IAggregationRule Create(string name) => Create(name, new DictionaryOptions($"fedactors.defence.{name}", new Dictionary<string, object>()));
}
