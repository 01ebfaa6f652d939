using Akka.Actor;
using Akka.Event;
using FedActors.Core.Simulation;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;

namespace FedActors.Runtime.Actors;

/// <summary>
/// One FL client, hosted by Cluster.Sharding (entity id = client id). It decides whether it takes part in a round
/// (its seeded dropout and device-speed draws, <see cref="Experiment.Participation"/>), has its node's
/// <see cref="DeviceWorker"/> train it, and submits its update to the coordinator. Its state lives in the
/// <see cref="IClientStateStore"/>, so it can passivate and come back unchanged.
/// </summary>
public sealed class ClientEntity : ReceiveActor
{
    public static Props Props(int clientId, Experiment experiment, IActorRef worker, IClientStateStore store, IActorRef adversary) =>
        Akka.Actor.Props.Create(() => new ClientEntity(clientId, experiment, worker, store, adversary));

    private sealed record Pending(int Round, IActorRef ReplyTo, double SimSeconds, TrainDone? Honest = null);

    private readonly int _clientId;
    private readonly Experiment _experiment;
    private readonly IActorRef _worker;
    private readonly IClientStateStore _store;
    private readonly IActorRef _adversary;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ClientState _state;
    private Pending? _pending;

    public ClientEntity(int clientId, Experiment experiment, IActorRef worker, IClientStateStore store, IActorRef adversary)
    {
        _clientId = clientId;
        _experiment = experiment;
        _worker = worker;
        _store = store;
        _adversary = adversary;
        _state = store.Load(clientId) ?? ClientState.New(clientId);
        Receive<StartTraining>(HandleStartTraining);
        Receive<TrainDone>(HandleTrainDone);
        Receive<TrainFailed>(HandleTrainFailed);
        Receive<PoisonedUpdate>(HandlePoisonedUpdate);
    }

    private void HandleStartTraining(StartTraining m)
    {
        var decision = _experiment.Participation(_clientId, m.Round);
        if (!decision.Delivers)
        {
            m.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, decision.Reason!.Value, decision.SimSeconds));
            return;
        }
        _pending = new Pending(m.Round, m.ReplyTo, decision.SimSeconds);
        _worker.Tell(new TrainTask(_clientId, m.Round, Self));
    }

    private void HandleTrainDone(TrainDone m)
    {
        if (_pending is not { } p || p.Round != m.Round || p.Honest is not null) return;
        var collusion = _experiment.Collusion;
        if (collusion.CollusionNeeded(_clientId, m.Round))
        {
            // A colluder: show the honest update to the adversary and submit what it crafts.
            _pending = p with { Honest = m };
            _adversary.Tell(new HonestUpdate(_clientId, m.Round, m.Delta, m.NumSamples, m.TrainLoss, true, Self));
            return;
        }
        if (collusion.Observed(m.Round) && !collusion.IsMalicious(_clientId))
            _adversary.Tell(new HonestUpdate(_clientId, m.Round, m.Delta, m.NumSamples, m.TrainLoss, false, Self));
        Submit(p, m, m.Delta);
    }

    private void HandlePoisonedUpdate(PoisonedUpdate m)
    {
        if (_pending is not { Honest: { } honest } p || p.Round != m.Round) return;
        Submit(p, honest, m.Delta);
    }

    private void Submit(Pending p, TrainDone trained, Core.Updates.ParameterVector delta)
    {
        _pending = null;
        p.ReplyTo.Tell(new UpdateSubmitted(_clientId, p.Round, delta, trained.NumSamples, trained.TrainLoss, p.SimSeconds, trained.ComputeMs));
        _state = _state with { RoundsTrained = _state.RoundsTrained + 1, LastRound = p.Round };
        _store.Save(_state);
    }

    private void HandleTrainFailed(TrainFailed m)
    {
        if (_pending is not { } p || p.Round != m.Round) return;
        _pending = null;
        _log.Warning("Client {ClientId} failed to train in round {Round}: {Error}", _clientId, m.Round, m.Error);
        p.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, DropReason.Failed, p.SimSeconds));
    }
}
