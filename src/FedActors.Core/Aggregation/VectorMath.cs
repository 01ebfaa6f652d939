using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <summary>Dense vector helpers for the aggregation rules and attacks. Sums run in double precision.</summary>
public static class VectorMath
{
    public static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    public static double Norm(float[] a) => Math.Sqrt(Dot(a, a));

    public static double SquaredDistance(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) { double d = (double)a[i] - b[i]; s += d * d; }
        return s;
    }

    /// <summary>cos(a, b); 0 when either is the zero vector.</summary>
    public static double Cosine(float[] a, float[] b)
    {
        double na = Norm(a), nb = Norm(b);
        return na == 0 || nb == 0 ? 0 : Dot(a, b) / (na * nb);
    }

    /// <summary>Coordinate-wise mean of the vectors.</summary>
    public static float[] Mean(IReadOnlyList<float[]> vs)
    {
        if (vs.Count == 0) throw new ArgumentException("mean of no vectors");
        var acc = new double[vs[0].Length];
        foreach (var v in vs) for (int i = 0; i < acc.Length; i++) acc[i] += v[i];
        var r = new float[acc.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)(acc[i] / vs.Count);
        return r;
    }

    /// <summary>Coordinate-wise (population) standard deviation.</summary>
    public static float[] Std(IReadOnlyList<float[]> vs, float[] mean)
    {
        var acc = new double[mean.Length];
        foreach (var v in vs) for (int i = 0; i < acc.Length; i++) { double d = v[i] - mean[i]; acc[i] += d * d; }
        var r = new float[acc.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)Math.Sqrt(acc[i] / vs.Count);
        return r;
    }

    /// <summary>All pairwise squared distances.</summary>
    public static double[,] PairwiseSquaredDistances(IReadOnlyList<float[]> vs)
    {
        int n = vs.Count;
        var d = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                d[i, j] = d[j, i] = SquaredDistance(vs[i], vs[j]);
        return d;
    }

    /// <summary>Applies <paramref name="reduce"/> to each coordinate's column of values (reused buffer).</summary>
    public static float[] Coordinatewise(IReadOnlyList<float[]> vs, Func<double[], double> reduce)
    {
        int n = vs.Count, d = vs[0].Length;
        var column = new double[n];
        var r = new float[d];
        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < n; i++) column[i] = vs[i][j];
            r[j] = (float)reduce(column);
        }
        return r;
    }

    /// <summary>Median of the values (mean of the two middle ones for an even count). Sorts in place.</summary>
    public static double MedianInPlace(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    public static ParameterVector ToVector(this float[] values) => new(values);
}
