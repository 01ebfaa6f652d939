using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>The server's update: w ← w + aggregate(Δ). With no usable update the global model stays as it was.</summary>
public static class ServerStep
{
    public static ParameterVector Apply(IAggregationRule rule, ParameterVector global, RoundState round)
    {
        var updates = round.OrderedUpdates;
        if (updates.Count == 0) return global;
        var result = rule.Aggregate(new RoundContext(round.Round, global, round.Selected.Count), updates);
        return global.Add(result.Delta);
    }
}
