using System.Numerics;
using FedActors.Core.Updates;

namespace FedActors.Core.Aggregation;

/// <summary>
/// A running weighted sum Σ nₖ·Δₖ of float vectors that does not depend on the order of its terms: each term is
/// turned into a 128-bit fixed-point number (a multiple of 2⁻⁶⁴) and added as integers, which associate. So a server
/// can add updates as they arrive, keep one accumulator instead of every update, and get the same bits whatever the
/// arrival order or the number of nodes. nₖ·Δₖ is exact in double (24-bit mantissa × a weight below 2²⁹); only digits
/// below 2⁻⁶³ are cut (the same way for every term), far below a float's resolution for any value a model update has.
/// </summary>
public sealed class ExactSum
{
    /// <summary>Largest |nₖ·Δₖ| a term may have: sums of up to 2¹⁴ such terms stay within the 64 integer bits.</summary>
    public const double MaxTerm = 1L << 48;

    /// <summary>Largest weight (samples) a term may have, so that nₖ·Δₖ is exact in double.</summary>
    public const int MaxWeight = 1 << 29;

    /// <summary>Per coordinate Σ nₖ·Δₖ·2⁶⁴ as a 128-bit two's-complement integer, split in its upper word (signed) and its
    /// lower word (unsigned) so that SIMD lanes can add them with an explicit carry.</summary>
    private readonly long[] _hi;
    private readonly ulong[] _lo;
    private long _weight;
    private long _terms;

    public ExactSum(int length)
    {
        _hi = new long[length];
        _lo = new ulong[length];
    }

    public int Length => _hi.Length;

    /// <summary>Σ nₖ so far.</summary>
    public long TotalWeight => _weight;

    /// <summary>Whether a term of this update can be summed (finite, |n·Δ| below <see cref="MaxTerm"/>); null when it can.</summary>
    public static string? Problem(ParameterVector delta, int weight)
    {
        if (weight > MaxWeight) return $"its {weight} samples exceed {MaxWeight}";
        double limit = MaxTerm / Math.Max(weight, 1);
        if (Vector.IsHardwareAccelerated && AllBelow(delta.Values, limit)) return null;
        foreach (var v in delta.Values)
            if (Math.Abs(v) >= limit) return $"a value of {v:G4} is beyond what a sum of updates can hold (|n·Δ| < 2^48)";
        return null;
    }

