namespace FedActors.Core.Aggregation;

/// <summary>Aggregation rules by their config name (<c>fedactors.defence.rule</c>). One line per rule, alphabetical.</summary>
public static class AggregationRegistry
{
    private static readonly IReadOnlyDictionary<string, Func<IAggregationRule>> Factories =
        new SortedDictionary<string, Func<IAggregationRule>>(StringComparer.Ordinal)
        {
            ["fedavg"] = () => new FedAvg(),
        };

    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)Factories.Keys;

    public static IAggregationRule Create(string name) =>
        Factories.TryGetValue(name, out var f)
            ? f()
            : throw new ArgumentException($"unknown aggregation rule '{name}'; valid: {string.Join(", ", Names)}");
}
