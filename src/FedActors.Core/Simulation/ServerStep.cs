using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>The server's update: w ← w + aggregate(Δ). With no usable update, or fewer than the rule needs (dropouts
/// can shrink a round below Krum's n &gt; 2f + 2), the global model stays as it was.</summary>
public static class ServerStep
{
    /// <returns>The new global model, the rule's result, and when nothing was aggregated (the result null) why: no usable
    /// update, or the rule's precondition (<c>multi-krum: needs n &gt; 2f + 2, got n = 4, f = 2</c>), so that a round that
    /// kept the model is reported, not only seen as a flat accuracy.</returns>
    /// <param name="updates">The round's valid updates in client-id order.</param>
    /// <param name="serverLearningRate">η_g in w ← w + η_g·aggregate(Δ).</param>
    /// <param name="rootUpdate">The server's root-set update, for rules that use one.</param>
    /// <param name="server">Torch resources for rules that compute (SkyMask); only on a worker thread.</param>
    public static (ParameterVector Global, AggregationResult? Result, string? NotAggregated) Apply(IAggregationRule rule, ParameterVector global, int round, int selected,
        IReadOnlyList<ClientUpdate> updates, long seed = 0, double serverLearningRate = 1.0, ParameterVector? rootUpdate = null, ServerResources? server = null)
    {
        if (updates.Count == 0) return (global, null, NoUpdate);
        try { rule.Validate(updates.Count); }
        catch (RulePreconditionException e) { return (global, null, e.Message); }
        var result = rule.Aggregate(new RoundContext(round, global, selected, seed, rootUpdate, server), updates);
        return (Step(global, result.Delta, serverLearningRate), result, null);
    }

    /// <summary>Why a round with no usable update kept the model.</summary>
    public const string NoUpdate = "no update to aggregate";

    /// <summary>w + η_g·aggregate: the step itself, also for an aggregate a streaming server summed as updates arrived.</summary>
    public static ParameterVector Step(ParameterVector global, ParameterVector aggregate, double serverLearningRate) =>
        global.Add(serverLearningRate == 1.0 ? aggregate : new ParameterVector(aggregate.Values.Select(v => (float)(serverLearningRate * v)).ToArray()));

    /// <summary>The whole server step of a round on a worker's thread: the root update when the rule needs one, then
    /// <see cref="Apply"/>. Shared by the device worker and the plain loop.</summary>
    public static (ParameterVector Global, AggregationResult? Result, string? NotAggregated) Run(Experiment experiment, Training.WorkerSlot slot, IAggregationRule rule,
        ParameterVector global, int round, int selected, IReadOnlyList<ClientUpdate> updates)
    {
        var s = experiment.Settings;
        var root = rule.NeedsRootUpdate && updates.Count > 0 ? experiment.TrainRoot(slot, global, round).Delta : null;
        var server = new ServerResources(slot.Model, experiment.Work, experiment.RootIndices, s.Train);
        return Apply(rule, global, round, selected, updates, s.Seed, s.ServerOrDefault.LearningRate, root, server);
    }
}
