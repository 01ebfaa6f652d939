using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Data;

/// <summary>
/// A labelled dataset held once per node as two CPU tensors (features as float32, already normalised; labels as
/// int64), shared read-only by every client on that node. Clients refer to samples by index.
/// </summary>
public sealed class Dataset : IDisposable
{
    public Dataset(string name, float[] features, long[] labels, int[] sampleShape, int numClasses)
    {
        int sampleSize = sampleShape.Aggregate(1, (a, b) => a * b);
        if (features.Length != labels.Length * sampleSize)
            throw new ArgumentException($"features hold {features.Length} values, expected {labels.Length} × {sampleSize}");
        Name = name;
        SampleShape = sampleShape;
        NumClasses = numClasses;
        Labels = labels;
        var shape = new long[] { labels.Length }.Concat(sampleShape.Select(s => (long)s)).ToArray();
        Features = torch.tensor(features, shape).DetachFromDisposeScope();
        LabelTensor = torch.tensor(labels).DetachFromDisposeScope();
        _fingerprint = Fingerprint();
    }

    private readonly ulong _fingerprint;

    public string Name { get; }
    public int[] SampleShape { get; }
    public int NumClasses { get; }
    public int Count => Labels.Length;

    /// <summary>Labels as a managed array, for partitioners.</summary>
    public long[] Labels { get; }

    /// <summary>[N, ...SampleShape] float32. Read-only: callers index into it.</summary>
    public Tensor Features { get; }

    /// <summary>[N] int64.</summary>
    public Tensor LabelTensor { get; }

    private Dataset(Dataset source, Device device)
    {
        Name = source.Name;
        SampleShape = source.SampleShape;
        NumClasses = source.NumClasses;
        Labels = source.Labels;
        Features = source.Features.to(device).DetachFromDisposeScope();
        LabelTensor = source.LabelTensor.to(device).DetachFromDisposeScope();
        _fingerprint = source._fingerprint;
    }

    /// <summary>A copy held on <paramref name="device"/> (an accelerator), whose batches are made there.</summary>
    public Dataset To(Device device) => new(this, device);

    /// <summary>The features and labels at <paramref name="indices"/>, as fresh tensors in the caller's dispose scope.</summary>
    public (Tensor X, Tensor Y) Batch(ReadOnlySpan<int> indices)
    {
        var idx = new long[indices.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = indices[i];
        using var index = torch.tensor(idx, device: Features.device);
        return (Features.index_select(0, index), LabelTensor.index_select(0, index));
    }

    /// <summary>The rows at <paramref name="index"/> (a tensor of row numbers on the data's device).</summary>
    public (Tensor X, Tensor Y) Batch(Tensor index) => (Features.index_select(0, index), LabelTensor.index_select(0, index));

    /// <summary>Whether the features and labels in memory are still the ones loaded (the same 64-bit fingerprint of their
    /// bytes as at construction). They are read-only, so a difference means memory was overwritten under the run: what a
    /// failed round's health check reports, to tell corrupted data from a corrupted computation (issue #5).</summary>
    public bool Unchanged() => Fingerprint() == _fingerprint;

    private ulong Fingerprint()
    {
        if (Features.device_type != DeviceType.CPU)
        {
            using var features = Features.cpu();
            using var labels = LabelTensor.cpu();
            return Hash(Hash(0x9E3779B97F4A7C15UL, features), labels);
        }
        return Hash(Hash(0x9E3779B97F4A7C15UL, Features), LabelTensor);
    }

    /// <summary>The tensor's bytes in chunks of 256 MiB (<c>Tensor.bytes</c> refuses more than 2 GiB at once), chained.</summary>
    private static ulong Hash(ulong seed, Tensor t)
    {
        using var flat = t.reshape(-1); // a view: the tensors are contiguous
        long n = flat.numel(), per = (256L << 20) / t.ElementSize;
        for (long start = 0; start < n; start += per)
        {
            using var chunk = flat.narrow(0, start, Math.Min(per, n - start));
            seed = Mix(seed, chunk.bytes);
        }
        return seed;
    }

    /// <summary>Four interleaved multiply-xor lanes over the 8-byte words (one multiply chain would be latency-bound), then the tail.</summary>
    private static ulong Mix(ulong seed, ReadOnlySpan<byte> bytes)
    {
        const ulong prime = 0x9FB21C651E98DF25UL; // an odd 64-bit multiplier (Pelle Evensen's rrmxmx)
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
        ulong a = seed, b = seed + 1, c = seed + 2, d = seed + 3;
        int i = 0;
        for (; i + 4 <= words.Length; i += 4)
        {
            a = (a ^ words[i]) * prime;
            b = (b ^ words[i + 1]) * prime;
            c = (c ^ words[i + 2]) * prime;
            d = (d ^ words[i + 3]) * prime;
        }
        for (; i < words.Length; i++) a = (a ^ words[i]) * prime;
        foreach (var x in bytes[(words.Length * 8)..]) b = (b ^ x) * prime;
        return (((a * 31 + b) * 31 + c) * 31 + d) ^ (ulong)bytes.Length;
    }

    public void Dispose()
    {
        Features.Dispose();
        LabelTensor.Dispose();
    }
}
