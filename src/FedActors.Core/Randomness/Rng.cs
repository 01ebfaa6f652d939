namespace FedActors.Core.Randomness;

/// <summary>
/// xoshiro256** generator with the distributions FL simulation needs. Its output is fixed by this code,
/// not by the .NET runtime version, so seeded runs stay comparable across machines and upgrades.
/// Not thread-safe: one instance per draw site.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareGaussian;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SeedStream.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s1 = SeedStream.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s2 = SeedStream.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s3 = SeedStream.Mix(x);
    }

    public ulong NextULong()
    {
        ulong result = RotL(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotL(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n), without modulo bias.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        ulong bound = (ulong)n;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextULong();
            if (r >= threshold) return (int)(r % bound);
        }
    }

    /// <summary>Uniform integer in [lo, hi).</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo);

    /// <summary>Standard normal (Marsaglia polar method).</summary>
    public double NextGaussian()
    {
        if (_spareGaussian is { } spare) { _spareGaussian = null; return spare; }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double m = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareGaussian = v * m;
        return u * m;
    }

    /// <summary>Gamma(shape, 1) by Marsaglia and Tsang; shape &lt; 1 via the boost Gamma(a+1)·U^(1/a).</summary>
    public double NextGamma(double shape)
    {
        if (shape <= 0) throw new ArgumentOutOfRangeException(nameof(shape));
        if (shape < 1) return NextGamma(shape + 1) * Math.Pow(NextDouble() is var u && u > 0 ? u : double.Epsilon, 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do { x = NextGaussian(); v = 1 + c * x; } while (v <= 0);
            v = v * v * v;
            double u = NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    /// <summary>A draw from the symmetric Dirichlet(α, …, α) over k categories.</summary>
    public double[] NextDirichlet(double alpha, int k)
    {
        var p = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) { p[i] = NextGamma(alpha); sum += p[i]; }
        if (sum == 0) { p[NextInt(k)] = 1; return p; }
        for (int i = 0; i < k; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A random permutation of 0..n-1.</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Shuffle<int>(p);
        return p;
    }

    private static ulong RotL(ulong x, int k) => (x << k) | (x >> (64 - k));
}
