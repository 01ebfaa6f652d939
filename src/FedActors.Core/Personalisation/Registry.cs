using FedActors.Core.Config;

namespace FedActors.Core.Personalisation;

/// <summary>
/// Personalisation methods by their config name (<c>fedactors.personalization.method</c>); each reads its own options
/// from <c>fedactors.personalization.&lt;name&gt;</c>. <c>none</c> is plain FedAvg with the global model evaluated.
/// One line per method, alphabetical.
/// </summary>
public static class PersonalisationRegistry
{
    public const string None = "none";

    private static readonly IReadOnlyDictionary<string, Func<IOptionReader, IPersonalisation>> Factories =
        new SortedDictionary<string, Func<IOptionReader, IPersonalisation>>(StringComparer.Ordinal)
        {
            ["dbe"] = o => new FedDbeMethod(new FedDbeOptions(o.Double("momentum", 0, 1), o.Double("kappa", 0))),
            ["fedala"] = o => new FedAlaMethod(new FedAlaOptions(o.Double("eta", 0), o.Int("sample-percent", 0, 100), o.Int("adapted-tensors", 0),
                o.Double("threshold", 0), o.Int("num-pre-loss", 1), MaxPasses: o.Int("max-passes", 1), KeepWholeModel: o.OneOf("keep", "adapted", "whole") == "whole")),
            ["fedcp"] = o => new FedCpMethod(new FedCpOptions(o.Double("lambda", 0), o.Double("tau", 1e-6), o.Double("head-mix", 0, 1), o.Bool("noisy-evaluation"))),
            ["gpfl"] = o => new GpflMethod(new GpflOptions(o.Double("lambda", 0), o.Double("mu", 0))),
            ["local"] = _ => new LocalMethod(),
        };

    public static IReadOnlyCollection<string> Names => [None, .. Factories.Keys];

    /// <summary>The method, or null for <c>none</c>.</summary>
    public static IPersonalisation? Create(string name, IOptionReader options) =>
        name == None ? null
        : Factories.TryGetValue(name, out var f) ? f(options)
        : throw new ArgumentException($"unknown personalisation method '{name}'; valid: {string.Join(", ", Names)}");
}
