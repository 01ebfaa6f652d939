using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="Perturbation">p: <c>unit-vector</c> (−μ/‖μ‖, default), <c>sign</c> (−sign(μ)) or <c>std</c> (−σ).</param>
/// <param name="GammaInit">γ₀ of the search: 10 in the NDSS'21 code, 50 in SkyMask's.</param>
public sealed record AgrAgnosticOptions(string Perturbation = "unit-vector", double GammaInit = 10, double Tolerance = 1e-5);

/// <summary>
/// The AGR-agnostic attacks of Shejwalkar &amp; Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning
/// Attacks and Defenses for Federated Learning", NDSS 2021: every malicious client sends μ + γ·p, with γ as large as
/// a closeness constraint to the known benign updates allows (<see cref="MinMax"/>, <see cref="MinSum"/>).
/// </summary>
public static class AgrAgnostic
{
    public static float[] PerturbationOf(string kind, float[] mu, float[] sigma) => kind switch
    {
        "unit-vector" => Scale(mu, -1 / Math.Max(VectorMath.Norm(mu), 1e-12)),
        "sign" => mu.Select(m => (float)-Math.Sign(m)).ToArray(),
        "std" => sigma.Select(s => -s).ToArray(),
        _ => throw new ArgumentException($"unknown perturbation '{kind}'; valid: unit-vector, sign, std"),
    };

    /// <summary>The reference code's search: γ = γ₀, step = γ₀; while |γ_succ − γ| &gt; tol: on success γ_succ = γ and
    /// γ += step/2, else γ −= step/2; step /= 2. Returns γ_succ (0 if nothing succeeded).</summary>
    public static double SearchGamma(Func<double, bool> holds, double gammaInit, double tolerance)
    {
        double gamma = gammaInit, step = gammaInit, success = 0;
        while (Math.Abs(success - gamma) > tolerance)
        {
            if (holds(gamma)) { success = gamma; gamma += step / 2; }
            else gamma -= step / 2;
            step /= 2;
        }
        return success;
    }

    /// <summary>Crafts μ + γ·p from the known updates with the given constraint on the candidate.</summary>
    public static float[] Craft(IReadOnlyList<float[]> known, AgrAgnosticOptions o, Func<float[], IReadOnlyList<float[]>, bool> constraint)
    {
        var mu = VectorMath.Mean(known);
        var p = PerturbationOf(o.Perturbation, mu, VectorMath.Std(known, mu));
        float[] At(double gamma) => mu.Select((m, j) => (float)(m + gamma * p[j])).ToArray();
        double g = SearchGamma(gamma => constraint(At(gamma), known), o.GammaInit, o.Tolerance);
        return At(g);
    }

    /// <summary>Every malicious client sends the same crafted update.</summary>
    public static IReadOnlyDictionary<int, ParameterVector> SameForAll(IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious,
        Func<IReadOnlyList<float[]>, float[]> craft)
    {
        var crafted = craft(known.Select(k => k.Delta.Values).ToArray()).ToVector();
        return malicious.ToDictionary(m => m.ClientId, _ => crafted);
    }

    private static float[] Scale(float[] v, double s) => v.Select(x => (float)(x * s)).ToArray();
}

/// <summary>Min-Max (NDSS 2021): the largest γ with max_i ‖μ + γp − Δ_i‖² ≤ max_{i,j} ‖Δ_i − Δ_j‖².</summary>
public sealed class MinMax(AgrAgnosticOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious) =>
        AgrAgnostic.SameForAll(known, malicious, vs => Of(vs, options));

    public static float[] Of(IReadOnlyList<float[]> known, AgrAgnosticOptions o)
    {
        var d = VectorMath.PairwiseSquaredDistances(known);
        double bound = 0;
        foreach (var x in d) bound = Math.Max(bound, x);
        return AgrAgnostic.Craft(known, o, (candidate, vs) => vs.Max(v => VectorMath.SquaredDistance(candidate, v)) <= bound);
    }
}

/// <summary>Min-Sum (NDSS 2021): the largest γ with Σ_i ‖μ + γp − Δ_i‖² ≤ min_i Σ_j ‖Δ_i − Δ_j‖².</summary>
/// <remarks>The right-hand side uses <b>min</b> as the official code and SkyMask do (the paper is often quoted with max).</remarks>
public sealed class MinSum(AgrAgnosticOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious) =>
        AgrAgnostic.SameForAll(known, malicious, vs => Of(vs, options));

    public static float[] Of(IReadOnlyList<float[]> known, AgrAgnosticOptions o)
    {
        var d = VectorMath.PairwiseSquaredDistances(known);
        int n = known.Count;
        double bound = Enumerable.Range(0, n).Min(i => Enumerable.Range(0, n).Sum(j => d[i, j]));
        return AgrAgnostic.Craft(known, o, (candidate, vs) => vs.Sum(v => VectorMath.SquaredDistance(candidate, v)) <= bound);
    }
}
