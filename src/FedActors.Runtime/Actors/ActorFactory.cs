using Akka.Actor;

namespace FedActors.Runtime.Actors;

/// <summary>Props that make an actor by calling a delegate. <c>Props.Create(() => new T(…))</c> takes the expression tree
/// apart and compiles each argument into a dynamic method, every call: fine for a handful of actors, but a cross-device run
/// starts ~1,000 client entities a round, and compiling (and later finalising) those methods was a visible share of
/// its CPU. Local actors only (a delegate does not travel to another node), which is what sharded entities are.</summary>
public sealed class ActorFactory<TActor>(Func<TActor> create) : IIndirectActorProducer where TActor : ActorBase
{
    public static Props Props(Func<TActor> create) => Akka.Actor.Props.CreateBy(new ActorFactory<TActor>(create));

    public Type ActorType => typeof(TActor);

    public ActorBase Produce() => create();

    public void Release(ActorBase actor) { }
}
