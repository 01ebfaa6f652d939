using FedActors.Core.Aggregation;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <param name="Sigma">σ of the noise each malicious client sends; FLTrust-style evaluations use 200.</param>
public sealed record GaussianNoiseOptions(double Sigma = 200);

/// <summary>Gaussian noise — a standard Byzantine baseline (e.g. Blanchard et al. 2017; FLTrust's evaluation): each
/// malicious client sends N(0, σ²I), drawn from its own seeded stream (seed, round, client, Attack).</summary>
public sealed class GaussianNoise(GaussianNoiseOptions options) : IModelPoisoningAttack
{
    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious) =>
        malicious.ToDictionary(m => m.ClientId, m =>
        {
            var rng = SeedStream.Rng(context.Seed, context.Round, m.ClientId, Purpose.Attack);
            return Enumerable.Range(0, m.Delta.Length).Select(_ => (float)(options.Sigma * rng.NextGaussian())).ToArray().ToVector();
        });
}
