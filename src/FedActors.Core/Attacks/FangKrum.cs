using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="MinLambda">Give up halving λ below this (1e-5 in the paper).</param>
public sealed record FangKrumOptions(double MinLambda = 1e-5);

/// <summary>
/// Fang's Krum attack — Fang et al., USENIX Security 2020. All malicious clients send Δ' = −λ·s, s = sign of the
/// known updates' sum (u' = −λ·s in the paper's u = −Δ). λ starts at
/// λ₀ = min_i Σ_{l ∈ N_i} ‖Δ_l − Δ_i‖ / ((m − 2f − 1)√d) + max_i ‖Δ_i‖/√d (N_i: the m − f − 2 known updates
/// nearest to Δ_i; m = clients in the round) and is halved until Krum (with f) on the f crafted copies plus the known
/// updates picks a crafted copy, or λ &lt; <see cref="FangKrumOptions.MinLambda"/>; then μ − λ·s is sent.
/// </summary>
/// <remarks>λ₀ follows the paper; the NDSS/SkyMask code divides by (|B| − f − 1)√d and uses max ‖Δ_i − μ‖/√d.</remarks>
public sealed class FangKrum(FangKrumOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        var crafted = Of(known.Select(k => k.Delta.Values).ToArray(), context.Selected, Math.Max(1, context.Malicious), options).ToVector();
        return malicious.ToDictionary(m => m.ClientId, _ => crafted);
    }

    public static float[] Of(IReadOnlyList<float[]> known, int m, int f, FangKrumOptions o)
    {
        int n = known.Count, d = known[0].Length;
        var mu = VectorMath.Mean(known);
        var s = mu.Select(x => (float)Math.Sign(x)).ToArray();
        double sqrtD = Math.Sqrt(d);
        int neighbours = Math.Max(1, Math.Min(n - 1, m - f - 2));
        double minSum = Enumerable.Range(0, n).Min(i =>
            Enumerable.Range(0, n).Where(l => l != i).Select(l => Math.Sqrt(VectorMath.SquaredDistance(known[l], known[i]))).Order().Take(neighbours).Sum());
        double lambda = minSum / (Math.Max(1, m - 2 * f - 1) * sqrtD) + known.Max(v => VectorMath.Norm(v)) / sqrtD;
        for (; lambda >= o.MinLambda; lambda /= 2)
        {
            var candidate = s.Select(x => (float)(-lambda * x)).ToArray();
            var pool = Enumerable.Repeat(candidate, f).Concat(known).ToArray();
            if (Krum.Select(pool, f) < f) return candidate;
        }
        return mu.Select((x, j) => (float)(x - lambda * s[j])).ToArray();
    }
}
