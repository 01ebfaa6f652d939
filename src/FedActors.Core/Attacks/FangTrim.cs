using FedActors.Core.Aggregation;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="Knowledge"><c>partial</c>: bounds μ ± [3σ, 4σ] from the known (the colluders' own) updates;
/// <c>full</c>: the extremes of the known (all benign) updates, scaled by b.</param>
/// <param name="B">b of the full-knowledge draw (2 in the paper).</param>
public sealed record FangTrimOptions(string Knowledge = "partial", double B = 2);

/// <summary>
/// Fang's Trim (median) attack — Fang, Cao, Jia, Gong, "Local Model Poisoning Attacks to Byzantine-Robust Federated
/// Learning", USENIX Security 2020. Per coordinate j, with s_j the sign of the known updates' sum: full knowledge
/// sends a value beyond the benign extreme opposite to s_j (below w_min,j when s_j &gt; 0: uniform in
/// [w_min/b, w_min] if w_min &gt; 0, else [b·w_min, w_min]; mirrored with w_max when s_j ≤ 0); partial knowledge
/// draws from [μ − 4σ, μ − 3σ] (or [μ + 3σ, μ + 4σ]). Each malicious client draws its own values.
/// </summary>
/// <remarks>Mirror-symmetric, so it acts the same in Δ = w_local − w_global as in the paper's u = −Δ.</remarks>
public sealed class FangTrim(FangTrimOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        var vs = known.Select(k => k.Delta.Values).ToArray();
        return malicious.ToDictionary(m => m.ClientId,
            m => Of(vs, options, SeedStream.Rng(context.Seed, context.Round, m.ClientId, Purpose.Attack)).ToVector());
    }

    public static float[] Of(IReadOnlyList<float[]> known, FangTrimOptions o, Rng rng)
    {
        int d = known[0].Length;
        var mu = VectorMath.Mean(known);
        var sigma = VectorMath.Std(known, mu);
        var result = new float[d];
        for (int j = 0; j < d; j++)
        {
            bool positive = mu[j] > 0; // sign of the sum = sign of the mean
            double u = rng.NextDouble();
            if (o.Knowledge == "partial")
            {
                double k = 3 + u; // in [3, 4]
                result[j] = (float)(positive ? mu[j] - k * sigma[j] : mu[j] + k * sigma[j]);
                continue;
            }
            double lo = double.MaxValue, hi = double.MinValue;
            foreach (var v in known) { lo = Math.Min(lo, v[j]); hi = Math.Max(hi, v[j]); }
            double a, b;
            if (positive) (a, b) = lo > 0 ? (lo / o.B, lo) : (o.B * lo, lo);
            else (a, b) = hi > 0 ? (hi, o.B * hi) : (hi, hi / o.B);
            result[j] = (float)(a + u * (b - a));
        }
        return result;
    }
}
