using FedActors.Core.Randomness;

namespace FedActors.Core.Aggregation;

/// <param name="NoiseLambda">λ: Gaussian noise with σ = λ·S_t is added to the aggregate (0.001 for image classification).</param>
/// <param name="DistanceOn"><c>updates</c>: cosine distances between the clients' updates (the ports) | <c>models</c>:
/// between their local models w + Δ (the paper).</param>
public sealed record FlameOptions(double NoiseLambda = 0.001, string DistanceOn = "updates");

/// <summary>
/// FLAME — Nguyen et al., "FLAME: Taming Backdoors in Federated Learning", USENIX Security 2022. (a) pairwise cosine
/// distances; (b) HDBSCAN with min_cluster_size = ⌊n/2⌋ + 1 and min_samples = 1, keeping the majority cluster; (c)
/// clipping of kept updates to S_t = median norm over all clients; (d) their mean; (e) Gaussian noise σ = λ·S_t.
/// </summary>
/// <remarks>
/// Clustering, our approximation (spec §3.3 8): with min_samples = 1 HDBSCAN's mutual reachability is the plain
/// distance, so its tree is single linkage; with min_cluster_size &gt; n/2 at most one cluster exists. We walk the
/// single-linkage dendrogram from the top, always into the child that still has ≥ min_cluster_size points, and keep
/// the points of the last such cluster. hdbscan's allow_single_cluster labelling would instead keep only the points
/// that leave that cluster last, which can drop many benign clients; we do not reproduce that. Noise is drawn from the
/// round's seeded defence stream.
/// </remarks>
public sealed class Flame(FlameOptions options) : IAggregationRule
{
    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        var vs = updates.Select(u => u.Delta.Values).ToArray();
        var points = options.DistanceOn == "models"
            ? vs.Select(v => v.Select((x, j) => x + context.Global.Values[j]).ToArray()).ToArray()
            : vs;
        var keep = MajorityCluster(points);
        var norms = vs.Select(VectorMath.Norm).ToArray();
        double clip = VectorMath.MedianInPlace(norms.ToArray());
        var acc = new double[vs[0].Length];
        foreach (var i in keep)
        {
            double scale = norms[i] > clip && norms[i] > 0 ? clip / norms[i] : 1;
            for (int j = 0; j < acc.Length; j++) acc[j] += scale * vs[i][j];
        }
        var rng = SeedStream.Rng(context.Seed, context.Round, -1, Purpose.Defence);
        double sigma = options.NoiseLambda * clip;
        var result = acc.Select(a => (float)(a / keep.Length + sigma * rng.NextGaussian())).ToArray();
        return new AggregationResult(result.ToVector(), [.. keep.Select(i => updates[i].ClientId)]);
    }

    /// <summary>Indices of the majority single-linkage cluster under cosine distance (see remarks).</summary>
    public static int[] MajorityCluster(IReadOnlyList<float[]> vs)
    {
        int n = vs.Count, minSize = n / 2 + 1;
        var dist = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                dist[i, j] = dist[j, i] = 1 - VectorMath.Cosine(vs[i], vs[j]);
        // Single linkage by Kruskal: merge edges in increasing distance; record the dendrogram.
        var edges = new List<(double D, int A, int B)>();
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) edges.Add((dist[i, j], i, j));
        edges.Sort((x, y) => x.D != y.D ? x.D.CompareTo(y.D) : (x.A, x.B).CompareTo((y.A, y.B)));
        var parent = Enumerable.Range(0, 2 * n).ToArray();
        var members = Enumerable.Range(0, n).Select(i => new List<int> { i }).ToList();
        var children = new List<(int L, int R)>();
        int Find(int x) { while (parent[x] != x) x = parent[x] = parent[parent[x]]; return x; }
        var node = Enumerable.Range(0, n).ToArray(); // union-find root → dendrogram node
        foreach (var (_, a, b) in edges)
        {
            int ra = Find(a), rb = Find(b);
            if (ra == rb) continue;
            int id = members.Count;
            members.Add([.. members[node[ra]], .. members[node[rb]]]);
            children.Add((node[ra], node[rb]));
            parent[rb] = ra;
            node[ra] = id;
            if (members[id].Count == n) break;
        }
        // Walk down from the root while a child keeps at least minSize points.
        int current = members.Count - 1;
        while (current >= n)
        {
            var (l, r) = children[current - n];
            if (members[l].Count >= minSize) current = l;
            else if (members[r].Count >= minSize) current = r;
            else break;
        }
        return members[current].Order().ToArray();
    }
}
