using FedActors.Core.Aggregation;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="Scale">κ: the malicious client sends −κ·Δ (κ = 1 in most evaluations; some use 4 or more).</param>
public sealed record SignFlipOptions(double Scale = 1);

/// <summary>Sign flipping — a standard Byzantine baseline (e.g. Damaskinos et al. 2018; the Pill paper's base attack):
/// each malicious client sends its own honest update negated and scaled, −κ·Δ.</summary>
public sealed class SignFlip(SignFlipOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious) =>
        malicious.ToDictionary(m => m.ClientId, m => Of(m.Delta.Values, options.Scale).ToVector());

    public static float[] Of(float[] delta, double scale) => delta.Select(v => (float)(-scale * v)).ToArray();
}
