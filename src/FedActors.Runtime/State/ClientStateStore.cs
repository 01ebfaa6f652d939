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

    /// <summary>Keeps this version (replacing one of the same <see cref="ClientState.Version"/>). A batching store may
    /// write it later; <see cref="Load"/> sees it at once either way.</summary>
    void Save(ClientState state);

    /// <summary>Keeps this version; the task completes once it is written where the store keeps it (for a database, committed),
    /// so what is said after it (a reply that lets the coordinator commit the round) can rely on it.</summary>
    Task SaveDurably(ClientState state)
    {
        Save(state);
        return Task.CompletedTask;
    }

    /// <summary>Keeps these versions together (a database store: in one transaction).</summary>
    void SaveAll(IReadOnlyCollection<ClientState> states)
    {
        foreach (var s in states) Save(s);
    }
}

/// <summary>The run's per-round checkpoints, next to the client states they go with.</summary>
public interface ICheckpointStore
{
    /// <summary>Commits round <see cref="RunCheckpoint.Round"/>, as one transaction: the checkpoint replaces the previous
    /// one unless that one's round is a multiple of <paramref name="keepEvery"/> (kept to fork from; 0: none kept), and each
    /// client keeps only the versions some kept checkpoint needs (its newest up to that round), plus any newer ones.</summary>
    void Commit(RunCheckpoint checkpoint, int keepEvery = 0);

    /// <summary>The last committed round's checkpoint; null before the first.</summary>
    RunCheckpoint? Last();

    /// <summary>The checkpoint of a kept round (the last one, or one kept by keep-every); null when it was not kept.</summary>
    RunCheckpoint? At(int round);

    /// <summary>The rounds whose checkpoints are kept, ascending.</summary>
    IReadOnlyList<int> KeptRounds();

    /// <summary>Every client's state as of a kept round (its newest version up to it).</summary>
    IReadOnlyList<ClientState> StatesAt(int round);

    /// <summary>Forgets every client version newer than <paramref name="round"/> (work of a round that was never committed),
    /// so a resumed run starts from exactly the committed state.</summary>
    void RollBack(int round);
}

/// <summary>Rows of client state as both database stores select them: client_id, rounds_trained, last_round, personal, version.</summary>
internal static class ClientStateRows
{
    public static List<ClientState> ReadAll(System.Data.Common.DbDataReader r)
    {
        var states = new List<ClientState>();
        while (r.Read())
            states.Add(new ClientState(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2),
                r.IsDBNull(3) ? null : Core.Personalisation.PersonalState.FromBytes((byte[])r.GetValue(3)), r.GetInt32(4)));
        return states;
    }
}

/// <summary>A store in process memory: for single-process runs and tests.</summary>
public sealed class InMemoryClientStateStore : IClientStateStore, ICheckpointStore
{
    private readonly ConcurrentDictionary<int, SortedList<int, ClientState>> _states = new();
    private readonly SortedDictionary<int, RunCheckpoint> _checkpoints = [];

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

    public void Commit(RunCheckpoint checkpoint, int keepEvery = 0)
    {
        lock (_checkpoints)
        {
            _checkpoints[checkpoint.Round] = checkpoint;
            foreach (var r in _checkpoints.Keys.Where(r => r != checkpoint.Round && !(keepEvery > 0 && r % keepEvery == 0)).ToArray()) _checkpoints.Remove(r);
            var kept = _checkpoints.Keys.ToArray();
            foreach (var versions in _states.Values)
                lock (versions)
                {
                    var vs = versions.Keys.ToArray();
                    for (int i = 0; i + 1 < vs.Length && vs[i + 1] <= checkpoint.Round; i++)
                        if (!kept.Any(k => k >= vs[i] && k < vs[i + 1])) versions.Remove(vs[i]); // no kept round needs it
                }
        }
    }

    public RunCheckpoint? Last()
    {
        lock (_checkpoints) return _checkpoints.Count == 0 ? null : _checkpoints.Values.Last();
    }

    public RunCheckpoint? At(int round)
    {
        lock (_checkpoints) return _checkpoints.GetValueOrDefault(round);
    }

    public IReadOnlyList<int> KeptRounds()
    {
        lock (_checkpoints) return [.. _checkpoints.Keys];
    }

    public IReadOnlyList<ClientState> StatesAt(int round) =>
        [.. _states.Values.Select(versions => { lock (versions) return versions.Values.LastOrDefault(v => v.Version <= round); })
            .Where(s => s is not null).Select(s => s!).OrderBy(s => s.ClientId)];

    public void RollBack(int round)
    {
        foreach (var versions in _states.Values)
            lock (versions)
                foreach (var v in versions.Keys.Where(v => v > round).ToArray()) versions.Remove(v);
        lock (_checkpoints)
            foreach (var r in _checkpoints.Keys.Where(r => r > round).ToArray()) _checkpoints.Remove(r);
    }
}
