namespace FedActors.Core.Aggregation;

/// <param name="F">Malicious clients tolerated. Needs n ≥ 4f + 3.</param>
public sealed record BulyanOptions(int F, bool CheckPrecondition = true)
{
    public void Validate(int n)
    {
        if (F < 0) throw new ArgumentOutOfRangeException(nameof(F), F, "f must be ≥ 0");
        if (CheckPrecondition && n < 4 * F + 3) throw new RulePreconditionException("bulyan", $"needs n ≥ 4f + 3, got n = {n}, f = {F}");
    }
}

/// <summary>
/// Bulyan — El Mhamdi, Guerraoui, Rouault, "The Hidden Vulnerability of Distributed Learning in Byzantium",
/// ICML 2018. θ = n − 2f updates are selected by repeated Krum (removing each pick); then, per coordinate, the
/// β = θ − 2f selected values closest to their median are averaged.
/// </summary>
/// <remarks>The paper's procedure. SkyMask's code instead selects n − 2f − 2 with Multi-Krum and trims f per side.</remarks>
public sealed class Bulyan(BulyanOptions options) : IAggregationRule
{
    public void Validate(int updates) => options.Validate(updates);

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        options.Validate(updates.Count);
        var vs = updates.Select(u => u.Delta.Values).ToArray();
        int theta = vs.Length - 2 * options.F;
        var chosen = MultiKrum.SelectIndices(vs, options.F, theta).Order().ToArray();
        var selected = chosen.Select(i => vs[i]).ToArray();
        int beta = Math.Max(1, theta - 2 * options.F);
        var aggregate = VectorMath.Coordinatewise(selected, column =>
        {
            var sorted = column.ToArray();
            double median = VectorMath.MedianInPlace(sorted);
            return column.OrderBy(v => Math.Abs(v - median)).Take(beta).Average();
        });
        return new AggregationResult(aggregate.ToVector(), [.. chosen.Select(i => updates[i].ClientId)]);
    }
}
