using System.Collections.Immutable;
using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <summary>One client's contribution to a round, as the server receives it.</summary>
/// <param name="Delta">Δ = w_local − w_global.</param>
/// <param name="NumSamples">Local training samples, the FedAvg weight.</param>
public sealed record ClientUpdate(int ClientId, ParameterVector Delta, int NumSamples, double TrainLoss);

/// <summary>What the rule is told about the round (never who is malicious).</summary>
/// <param name="Seed">The experiment seed, for rules that draw (with <c>Purpose.Defence</c>).</param>
/// <param name="RootUpdate">The server's update on its clean root set, for FLTrust and SkyMask; null when there is none.</param>
/// <param name="Server">The server's model and root data, for rules that compute with them (SkyMask); set when the
/// rule runs on a device worker's thread.</param>
public sealed record RoundContext(int Round, ParameterVector Global, int Selected, long Seed = 0, ParameterVector? RootUpdate = null,
    ServerResources? Server = null);

/// <summary>Torch resources of the server side, valid only on the worker thread that runs the aggregation.</summary>
public sealed record ServerResources(Models.SplitModel Model, Data.Dataset Data, int[] RootIndices, Training.TrainOptions Train);

/// <summary>The aggregate update and the clients whose updates went into it.</summary>
public sealed record AggregationResult(ParameterVector Delta, ImmutableArray<int> Accepted)
{
    /// <summary>What the rule measured on its way to the verdict this round (e.g. SkyMask's cluster separation), by name;
    /// each round's values become a <c>DefenceMeasured</c> run event. Null for rules that measure nothing worth logging.</summary>
    public IReadOnlyDictionary<string, double>? Diagnostics { get; init; }
}

/// <summary>
/// A server-side aggregation rule. Updates arrive validated (finite, right length) and sorted by client id; drops
/// and rejections were counted before the call. A rule must give the same result for the same updates whatever
/// order they arrived in.
/// </summary>
public interface IAggregationRule
{
    AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates);

    /// <summary>Throws <see cref="RulePreconditionException"/> when the rule cannot work on rounds of
    /// <paramref name="updates"/> updates (e.g. Krum's n &gt; 2f + 2). Checked at config time and before each round.</summary>
    void Validate(int updates) { }

    /// <summary>Whether the rule needs the server's root-set update Δ₀ in <see cref="RoundContext.RootUpdate"/>.</summary>
    bool NeedsRootUpdate => false;
}
