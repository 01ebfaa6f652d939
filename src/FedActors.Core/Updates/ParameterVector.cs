using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Updates;

/// <summary>
/// A model's trainable parameters (or an update Δ = w_local − w_global) flattened in module order. This, not a
/// tensor, is what crosses actor and process boundaries: a plain float array that serialisers carry compactly.
/// </summary>
public sealed record ParameterVector(float[] Values)
{
    public int Length => Values.Length;

    /// <summary>Copies the model's parameters out, in <c>parameters()</c> order.</summary>
    public static ParameterVector From(nn.Module model)
    {
        var parameters = model.parameters().ToArray();
        var values = new float[parameters.Sum(p => p.numel())];
        int offset = 0;
        foreach (var p in parameters)
        {
            int n = (int)p.numel();
            using var host = OnHost(p);
            Floats(host ?? p).CopyTo(values.AsSpan(offset, n));
            offset += n;
        }
        return new ParameterVector(values);
    }

    /// <summary>Writes these values into the model's parameters, in <c>parameters()</c> order.</summary>
    public void CopyTo(nn.Module model)
    {
        int offset = 0;
        foreach (var p in model.parameters())
        {
            int n = (int)p.numel();
            if (offset + n > Values.Length) throw new ArgumentException($"vector of {Values.Length} values is shorter than the model");
            if (p.device_type == DeviceType.CPU) Values.AsSpan(offset, n).CopyTo(Floats(p));
            else
            {
                // a model on an accelerator: one host-to-device copy per tensor
                using var host = torch.tensor(Values[offset..(offset + n)], p.shape, device: CPU);
                using var noGrad = torch.no_grad();
                p.copy_(host);
            }
            offset += n;
        }
        if (offset != Values.Length) throw new ArgumentException($"vector has {Values.Length} values, model has {offset}");
    }

    /// <summary>True when every value is finite (no NaN, no ±∞).</summary>
    public bool IsFinite()
    {
        // v − v is 0 for every finite v and NaN for NaN and ±∞
        int i = 0;
        var values = Values.AsSpan();
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            var v = new Vector<float>(values[i..]);
            if (!Vector.EqualsAll(v - v, Vector<float>.Zero)) return false;
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) return false;
        return true;
    }

    /// <summary>a + b element-wise, as a new vector.</summary>
    public ParameterVector Add(ParameterVector other)
    {
        if (other.Length != Length) throw new ArgumentException($"length {other.Length} ≠ {Length}");
        var r = new float[Length];
        int i = 0;
        for (; i <= r.Length - Vector<float>.Count; i += Vector<float>.Count)
            (new Vector<float>(Values, i) + new Vector<float>(other.Values, i)).CopyTo(r, i);
        for (; i < r.Length; i++) r[i] = Values[i] + other.Values[i];
        return new ParameterVector(r);
    }

    /// <summary>a − b element-wise, as a new vector.</summary>
    public ParameterVector Subtract(ParameterVector other)
    {
        if (other.Length != Length) throw new ArgumentException($"length {other.Length} ≠ {Length}");
        var r = new float[Length];
        Difference(Values, other.Values, r);
        return new ParameterVector(r);
    }

    /// <summary>The model's parameters minus <paramref name="global"/> (Δ = w_local − w_global), read straight from the
    /// parameters' memory: the same bits as <c>From(model).Subtract(global)</c> without the intermediate copy.</summary>
    public static ParameterVector DeltaFrom(nn.Module model, ParameterVector global)
    {
        var r = new float[global.Length];
        int offset = 0;
        foreach (var p in model.parameters())
        {
            using var host = OnHost(p);
            var values = Floats(host ?? p);
            if (offset + values.Length > r.Length) throw new ArgumentException($"vector of {r.Length} values is shorter than the model");
            Difference(values, global.Values.AsSpan(offset, values.Length), r.AsSpan(offset, values.Length));
            offset += values.Length;
        }
        if (offset != r.Length) throw new ArgumentException($"vector has {r.Length} values, model has {offset}");
        return new ParameterVector(r);
    }

    /// <summary>r = a − b over SIMD lanes, then the tail one by one: the same IEEE subtraction for every element, so the
    /// same bits as a scalar loop.</summary>
    private static void Difference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> r)
    {
        int i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
            (new Vector<float>(a[i..]) - new Vector<float>(b[i..])).CopyTo(r[i..]);
        for (; i < a.Length; i++) r[i] = a[i] - b[i];
    }

    /// <summary>A host copy of a parameter that lives on an accelerator (null for a CPU tensor, read in place).</summary>
    private static Tensor? OnHost(Tensor p)
    {
        if (p.device_type == DeviceType.CPU) return null;
        using var detached = p.detach();
        return detached.cpu();
    }

    /// <summary>The parameter's own memory as floats: one block copy in or out (TorchSharp's <c>data&lt;T&gt;()</c> accessor copies
    /// element by element through an index iterator, ~15× slower, and the copies were most of a small client's update).</summary>
    private static Span<float> Floats(Tensor p) =>
        p.is_contiguous() && p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32
            ? MemoryMarshal.Cast<byte, float>(p.bytes)
            : throw new InvalidOperationException("parameters must be contiguous float32 CPU tensors");
}
