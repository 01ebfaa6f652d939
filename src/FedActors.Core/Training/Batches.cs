using FedActors.Core.Randomness;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>The mini-batches of local training, as PFLlib's train loader gives them: each epoch reshuffles the
/// client's samples (seeded) and, with <see cref="TrainOptions.DropLast"/>, leaves out the last incomplete batch — unless it
/// is the only one: a client with fewer samples than a batch trains on them rather than not at all (PFLlib's loader would
/// give it no batch, and such a client would silently contribute nothing).</summary>
public static class Batches
{
    public static IEnumerable<ArraySegment<int>> Shuffled(IReadOnlyList<int> indices, TrainOptions options, Rng shuffle)
    {
        var order = indices.ToArray();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            shuffle.Shuffle<int>(order);
            for (int start = 0; start < order.Length; start += options.BatchSize)
            {
                int size = Math.Min(options.BatchSize, order.Length - start);
                if (size < options.BatchSize && options.DropLast && start > 0) break;
                yield return new ArraySegment<int>(order, start, size);
            }
        }
    }
}

/// <summary>A training call's batches with their sample rows on the data's device, moved there in one copy: a GPU's loop then
/// never waits for an upload per step (a copy from pageable host memory synchronises the stream). Step <c>i</c>'s rows are
/// <see cref="Rows"/>(i), a view in the caller's dispose scope; the same rows, so the same bits, as a copy per step.</summary>
public sealed class DeviceBatches : IDisposable
{
    private readonly Tensor _rows;
    private readonly (int Start, int Length)[] _steps;

    /// <param name="batches">The call's batches (<see cref="Batches.Shuffled"/>: each is read before the next is drawn).</param>
    public DeviceBatches(IEnumerable<ArraySegment<int>> batches, Device device)
    {
        var rows = new List<long>();
        var steps = new List<(int, int)>();
        foreach (var batch in batches)
        {
            steps.Add((rows.Count, batch.Count));
            foreach (var i in batch) rows.Add(i);
        }
        _steps = [.. steps];
        using var scope = torch.NewDisposeScope(); // made in a scope, kept until Dispose (TensorLifetimeTests)
        _rows = torch.tensor(rows.ToArray(), device: device).DetachFromDisposeScope();
    }

    public int Count => _steps.Length;

    public Tensor Rows(int step) => _rows.narrow(0, _steps[step].Start, _steps[step].Length);

    public void Dispose() => _rows.Dispose();
}

/// <summary>
/// One client's training batches for one call, as every training loop reads them: <see cref="DeviceBatches"/> over its
/// <see cref="Batches.Shuffled"/> samples, each step's samples read from the data and, for a malicious client whose attack
/// poisons data, poisoned with its own seeded stream. The loops of plain training and of every personalisation method
/// use it, so a data-poisoning attack reaches each of them the same way.
/// </summary>
public sealed class TrainingBatches : IDisposable
{
    private readonly Data.Dataset _data;
    private readonly DeviceBatches _batches;
    private readonly Attacks.IDataPoisoningAttack? _poison;
    private readonly Rng? _poisonRng;

    /// <param name="poison">The attack that poisons every batch (malicious clients only), with its stream <paramref name="poisonRng"/>.</param>
    public TrainingBatches(Data.Dataset data, IReadOnlyList<int> indices, TrainOptions options, Rng shuffle,
        Attacks.IDataPoisoningAttack? poison = null, Rng? poisonRng = null)
    {
        if (poison is not null && poisonRng is null) throw new ArgumentNullException(nameof(poisonRng), "a poisoned client's batches need its poison stream");
        _data = data;
        _poison = poison;
        _poisonRng = poisonRng;
        _batches = new DeviceBatches(Batches.Shuffled(indices, options, shuffle), data.Features.device);
    }

    public int Count => _batches.Count;

    /// <summary>Step <paramref name="step"/>'s features and labels, poisoned where the client poisons, in the caller's dispose scope.</summary>
    public (Tensor X, Tensor Y) Batch(int step)
    {
        var (x, y) = _data.Batch(_batches.Rows(step));
        return _poison is null ? (x, y) : _poison.Poison(x, y, _data.NumClasses, _poisonRng!);
    }

    public void Dispose() => _batches.Dispose();
}

/// <summary>A training loop's per-step losses, kept where they were computed and read once at the end: a GPU's loop then
/// never waits for the device to read one (<c>item()</c> synchronises). <see cref="Mean"/> is the same bits as reading each
/// step: the float32 values summed in double, in step order.</summary>
public sealed class StepLosses : IDisposable
{
    private readonly List<Tensor> _losses = [];

    public int Count => _losses.Count;

    /// <summary>Keeps the step's loss (a detached copy, outside the step's dispose scope).</summary>
    public void Add(Tensor loss) => _losses.Add(loss.detach().DetachFromDisposeScope());

    /// <summary>The mean step loss; NaN without a step.</summary>
    public double Mean()
    {
        if (_losses.Count == 0) return double.NaN;
        using var scope = torch.NewDisposeScope();
        var host = torch.stack(_losses).cpu();
        double sum = 0;
        foreach (var v in host.data<float>()) sum += v;
        return sum / _losses.Count;
    }

    public void Dispose()
    {
        foreach (var t in _losses) t.Dispose();
        _losses.Clear();
    }
}
