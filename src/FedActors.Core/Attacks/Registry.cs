using FedActors.Core.Config;

namespace FedActors.Core.Attacks;

/// <summary>Attacks by their config name (<c>fedactors.attack.kind</c>); each reads its own options from
/// <c>fedactors.attack.&lt;name&gt;</c>. One line per attack, alphabetical.</summary>
public static class AttackRegistry
{
    private static readonly IReadOnlyDictionary<string, Func<IOptionReader, Attack>> Factories =
        new SortedDictionary<string, Func<IOptionReader, Attack>>(StringComparer.Ordinal)
        {
            ["fang-krum"] = o => new("fang-krum", null, new FangKrum(new FangKrumOptions(o.Double("min-lambda", 0)))),
            ["fang-trim"] = o => new("fang-trim", null, new FangTrim(new FangTrimOptions(o.OneOf("knowledge", "partial", "full"), o.Double("b", 1)))),
            ["gaussian"] = o => new("gaussian", null, new GaussianNoise(new GaussianNoiseOptions(o.Double("sigma", 0)))),
            ["label-flip"] = _ => new("label-flip", new LabelFlip(), null),
            ["lie"] = o => new("lie", null, new Lie(new LieOptions(o.OneOf("direction", "minus", "plus")))),
            ["min-max"] = o => new("min-max", null, new MinMax(AgrOptions(o))),
            ["min-sum"] = o => new("min-sum", null, new MinSum(AgrOptions(o))),
            ["scaling"] = o => Scaling(o),
            ["sign-flip"] = o => new("sign-flip", null, new SignFlip(new SignFlipOptions(o.Double("scale", 0)))),
        };

    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)Factories.Keys;

    public static Attack Create(string name, IOptionReader options) =>
        Factories.TryGetValue(name, out var f)
            ? f(options)
            : throw new ArgumentException($"unknown attack '{name}'; valid: {string.Join(", ", Names)}");

    private static AgrAgnosticOptions AgrOptions(IOptionReader o) =>
        new(o.OneOf("perturbation", "unit-vector", "sign", "std"), o.Double("gamma-init", 1e-9), o.Double("tolerance", 1e-12));

    private static Attack Scaling(IOptionReader o)
    {
        var s = new Scaling(new ScalingOptions(o.Double("fraction", 0, 1), o.Int("target-label", 0), o.Int("patch-size", 1), o.Double("patch-value"), o.Double("boost", 0)));
        return new Attack("scaling", s, s);
    }
}
