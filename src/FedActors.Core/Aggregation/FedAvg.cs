using System.Collections.Immutable;
using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <summary>
/// FedAvg — McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
/// AISTATS 2017. The aggregate is the sample-weighted mean of the clients' Δ: Σ nₖ·Δₖ / Σ nₖ.
/// </summary>
/// <remarks>Sums run in double precision in the order given (client-id order), so the result is bit-identical
/// whatever order the updates arrived in.</remarks>
public sealed class FedAvg : IAggregationRule
{
    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates) =>
        new(WeightedMean(updates), [.. updates.Select(u => u.ClientId)]);

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
