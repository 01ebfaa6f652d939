using System.Collections.Concurrent;
using FedActors.Core.Simulation;

namespace FedActors.Runtime.State;

/// <summary>What a client entity keeps across passivation: its bookkeeping and, under a personalisation method, its
/// personal state (FedALA's local model, DBE's PRBM, GPFL's and FedCP's personal heads…).</summary>
/// <param name="Version">The round of the run whose work made this state (0: before round 1). A store keeps the versions
/// a checkpoint may still need, so a resumed run takes every client back to the round it resumes after.</param>
public sealed record ClientState(int ClientId, int RoundsTrained, int LastRound, Core.Personalisation.PersonalState? Personal = null, int Version = 0)
{
    public static ClientState New(int clientId) => new(clientId, 0, 0);
}

/// <summary>Where client entities keep their state while they are not resident, so a node can host more clients
/// than fit in memory. Implementations are thread-safe.</summary>
public interface IClientStateStore
{
    /// <summary>The client's newest version.</summary>
    ClientState? Load(int clientId);

    /// <summary>Keeps this version (replacing one of the same <see cref="ClientState.Version"/>).</summary>
    void Save(ClientState state);
}

/// <summary>The run's per-round checkpoints, next to the client states they go with.</summary>
public interface ICheckpointStore
{
    /// <summary>Commits round <see cref="RunCheckpoint.Round"/>, as one transaction: the checkpoint replaces the previous
    /// one, and each client keeps only its newest version up to that round (plus any newer ones, of the round in progress).</summary>
    void Commit(RunCheckpoint checkpoint);

    /// <summary>The last committed round's checkpoint; null before the first.</summary>
    RunCheckpoint? Last();

    /// <summary>Forgets every client version newer than <paramref name="round"/> (work of a round that was never committed),
    /// so a resumed run starts from exactly the committed state.</summary>
    void RollBack(int round);
}

/// <summary>A store in process memory: for single-process runs and tests.</summary>
public sealed class InMemoryClientStateStore : IClientStateStore, ICheckpointStore
{
    private readonly ConcurrentDictionary<int, SortedList<int, ClientState>> _states = new();
    private RunCheckpoint? _last;

    public ClientState? Load(int clientId)
    {
        if (!_states.TryGetValue(clientId, out var versions)) return null;
        lock (versions) return versions.Count == 0 ? null : versions.Values[^1];
    }

    public void Save(ClientState state)
    {
        var versions = _states.GetOrAdd(state.ClientId, _ => []);
        lock (versions) versions[state.Version] = state;
    }

    public int Count => _states.Count;

    public void Commit(RunCheckpoint checkpoint)
    {
        foreach (var versions in _states.Values)
            lock (versions)
            {
                var old = versions.Keys.Where(v => v <= checkpoint.Round).SkipLast(1).ToArray();
                foreach (var v in old) versions.Remove(v);
            }
        _last = checkpoint;
    }

    public RunCheckpoint? Last() => _last;

    public void RollBack(int round)
    {
        foreach (var versions in _states.Values)
            lock (versions)
                foreach (var v in versions.Keys.Where(v => v > round).ToArray()) versions.Remove(v);
    }
}
