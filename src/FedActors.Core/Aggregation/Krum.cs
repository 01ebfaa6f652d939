using System.Collections.Immutable;
using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <param name="F">Malicious clients the rule tolerates. Needs n &gt; 2f + 2 (checked unless <see cref="CheckPrecondition"/> is off).</param>
public sealed record KrumOptions(int F, bool CheckPrecondition = true)
{
    /// <param name="rule">The rule named in the error (Multi-Krum shares Krum's precondition).</param>
    public void Validate(int n, string rule = "krum")
    {
        if (F < 0) throw new ArgumentOutOfRangeException(nameof(F), F, "f must be ≥ 0");
        if (CheckPrecondition && n <= 2 * F + 2)
            throw new RulePreconditionException(rule, $"needs n > 2f + 2, got n = {n}, f = {F}");
    }
}

/// <summary>
/// Krum — Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine Tolerant Gradient
/// Descent", NeurIPS 2017. Each update is scored by the summed squared distance to its n − f − 2 nearest other
/// updates; the update with the lowest score is the aggregate.
/// </summary>
/// <remarks>Ties go to the lowest client id (updates arrive in client-id order).</remarks>
public sealed class Krum(KrumOptions options) : IAggregationRule
{
    public void Validate(int updates) => options.Validate(updates);

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        options.Validate(updates.Count);
        int pick = Select(updates.Select(u => u.Delta.Values).ToArray(), options.F);
        return new AggregationResult(updates[pick].Delta, [updates[pick].ClientId]);
    }

    /// <summary>Krum scores: Σ of the n − f − 2 smallest squared distances from each update to the others.</summary>
    public static double[] Scores(IReadOnlyList<float[]> vs, int f)
    {
        int n = vs.Count;
        int k = Math.Max(0, n - f - 2);
        var d = VectorMath.PairwiseSquaredDistances(vs);
        var scores = new double[n];
        for (int i = 0; i < n; i++)
        {
            var others = Enumerable.Range(0, n).Where(j => j != i).Select(j => d[i, j]).Order().Take(k);
            scores[i] = others.Sum();
        }
        return scores;
    }

    /// <summary>Index of the Krum choice.</summary>
    public static int Select(IReadOnlyList<float[]> vs, int f)
    {
        var s = Scores(vs, f);
        int best = 0;
        for (int i = 1; i < s.Length; i++) if (s[i] < s[best]) best = i;
        return best;
    }
}

/// <param name="M">Updates to average; 0 = n − 2f − 2, as the NDSS'21 and SkyMask reference code select.</param>
public sealed record MultiKrumOptions(int F, int M = 0, bool CheckPrecondition = true)
{
    public int SelectionSize(int n) => M > 0 ? M : n - 2 * F - 2;

    public void Validate(int n)
    {
        new KrumOptions(F, CheckPrecondition).Validate(n, "multi-krum");
        if (SelectionSize(n) < 1 || SelectionSize(n) > n)
            throw new RulePreconditionException("multi-krum", $"would select m = {(M > 0 ? "" : "n − 2f − 2 = ")}{SelectionSize(n)} of n = {n} updates (f = {F})");
    }
}

/// <summary>
/// Multi-Krum — Blanchard et al., NeurIPS 2017. Repeatedly picks the Krum choice among the remaining updates
/// (re-scoring after each removal) until m are selected, then averages them.
/// </summary>
/// <remarks>The paper leaves m free; the default m = n − 2f − 2 and re-scoring after each pick follow the reference
/// code of Shejwalkar &amp; Houmansadr (NDSS'21) and SkyMask. The mean is unweighted, as there.</remarks>
public sealed class MultiKrum(MultiKrumOptions options) : IAggregationRule
{
    public void Validate(int updates) => options.Validate(updates);

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        options.Validate(updates.Count);
        var chosen = SelectIndices(updates.Select(u => u.Delta.Values).ToArray(), options.F, options.SelectionSize(updates.Count));
        var picked = chosen.Order().Select(i => updates[i]).ToArray();
        return new AggregationResult(VectorMath.Mean(picked.Select(u => u.Delta.Values).ToArray()).ToVector(), [.. picked.Select(u => u.ClientId)]);
    }

    /// <summary>Indices chosen by iterated Krum, in the order they were picked.</summary>
    public static List<int> SelectIndices(IReadOnlyList<float[]> vs, int f, int m)
    {
        var remaining = Enumerable.Range(0, vs.Count).ToList();
        var chosen = new List<int>();
        while (chosen.Count < m && remaining.Count > 0)
        {
            int local = Krum.Select(remaining.Select(i => vs[i]).ToArray(), f);
            chosen.Add(remaining[local]);
            remaining.RemoveAt(local);
        }
        return chosen;
    }
}
