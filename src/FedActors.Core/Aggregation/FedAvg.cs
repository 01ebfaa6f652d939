using System.Collections.Immutable;
using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <summary>
/// FedAvg — McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
/// AISTATS 2017. The aggregate is the sample-weighted mean of the clients' Δ: Σ nₖ·Δₖ / Σ nₖ.
/// </summary>
/// <remarks>The sum is an <see cref="ExactSum"/> (fixed point, order-free), so the server can add updates as they arrive and
/// keep no update (<see cref="IStreamingRule"/>), with the same bits as this rule on the whole list, whatever the arrival
/// order or node count. <c>fedactors.defence.fedavg.summation = ordered</c> gives the earlier reading instead: a double
/// sum of nₖ/Σn·Δₖ in client-id order (results up to this change were measured with it), which needs every update kept.</remarks>
/// <param name="weighting"><c>samples</c>: Σ nₖ·Δₖ / Σ nₖ (McMahan et al., PFLlib); <c>uniform</c>: (1/n) Σ Δₖ, as SkyMask's and
/// FLPoison's reference code average client models.</param>
public sealed class FedAvg(string summation = FedAvg.Exact, string weighting = FedAvg.BySamples) : IStreamingRule
{
    public const string Exact = "exact";
    public const string Ordered = "ordered";
    public const string BySamples = "samples";
    public const string Uniform = "uniform";

    public int Weight(ClientUpdate update) => weighting == Uniform ? 1 : update.NumSamples;

    /// <summary>Whether updates may be summed as they arrive (exact summation) or must all be kept (ordered).</summary>
    public bool Streams => summation == Exact;

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        if (!Streams) return new(WeightedMean([.. updates.Select(u => u with { NumSamples = Weight(u) })]), [.. updates.Select(u => u.ClientId)]);
        if (updates.Count == 0) throw new ArgumentException("FedAvg needs at least one update", nameof(updates));
        var sum = new ExactSum(updates[0].Delta.Length);
        foreach (var u in updates) sum.Add(u.Delta, Weight(u));
        return new(Finish(sum), [.. updates.Select(u => u.ClientId)]);
    }

    public ParameterVector Finish(ExactSum sum) => sum.Mean();

    /// <summary>Σ nₖ·Δₖ / Σ nₖ; the zero vector of the right length when there are no updates is the caller's job.</summary>
    public static ParameterVector WeightedMean(IReadOnlyList<ClientUpdate> updates)
    {
        if (updates.Count == 0) throw new ArgumentException("FedAvg needs at least one update", nameof(updates));
        int length = updates[0].Delta.Length;
        double total = updates.Sum(u => (double)u.NumSamples);
        if (total <= 0) throw new ArgumentException("FedAvg needs a positive total sample count", nameof(updates));
        var acc = new double[length];
        foreach (var u in updates)
        {
            if (u.Delta.Length != length) throw new ArgumentException($"client {u.ClientId}: update length {u.Delta.Length} ≠ {length}");
            double w = u.NumSamples / total;
            var v = u.Delta.Values;
            for (int i = 0; i < length; i++) acc[i] += w * v[i];
        }
        var result = new float[length];
        for (int i = 0; i < length; i++) result[i] = (float)acc[i];
        return new ParameterVector(result);
    }
}
