namespace FedActors.Core.Training;

/// <summary>
/// How full a process's batched calls were: the places that trained a client over all places, a call's places being its
/// batch size × its steps (its largest client's). The rest are padding: clients whose batches ran out and the empty places
/// of a partial call, which every step computes all the same. Thread-safe (pool threads add to it).
/// </summary>
public sealed class BatchOccupancy
{
    private long _busy, _all;

    /// <summary>Counts one call of <paramref name="size"/> places whose clients take <paramref name="steps"/>.</summary>
    public void Add(IReadOnlyCollection<int> steps, int size)
    {
        if (steps.Count > size) throw new ArgumentException($"a call of {size} places takes at most {size} clients, not {steps.Count}");
        long most = steps.Count == 0 ? 0 : steps.Max();
        Interlocked.Add(ref _busy, steps.Sum());
        Interlocked.Add(ref _all, size * most);
    }

    /// <summary>Busy places ÷ all places; null before any call with a step.</summary>
    public double? Share
    {
        get
        {
            long all = Interlocked.Read(ref _all);
            return all == 0 ? null : Interlocked.Read(ref _busy) / (double)all;
        }
    }
}
