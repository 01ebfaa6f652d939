using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="Direction">Which side of μ to push: <c>minus</c> sends μ − zσ (in Δ = w_local − w_global this is the
/// NDSS'21 reference code's μ + zσ in u = −Δ), <c>plus</c> sends μ + zσ.</param>
public sealed record LieOptions(string Direction = "minus");

/// <summary>
/// LIE, "A Little Is Enough: Circumventing Defenses for Distributed Learning" — Baruch, Baruch, Goldberg, NeurIPS 2019.
/// With s = ⌊n/2 + 1⌋ − f supporters needed, z = Φ⁻¹((n − s)/n); every malicious client sends μ ∓ z·σ, with μ and σ
/// the coordinate mean and standard deviation of the updates the attacker knows.
/// </summary>
/// <remarks>LIE is the one base attack that depends on the sign convention (σ does not flip); see
/// <see cref="LieOptions.Direction"/>. Some ports use z = Φ⁻¹((n − f − s)/(n − f)); we follow the paper.</remarks>
public sealed class Lie(LieOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        var vs = known.Select(k => k.Delta.Values).ToArray();
        var mu = VectorMath.Mean(vs);
        var sigma = VectorMath.Std(vs, mu);
        double z = Z(context.Selected, context.Malicious) * (options.Direction == "plus" ? 1 : -1);
        var crafted = mu.Select((m, j) => (float)(m + z * sigma[j])).ToArray().ToVector();
        return malicious.ToDictionary(m => m.ClientId, _ => crafted);
    }

    /// <summary>z = Φ⁻¹((n − s)/n) with s = ⌊n/2 + 1⌋ − f. For n = 100, f = 20: s = 31, z = Φ⁻¹(0.69) ≈ 0.4959.</summary>
    public static double Z(int n, int f)
    {
        int s = n / 2 + 1 - f;
        double p = (double)(n - s) / n;
        return p >= 1 ? Statistics.NormalQuantile(1 - 1e-9) : Statistics.NormalQuantile(p);
    }
}
