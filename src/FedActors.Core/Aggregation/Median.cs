namespace FedActors.Core.Aggregation;

/// <summary>
/// Coordinate-wise median — Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards
/// Optimal Statistical Rates", ICML 2018. Each coordinate of the aggregate is the median of that coordinate over the
/// updates (the mean of the two middle values for an even count). Every client counts as accepted: the rule filters
/// values, not clients.
/// </summary>
public sealed class Median : IAggregationRule
{
    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates) =>
        new(Of(updates.Select(u => u.Delta.Values).ToArray()).ToVector(), [.. updates.Select(u => u.ClientId)]);

    public static float[] Of(IReadOnlyList<float[]> vs) => VectorMath.Coordinatewise(vs, VectorMath.MedianInPlace);
}
