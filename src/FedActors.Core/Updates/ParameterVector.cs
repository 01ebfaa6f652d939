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
            using (var data = Contiguous(p).data<float>()) data.CopyTo(values.AsSpan(offset, n), 0, 0);
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
            using (var data = Contiguous(p).data<float>()) data.CopyFrom((ReadOnlySpan<float>)Values.AsSpan(offset, n), 0, 0);
            offset += n;
        }
        if (offset != Values.Length) throw new ArgumentException($"vector has {Values.Length} values, model has {offset}");
    }

    /// <summary>True when every value is finite (no NaN, no ±∞).</summary>
    public bool IsFinite()
    {
        foreach (var v in Values) if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>a + b element-wise, as a new vector.</summary>
    public ParameterVector Add(ParameterVector other)
    {
        if (other.Length != Length) throw new ArgumentException($"length {other.Length} ≠ {Length}");
        var r = new float[Length];
        for (int i = 0; i < r.Length; i++) r[i] = Values[i] + other.Values[i];
        return new ParameterVector(r);
    }

    /// <summary>a − b element-wise, as a new vector.</summary>
    public ParameterVector Subtract(ParameterVector other)
    {
        if (other.Length != Length) throw new ArgumentException($"length {other.Length} ≠ {Length}");
        var r = new float[Length];
        for (int i = 0; i < r.Length; i++) r[i] = Values[i] - other.Values[i];
        return new ParameterVector(r);
    }

    private static Tensor Contiguous(Tensor p) =>
        p.is_contiguous() && p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32
            ? p
            : throw new InvalidOperationException("parameters must be contiguous float32 CPU tensors");
}
