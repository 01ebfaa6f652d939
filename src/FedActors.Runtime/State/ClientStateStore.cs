using System.Collections.Concurrent;

namespace FedActors.Runtime.State;

/// <summary>What a client entity keeps across passivation: its bookkeeping and, under a personalisation method, its
/// personal state (FedALA's local model, DBE's PRBM, GPFL's and FedCP's personal heads…).</summary>
public sealed record ClientState(int ClientId, int RoundsTrained, int LastRound, Core.Personalisation.PersonalState? Personal = null)
{
    public static ClientState New(int clientId) => new(clientId, 0, 0);
}

/// <summary>Where client entities keep their state while they are not resident, so a node can host more clients
/// than fit in memory. Implementations are thread-safe.</summary>
public interface IClientStateStore
{
    ClientState? Load(int clientId);
    void Save(ClientState state);
}

/// <summary>A store in process memory: for single-process runs and tests.</summary>
public sealed class InMemoryClientStateStore : IClientStateStore
{
    private readonly ConcurrentDictionary<int, ClientState> _states = new();
    public ClientState? Load(int clientId) => _states.TryGetValue(clientId, out var s) ? s : null;
    public void Save(ClientState state) => _states[state.ClientId] = state;
    public int Count => _states.Count;
}
