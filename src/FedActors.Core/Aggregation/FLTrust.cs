namespace FedActors.Core.Aggregation;

/// <summary>
/// FLTrust — Cao, Fang, Liu, Gong, "FLTrust: Byzantine-robust Federated Learning via Trust Bootstrapping", NDSS 2021.
/// The server trains on its clean root set to get Δ₀. Each client's trust score is TS_i = ReLU(cos(Δ_i, Δ₀)); its
/// update is rescaled to ‖Δ₀‖ and the aggregate is Σ TS_i·(‖Δ₀‖/‖Δ_i‖)·Δ_i / Σ TS_i. Clients with TS_i = 0 are rejected.
/// </summary>
/// <remarks>The cosine is sign-convention invariant, so Δ = w_local − w_global works as the paper's u = −Δ does.
/// With every score 0 the aggregate is the zero update (the global model stays).</remarks>
public sealed class FLTrust : IAggregationRule
{
    public bool NeedsRootUpdate => true;

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        var root = context.RootUpdate ?? throw new InvalidOperationException("fltrust needs the server's root update (fedactors.server.root-samples > 0)");
        var (aggregate, scores) = Of(updates.Select(u => u.Delta.Values).ToArray(), root.Values);
        return new AggregationResult(aggregate.ToVector(), [.. updates.Where((_, i) => scores[i] > 0).Select(u => u.ClientId)]);
    }

    public static (float[] Aggregate, double[] Scores) Of(IReadOnlyList<float[]> vs, float[] root)
    {
        double rootNorm = VectorMath.Norm(root);
        var scores = vs.Select(v => Math.Max(0, VectorMath.Cosine(v, root))).ToArray();
        double total = scores.Sum();
        var acc = new double[root.Length];
        for (int i = 0; i < vs.Count; i++)
        {
            if (scores[i] == 0) continue;
            double w = scores[i] * rootNorm / Math.Max(VectorMath.Norm(vs[i]), 1e-9) / Math.Max(total, 1e-9);
            for (int j = 0; j < acc.Length; j++) acc[j] += w * vs[i][j];
        }
        return (acc.Select(x => (float)x).ToArray(), scores);
    }
}
