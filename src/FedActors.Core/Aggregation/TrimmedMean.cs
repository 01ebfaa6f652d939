namespace FedActors.Core.Aggregation;

/// <param name="Beta">Values trimmed from each end of every coordinate; the reference code uses β = f. Needs n &gt; 2β.</param>
public sealed record TrimmedMeanOptions(int Beta)
{
    public void Validate(int n)
    {
        if (Beta < 0) throw new ArgumentOutOfRangeException(nameof(Beta), Beta, "β must be ≥ 0");
        if (n <= 2 * Beta) throw new RulePreconditionException("trimmed-mean", $"needs n > 2β, got n = {n}, β = {Beta}");
    }
}

/// <summary>
/// Coordinate-wise trimmed mean — Yin et al., ICML 2018. Per coordinate, the β largest and β smallest values are
/// dropped and the rest averaged.
/// </summary>
public sealed class TrimmedMean(TrimmedMeanOptions options) : IAggregationRule
{
    public void Validate(int updates) => options.Validate(updates);

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        options.Validate(updates.Count);
        return new(Of(updates.Select(u => u.Delta.Values).ToArray(), options.Beta).ToVector(), [.. updates.Select(u => u.ClientId)]);
    }

    public static float[] Of(IReadOnlyList<float[]> vs, int beta) =>
        VectorMath.Coordinatewise(vs, column =>
        {
            Array.Sort(column);
            double s = 0;
            for (int i = beta; i < column.Length - beta; i++) s += column[i];
            return s / (column.Length - 2 * beta);
        });
}
