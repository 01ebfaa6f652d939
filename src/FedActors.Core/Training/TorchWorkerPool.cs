using System.Collections.Concurrent;
using FedActors.Core.Models;
using TorchSharp;

namespace FedActors.Core.Training;

/// <summary>One pool thread's private resources: its own model instance, reused across tasks.</summary>
public sealed class WorkerSlot(int index, SplitModel model)
{
    public int Index { get; } = index;
    public SplitModel Model { get; } = model;
}

/// <summary>
/// Dedicated OS threads that run torch work, each with its own model and its own intra-op thread count (set on
/// that thread, where libtorch keeps it). Work is synchronous on the pool thread, so dispose scopes never cross a
/// thread. The safe default on a shared CPU is one torch thread per worker and as many workers as cores.
/// </summary>
public sealed class TorchWorkerPool : IDisposable
{
    private static readonly object StartLock = new();
    private readonly BlockingCollection<Action<WorkerSlot>> _queue = new();
    private readonly Thread[] _threads;

    public TorchWorkerPool(int workers, int threadsPerWorker, Func<SplitModel> modelFactory, string name = "torch-worker")
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers));
        if (threadsPerWorker < 1) throw new ArgumentOutOfRangeException(nameof(threadsPerWorker));
        Workers = workers;
        ThreadsPerWorker = threadsPerWorker;
        var ready = new CountdownEvent(workers);
        Exception? startError = null;
        _threads = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            int index = i;
            _threads[i] = new Thread(() =>
            {
                WorkerSlot slot;
                try
                {
                    // one thread at a time: libtorch's set_num_threads also changes process-wide state (the intra-op
                    // thread count, oneDNN's primitive cache, which it clears), which other threads must not be using
                    lock (StartLock)
                    {
                        torch.set_num_threads(threadsPerWorker);
                        slot = new WorkerSlot(index, modelFactory());
                    }
                }
                catch (Exception e) { startError = e; ready.Signal(); return; }
                ready.Signal();
                foreach (var work in _queue.GetConsumingEnumerable()) work(slot);
                slot.Model.Dispose();
            }) { IsBackground = true, Name = $"{name}-{i}" };
            _threads[i].Start();
        }
        ready.Wait();
        if (startError is not null) throw new InvalidOperationException("a torch worker failed to start", startError);
    }

    public int Workers { get; }
    public int ThreadsPerWorker { get; }

    /// <summary>Runs <paramref name="work"/> on the next free pool thread.</summary>
    public Task<T> Run<T>(Func<WorkerSlot, T> work)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add(slot =>
        {
            try { tcs.SetResult(work(slot)); }
            catch (Exception e) { tcs.SetException(e); }
        });
        return tcs.Task;
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        foreach (var t in _threads) t.Join();
        _queue.Dispose();
    }
}
