using FedActors.Core.Randomness;

namespace FedActors.Core.Aggregation;

/// <param name="F">Malicious clients assumed.</param>
/// <param name="Iterations">niters: independent coordinate subsamples.</param>
/// <param name="SubsampleSize">b: coordinates per subsample (all if the model is smaller).</param>
/// <param name="FilterFraction">c: each iteration keeps the n − c·f lowest-scoring clients.</param>
public sealed record DnCOptions(int F, int Iterations = 5, int SubsampleSize = 10_000, double FilterFraction = 1.0)
{
    public void Validate(int n)
    {
        if (n - (int)(FilterFraction * F) < 1) throw new RulePreconditionException("dnc", $"keeps n − c·f = {n - (int)(FilterFraction * F)} clients of {n}");
    }
}

/// <summary>
/// Divide-and-Conquer (DnC) — Shejwalkar &amp; Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning
/// Attacks and Defenses for Federated Learning", NDSS 2021. Repeatedly: sample b coordinates, centre the
/// sub-updates, score each client by its squared projection on the top right singular vector, keep the n − c·f
/// lowest. The accepted set is the intersection over iterations; the aggregate is its mean.
/// </summary>
/// <remarks>Coordinates are sampled with the round's seeded stream; the singular vector comes from power iteration
/// on the centred n×b matrix (its sign does not matter for the squared scores).</remarks>
public sealed class DnC(DnCOptions options) : IAggregationRule
{
    public void Validate(int updates) => options.Validate(updates);

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        options.Validate(updates.Count);
        var rng = SeedStream.Rng(context.Seed, context.Round, -1, Purpose.Defence);
        var keep = Select(updates.Select(u => u.Delta.Values).ToArray(), options, rng);
        var picked = keep.Select(i => updates[i]).ToArray();
        return new AggregationResult(VectorMath.Mean(picked.Select(u => u.Delta.Values).ToArray()).ToVector(), [.. picked.Select(u => u.ClientId)]);
    }

    public static int[] Select(IReadOnlyList<float[]> vs, DnCOptions o, Rng rng)
    {
        int n = vs.Count, d = vs[0].Length;
        int b = Math.Min(o.SubsampleSize, d);
        int keepCount = n - (int)(o.FilterFraction * o.F);
        var good = new HashSet<int>(Enumerable.Range(0, n));
        for (int it = 0; it < o.Iterations; it++)
        {
            var coords = rng.Permutation(d)[..b];
            var x = new double[n, b];
            for (int j = 0; j < b; j++)
            {
                double mean = 0;
                for (int i = 0; i < n; i++) mean += vs[i][coords[j]];
                mean /= n;
                for (int i = 0; i < n; i++) x[i, j] = vs[i][coords[j]] - mean;
            }
            var v = TopRightSingularVector(x, n, b, rng);
            var scores = new double[n];
            for (int i = 0; i < n; i++)
            {
                double p = 0;
                for (int j = 0; j < b; j++) p += x[i, j] * v[j];
                scores[i] = p * p;
            }
            var kept = Enumerable.Range(0, n).OrderBy(i => scores[i]).ThenBy(i => i).Take(keepCount);
            good.IntersectWith(kept);
        }
        return good.Order().ToArray();
    }

    /// <summary>Top right singular vector of X (n×b) by power iteration on XᵀX, done as Xᵀ(Xv).</summary>
    internal static double[] TopRightSingularVector(double[,] x, int n, int b, Rng rng, int iterations = 100)
    {
        var v = new double[b];
        for (int j = 0; j < b; j++) v[j] = rng.NextGaussian();
        var xv = new double[n];
        for (int it = 0; it < iterations; it++)
        {
            for (int i = 0; i < n; i++) { double s = 0; for (int j = 0; j < b; j++) s += x[i, j] * v[j]; xv[i] = s; }
            var next = new double[b];
            for (int i = 0; i < n; i++) for (int j = 0; j < b; j++) next[j] += x[i, j] * xv[i];
            double norm = Math.Sqrt(next.Sum(t => t * t));
            if (norm == 0) return v;
            double change = 0;
            for (int j = 0; j < b; j++) { next[j] /= norm; change += Math.Abs(Math.Abs(next[j]) - Math.Abs(v[j])); }
            v = next;
            if (change < 1e-10) break;
        }
        return v;
    }
}
