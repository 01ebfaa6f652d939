using FedActors.Core.Simulation;

namespace FedActors.Runtime.State;

/// <summary>
/// Group commit in front of a database store (SQLite, PostgreSQL): client entities hand their states over and go on;
/// one writer thread of its own (never an actor dispatcher thread) writes whatever has gathered in one transaction,
/// then the next batch. A store that commits each client's row by itself pays a WAL sync per client, on the entity's
/// dispatcher thread — most of a cross-device round's time before this (1,000 clients a round).
/// </summary>
/// <remarks>
/// <para>Reads see every state at once (<see cref="Load"/> answers from the unwritten ones first). <see cref="SaveDurably"/>
/// completes when its batch is committed, so an entity that replies after it keeps the rule the checkpoints rely on —
/// a client's state of round r is in the database before the coordinator hears of it — on every node of a cluster.</para>
/// <para>Every checkpoint operation first waits for what is pending, so a commit of round r holds every state saved before
/// it. A failed write is not dropped: the waiting saves fail with it, and so does every later call, naming the cause.</para>
/// </remarks>
public sealed class GroupCommitStateStore : IClientStateStore, ICheckpointStore, IDisposable
{
    private readonly IClientStateStore _inner;
    private readonly ICheckpointStore _checkpoints;
    private readonly object _lock = new(); // a Monitor: the writer waits on it
    private Dictionary<(int Client, int Version), ClientState> _pending = [];
    private List<TaskCompletionSource> _waiting = [];
    /// <summary>Each client's newest state not yet written (pending, or in the batch being written).</summary>
    private readonly Dictionary<int, ClientState> _unwritten = [];
    private readonly Thread _writer;
    private Exception? _failure;
    private bool _stopping;

    /// <param name="inner">The database store; it must keep checkpoints too.</param>
    public GroupCommitStateStore(IClientStateStore inner)
    {
        _inner = inner;
        _checkpoints = inner as ICheckpointStore ?? throw new ArgumentException("the store must keep checkpoints too", nameof(inner));
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "state-writer" };
        _writer.Start();
    }

    /// <summary>Batches written so far, and the states in them (for the bench and tests).</summary>
    public (long Batches, long States) Written { get { lock (_lock) return (_batches, _written); } }
    private long _batches, _written;

    public ClientState? Load(int clientId)
    {
        lock (_lock)
        {
            ThrowIfFailed();
            if (_unwritten.TryGetValue(clientId, out var s)) return s;
        }
        return _inner.Load(clientId);
    }

    public void Save(ClientState state)
    {
        lock (_lock) Enqueue(state);
    }

    /// <remarks>A store that already failed (or is disposed) answers with a failed task, never a throw: the caller (an
    /// entity) handles it where it handles a failed write.</remarks>
    public Task SaveDurably(ClientState state)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            try { Enqueue(state); }
            catch (Exception e) when (e is InvalidOperationException) { return Task.FromException(e); }
            _waiting.Add(done);
        }
        return done.Task;
    }

    public void SaveAll(IReadOnlyCollection<ClientState> states)
    {
        lock (_lock)
            foreach (var s in states) Enqueue(s);
    }

    private void Enqueue(ClientState state)
    {
        ThrowIfFailed();
        ObjectDisposedException.ThrowIf(_stopping, this);
        _pending[(state.ClientId, state.Version)] = state;
        if (!_unwritten.TryGetValue(state.ClientId, out var newest) || newest.Version <= state.Version) _unwritten[state.ClientId] = state;
        Monitor.Pulse(_lock);
    }

    /// <summary>Waits until everything saved before this call is written.</summary>
    public void Flush()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            ThrowIfFailed();
            ObjectDisposedException.ThrowIf(_stopping, this);
            _waiting.Add(done);
            Monitor.Pulse(_lock);
        }
        done.Task.GetAwaiter().GetResult();
    }

    private void WriteLoop()
    {
        while (true)
        {
            Dictionary<(int, int), ClientState> batch;
            List<TaskCompletionSource> waiting;
            lock (_lock)
            {
                while (_pending.Count == 0 && _waiting.Count == 0 && !_stopping) Monitor.Wait(_lock);
                if (_pending.Count == 0 && _waiting.Count == 0) return; // stopping, nothing left
                (batch, _pending) = (_pending, []);
                (waiting, _waiting) = (_waiting, []);
            }
            Exception? error = null;
            try { _inner.SaveAll(batch.Values); }
            catch (Exception e) { error = e; }
            lock (_lock)
            {
                if (error is not null)
                    _failure ??= new InvalidOperationException($"the state store failed to write client states: {error.GetBaseException().Message}", error);
                else
                {
                    _batches++;
                    _written += batch.Count;
                    foreach (var s in batch.Values)
                        if (_unwritten.TryGetValue(s.ClientId, out var newest) && ReferenceEquals(newest, s)) _unwritten.Remove(s.ClientId);
                }
            }
            foreach (var w in waiting)
                if (_failure is { } f) w.TrySetException(Copy(f));
                else w.TrySetResult();
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } f) throw Copy(f);
    }

    /// <summary>A fresh exception per caller with the first failure's message and cause.</summary>
    private static InvalidOperationException Copy(Exception failure) => new(failure.Message, failure.InnerException);

    public void Commit(RunCheckpoint checkpoint, int keepEvery = 0)
    {
        Flush();
        _checkpoints.Commit(checkpoint, keepEvery);
    }

    public RunCheckpoint? Last()
    {
        Flush();
        return _checkpoints.Last();
    }

    public RunCheckpoint? At(int round)
    {
        Flush();
        return _checkpoints.At(round);
    }

    public IReadOnlyList<int> KeptRounds()
    {
        Flush();
        return _checkpoints.KeptRounds();
    }

    public IReadOnlyList<ClientState> StatesAt(int round)
    {
        Flush();
        return _checkpoints.StatesAt(round);
    }

    public void RollBack(int round)
    {
        Flush();
        _checkpoints.RollBack(round);
    }

    /// <summary>Writes what is pending, stops the writer, then disposes the inner store; throws if a write failed.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.Pulse(_lock);
        }
        _writer.Join();
        (_inner as IDisposable)?.Dispose();
        // the last batch failed: its states are lost, which must not pass unnoticed
        lock (_lock) ThrowIfFailed();
    }
}
