namespace FedActors.Core.Aggregation;

/// <summary>A rule was asked to aggregate a round that violates its precondition (e.g. Krum's n &gt; 2f + 2).
/// Config validation checks the same condition up front; this guards rounds that shrink through dropouts.</summary>
public sealed class RulePreconditionException(string rule, string message) : Exception($"{rule}: {message}")
{
    public string Rule { get; } = rule;
}
