using Akka.Actor;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>A client entity was asked for work (it is, or is again, among the node's most recently used).</summary>
public sealed record EntityActive(int ClientId, IActorRef Entity) : IFedActorsMessage;

/// <summary>A client entity stopped (passivated, or crashed and stopped).</summary>
public sealed record EntityStopped(int ClientId, IActorRef Entity) : IFedActorsMessage;

/// <summary>The node has too many resident client entities: stop if idle (state stays in the store).</summary>
public sealed record PassivateIfIdle : IFedActorsMessage
{
    public static readonly PassivateIfIdle Instance = new();
}

/// <summary>
/// Bounded residency, one per node: keeps the node's client entities in least-recently-used order and, when more than
/// <c>fedactors.state.max-active-entities</c> are resident, asks the least recently used to passivate. An entity busy
/// with a task ignores the request (its state would not be saved yet), so the cap can be passed for a moment, never for
/// long. This Akka.NET version's sharding has idle passivation only, no entity limit: hence this.
/// </summary>
public sealed class ResidencyGuard : ReceiveActor
{
    public static Props Props(int limit) => Akka.Actor.Props.Create(() => new ResidencyGuard(limit));

    private readonly LinkedList<(int Id, IActorRef Entity)> _recent = new(); // most recent first
    private readonly Dictionary<IActorRef, LinkedListNode<(int Id, IActorRef Entity)>> _nodes = [];
    private readonly HashSet<IActorRef> _asked = [];

    public ResidencyGuard(int limit)
    {
        Receive<EntityActive>(m =>
        {
            if (_nodes.Remove(m.Entity, out var node)) _recent.Remove(node);
            _nodes[m.Entity] = _recent.AddFirst((m.ClientId, m.Entity));
            _asked.Remove(m.Entity);
            // ask the least recently used beyond the limit (once each, until they are used again)
            var tail = _recent.Last;
            for (int over = _recent.Count - limit; over > 0 && tail is not null; over--, tail = tail.Previous)
                if (_asked.Add(tail.Value.Entity)) tail.Value.Entity.Tell(PassivateIfIdle.Instance);
        });
        Receive<EntityStopped>(m =>
        {
            if (_nodes.Remove(m.Entity, out var node)) _recent.Remove(node);
            _asked.Remove(m.Entity);
        });
    }
}