    /// <summary>Whether every |v| &lt; <paramref name="limit"/>, compared in double as the scalar check does (false for NaN).</summary>
    private static bool AllBelow(ReadOnlySpan<float> values, double limit)
    {
        var l = new Vector<double>(limit);
        int i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            Vector.Widen(new Vector<float>(values[i..]), out var low, out var high);
            if (!Vector.LessThanAll(Vector.Abs(low), l) || !Vector.LessThanAll(Vector.Abs(high), l)) return false;
        }
        for (; i < values.Length; i++) if (!(Math.Abs(values[i]) < limit)) return false;
        return true;
    }

    /// <summary>Adds <paramref name="weight"/>·<paramref name="delta"/>.</summary>
    /// <exception cref="ArgumentException">A length that is not the sum's, or a term <see cref="Problem"/> refuses.</exception>
    public void Add(ParameterVector delta, int weight)
    {
        if (delta.Length != Length) throw new ArgumentException($"update length {delta.Length} ≠ {Length}");
        if (weight <= 0) throw new ArgumentException($"a weight of {weight} samples");
        if (Problem(delta, weight) is { } problem) throw new ArgumentException(problem);
        AddValidated(delta, weight);
    }

    /// <summary>Adds an update the caller has already checked with <see cref="Problem"/> (a streaming server, whose
    /// <c>RoundState.OnUpdate(summable: true)</c> did): the same sum without a second pass over the vector.</summary>
    public void AddValidated(ParameterVector delta, int weight)
    {
        if (delta.Length != Length) throw new ArgumentException($"update length {delta.Length} ≠ {Length}");
        // fewer than 2^14 terms of at most 2^48 cannot overflow the 64 integer bits; beyond, every add is checked
        if (_terms < 1 << 14) AddUnchecked(delta.Values, weight);
        else AddChecked(delta.Values, weight);
        _terms++;
        _weight += weight;
    }

    /// <summary>The SIMD form of <see cref="Fixed"/> plus a 128-bit add, lane by lane: ⌊t⌋ goes to the upper word, the
    /// fraction·2⁶⁴ to the lower, and a lower word that wrapped (smaller than what was added) carries one. The same integer
    /// per term as the scalar path, so the same bits; ~5× faster, which matters because the coordinator adds every update of
    /// a round on one thread.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void AddUnchecked(ReadOnlySpan<float> v, int weight)
    {
        var w = new Vector<double>(weight);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= v.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(v[i..]), out var low, out var high);
                AddLanes(low * w, i); // exact: a 24-bit mantissa times a weight below 2^29
                AddLanes(high * w, i + Vector<double>.Count);
            }
        for (; i < v.Length; i++)
        {
            var x = ((Int128)_hi[i] << 64 | _lo[i]) + Fixed((double)v[i] * weight);
            _hi[i] = (long)(x >> 64);
            _lo[i] = (ulong)x;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void AddLanes(Vector<double> t, int i)
    {
        var whole = Vector.Floor(t);
        var fraction = Vector.AsVectorUInt64(Vector.ConvertToInt64((t - whole) * 9223372036854775808.0)) << 1;
        var lo = new Vector<ulong>(_lo.AsSpan(i)) + fraction;
        var carry = Vector.AsVectorInt64(Vector.LessThan(lo, fraction)); // −1 where the lower word wrapped
        (new Vector<long>(_hi.AsSpan(i)) + Vector.ConvertToInt64(whole) - carry).CopyTo(_hi.AsSpan(i));
        lo.CopyTo(_lo.AsSpan(i));
    }

    private void AddChecked(ReadOnlySpan<float> v, int weight)
    {
        for (int i = 0; i < v.Length; i++)
        {
            var x = checked(((Int128)_hi[i] << 64 | _lo[i]) + Fixed((double)v[i] * weight));
            _hi[i] = (long)(x >> 64);
            _lo[i] = (ulong)x;
        }
    }

    /// <summary>t·2⁶⁴ as a 128-bit integer: ⌊t⌋ in the upper word, (t − ⌊t⌋)·2⁶⁴ in the lower. Digits below 2⁻⁶³ are cut (the
    /// fraction goes through a signed conversion, one instruction; an unsigned one is a call), the same way for every term.
    /// No branch: the data's signs are random and a mispredicted branch would cost more than the rest.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static Int128 Fixed(double t)
    {
        double whole = Math.Floor(t);
        // t − ⌊t⌋ is in [0, 1] (exact for t ≥ 1 in magnitude; for a tiny negative t it rounds, possibly to 1, whose
        // conversion saturates) — the same deterministic function of t on every path, so the sum stays order-free
        return new Int128((ulong)(long)whole, (ulong)(long)((t - whole) * 9223372036854775808.0) << 1);
    }

    /// <summary>Adds another sum (the partial sum of another node, say).</summary>
    public void Add(ExactSum other)
    {
        if (other.Length != Length) throw new ArgumentException($"sum length {other.Length} ≠ {Length}");
        for (int i = 0; i < Length; i++)
        {
            var x = checked(((Int128)_hi[i] << 64 | _lo[i]) + ((Int128)other._hi[i] << 64 | other._lo[i]));
            _hi[i] = (long)(x >> 64);
            _lo[i] = (ulong)x;
        }
        _weight += other._weight;
        _terms += other._terms;
    }

    /// <summary>Σ nₖ·Δₖ / Σ nₖ as floats: the FedAvg aggregate.</summary>
    public ParameterVector Mean()
    {
        if (_weight <= 0) throw new InvalidOperationException("no update was added");
        var result = new float[Length];
        double w = _weight;
        for (int i = 0; i < result.Length; i++)
            result[i] = (float)(((double)_hi[i] + (double)_lo[i] * (1.0 / 18446744073709551616.0)) / w);
        return new ParameterVector(result);
    }
}

/// <summary>A rule that can aggregate as updates arrive, keeping a running sum instead of the updates: the server then
/// holds one accumulator per round, whatever the number of clients.</summary>
public interface IStreamingRule : IAggregationRule
{
    /// <summary>Whether this instance sums as updates arrive (an option may make it keep every update instead).</summary>
    bool Streams { get; }

    /// <summary>The aggregate of the updates added to <paramref name="sum"/>, equal bit for bit to
    /// <see cref="IAggregationRule.Aggregate"/> on the same updates.</summary>
    ParameterVector Finish(ExactSum sum);

    /// <summary>The weight an update is added to the sum with (its training samples, or 1 for a plain mean).</summary>
    int Weight(ClientUpdate update) => update.NumSamples;
}
