using FedActors.Core.Randomness;

namespace FedActors.Core.Aggregation;

/// <summary>A fitted Gaussian mixture on 2-D points.</summary>
/// <param name="Labels">The component of each point (argmax responsibility).</param>
public sealed record MixtureFit(int K, int[] Labels, double LogLikelihood, double[][] Means, double[][,] Covariances, double[] Weights)
{
    /// <summary>Bayesian information criterion, −2 log L + p ln N with p = 6K − 1 free parameters in 2-D.</summary>
    public double Bic => -2 * LogLikelihood + (6 * K - 1) * Math.Log(Labels.Length);
}

/// <summary>
/// Small, seeded clustering tools for defences: PCA of a few long vectors and a full-covariance Gaussian mixture in
/// 2-D fitted by EM with a k-means++ start, as sklearn's <c>GaussianMixture</c> defaults (1 init, ≤ 100 iterations,
/// tol 1e-3 on the mean log-likelihood, 1e-6 added to covariance diagonals).
/// </summary>
public static class Clustering
{
    /// <summary>
    /// Mean-centred PCA of the rows of <paramref name="gram"/>'s underlying data, given the centred Gram matrix
    /// G = X̄X̄ᵀ (n×n): the scores on the top <paramref name="components"/> principal axes are eigvec·√eigval.
    /// </summary>
    public static double[][] PcaScoresFromCentredGram(double[,] gram, int components)
    {
        int n = gram.GetLength(0);
        var (values, vectors) = SymmetricEigen(gram);
        var order = Enumerable.Range(0, n).OrderByDescending(i => values[i]).Take(components).ToArray();
        var scores = new double[n][];
        for (int i = 0; i < n; i++)
            scores[i] = order.Select(c => vectors[i, c] * Math.Sqrt(Math.Max(values[c], 0))).ToArray();
        return scores;
    }

    /// <summary>Centres the Gram matrix K of raw rows: K̄ = K − 1K/n − K1/n + 1K1/n².</summary>
    public static double[,] CentreGram(double[,] k)
    {
        int n = k.GetLength(0);
        var rowMean = new double[n];
        double all = 0;
        for (int i = 0; i < n; i++) { for (int j = 0; j < n; j++) rowMean[i] += k[i, j]; all += rowMean[i]; rowMean[i] /= n; }
        all /= (double)n * n;
        var c = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) c[i, j] = k[i, j] - rowMean[i] - rowMean[j] + all;
        return c;
    }

    /// <summary>Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations (fine for n ≤ a few hundred).</summary>
    public static (double[] Values, double[,] Vectors) SymmetricEigen(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++) for (int q = p + 1; q < n; q++) off += a[p, q] * a[p, q];
            if (off < 1e-22 * Math.Max(1, Trace2(a))) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (Math.Abs(a[p, q]) < 1e-300) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = a[i, i];
        return (values, v);
    }

    private static double Trace2(double[,] a)
    {
        double s = 0;
        for (int i = 0; i < a.GetLength(0); i++) s += a[i, i] * a[i, i];
        return s;
    }

    /// <summary>Fits a K-component full-covariance Gaussian mixture to 2-D points.</summary>
    public static MixtureFit FitGaussianMixture(double[][] x, int k, Rng rng, int maxIterations = 100, double tolerance = 1e-3, double regularisation = 1e-6)
    {
        int n = x.Length;
        var labels = KMeans(x, k, rng);
        var resp = new double[n, k];
        for (int i = 0; i < n; i++) resp[i, labels[i]] = 1;
        double[][] means = new double[k][];
        var covs = new double[k][,];
        var weights = new double[k];
        double previous = double.NegativeInfinity, logLik = 0;
        for (int it = 0; it < maxIterations; it++)
        {
            // M step
            for (int c = 0; c < k; c++)
            {
                double nk = 1e-10;
                double mx = 0, my = 0;
                for (int i = 0; i < n; i++) { nk += resp[i, c]; mx += resp[i, c] * x[i][0]; my += resp[i, c] * x[i][1]; }
                mx /= nk; my /= nk;
                double sxx = 0, sxy = 0, syy = 0;
                for (int i = 0; i < n; i++)
                {
                    double dx = x[i][0] - mx, dy = x[i][1] - my;
                    sxx += resp[i, c] * dx * dx; sxy += resp[i, c] * dx * dy; syy += resp[i, c] * dy * dy;
                }
                means[c] = [mx, my];
                covs[c] = new[,] { { sxx / nk + regularisation, sxy / nk }, { sxy / nk, syy / nk + regularisation } };
                weights[c] = nk / n;
            }
            // E step
            logLik = 0;
            for (int i = 0; i < n; i++)
            {
                var lp = new double[k];
                for (int c = 0; c < k; c++) lp[c] = Math.Log(weights[c]) + LogGaussian(x[i], means[c], covs[c]);
                double max = lp.Max(), sum = 0;
                for (int c = 0; c < k; c++) sum += Math.Exp(lp[c] - max);
                double lse = max + Math.Log(sum);
                logLik += lse;
                for (int c = 0; c < k; c++) resp[i, c] = Math.Exp(lp[c] - lse);
            }
            if (Math.Abs(logLik / n - previous / n) < tolerance) break;
            previous = logLik;
        }
        var final = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int c = 1; c < k; c++) if (resp[i, c] > resp[i, best]) best = c;
            final[i] = best;
        }
        return new MixtureFit(k, final, logLik, means, covs, weights);
    }

    private static double LogGaussian(double[] p, double[] m, double[,] s)
    {
        double det = s[0, 0] * s[1, 1] - s[0, 1] * s[1, 0];
        if (det <= 0) det = 1e-300;
        double dx = p[0] - m[0], dy = p[1] - m[1];
        double q = (s[1, 1] * dx * dx - 2 * s[0, 1] * dx * dy + s[0, 0] * dy * dy) / det;
        return -0.5 * q - Math.Log(2 * Math.PI) - 0.5 * Math.Log(det);
    }

    /// <summary>k-means with a seeded k-means++ start; returns each point's cluster.</summary>
    public static int[] KMeans(double[][] x, int k, Rng rng, int iterations = 100)
    {
        int n = x.Length, dim = x[0].Length;
        double D(double[] a, double[] b) { double s = 0; for (int j = 0; j < dim; j++) s += (a[j] - b[j]) * (a[j] - b[j]); return s; }
        var centres = new List<double[]> { x[rng.NextInt(n)] };
        while (centres.Count < k)
        {
            var d = x.Select(p => centres.Min(c => D(p, c))).ToArray();
            double total = d.Sum(), r = rng.NextDouble() * total;
            int pick = 0;
            for (double acc = 0; pick < n - 1; pick++) { acc += d[pick]; if (acc >= r && d[pick] > 0) break; }
            centres.Add(x[pick]);
        }
        var labels = new int[n];
        for (int it = 0; it < iterations; it++)
        {
            bool changed = false;
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int c = 1; c < k; c++) if (D(x[i], centres[c]) < D(x[i], centres[best])) best = c;
                if (best != labels[i]) { labels[i] = best; changed = true; }
            }
            for (int c = 0; c < k; c++)
            {
                var members = Enumerable.Range(0, n).Where(i => labels[i] == c).ToArray();
                if (members.Length == 0) continue;
                centres[c] = Enumerable.Range(0, dim).Select(j => members.Average(i => x[i][j])).ToArray();
            }
            if (!changed && it > 0) break;
        }
        return labels;
    }
}
