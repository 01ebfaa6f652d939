using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>The server's update: w ← w + aggregate(Δ). With no usable update, or fewer than the rule needs (dropouts
/// can shrink a round below Krum's n &gt; 2f + 2), the global model stays as it was.</summary>
public static class ServerStep
{
    /// <returns>The new global model, and the rule's result (null when nothing was aggregated).</returns>
    public static (ParameterVector Global, AggregationResult? Result) Apply(IAggregationRule rule, ParameterVector global, RoundState round, long seed = 0)
    {
        var updates = round.OrderedUpdates;
        if (updates.Count == 0) return (global, null);
        try { rule.Validate(updates.Count); }
        catch (RulePreconditionException) { return (global, null); }
        var result = rule.Aggregate(new RoundContext(round.Round, global, round.Selected.Count, seed), updates);
        return (global.Add(result.Delta), result);
    }
}
