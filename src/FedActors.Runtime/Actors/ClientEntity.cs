using Akka.Actor;
using Akka.Event;
using FedActors.Core.Faults;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;

namespace FedActors.Runtime.Actors;

/// <summary>
/// One FL client, hosted by Cluster.Sharding (entity id = client id). It decides whether it takes part in a round
/// (its seeded dropout and device-speed draws, <see cref="Experiment.Participation"/>), has its node's
/// <see cref="DeviceWorker"/> train it, and submits its update to the coordinator. Under a personalisation method it
/// also holds its <see cref="PersonalState"/>, sends it with each task and keeps what comes back, one task at a time
/// (later requests wait in the stash). Its state lives in the <see cref="IClientStateStore"/>, saved after every
/// change, so it can passivate and come back unchanged.
/// </summary>
public sealed class ClientEntity : ReceiveActor, IWithStash
{
    /// <param name="passivateAfter">Idle time after which the entity asks its shard to stop it (its state is in the store);
    /// never while a task is on the worker, whose reply comes straight back to this incarnation. Null: never.</param>
    /// <param name="region">Where requests that arrive while passivating go back to (default: the client shard region).</param>
    /// <param name="residency">The node's <see cref="ResidencyGuard"/> (null: no cap on resident entities).</param>
    public static Props Props(int clientId, Experiment experiment, IActorRef worker, IClientStateStore store, IActorRef adversary,
        TimeSpan? passivateAfter = null, IActorRef? region = null, IActorRef? residency = null) =>
        ActorFactory<ClientEntity>.Props(() => new ClientEntity(clientId, experiment, worker, store, adversary, passivateAfter, region, residency));

    private sealed record Pending(int Round, IActorRef ReplyTo, double SimSeconds, ClientFault Fault, TrainDone? Honest = null);

    /// <summary>What a <c>crash</c> fault throws: the entity stops, its in-memory state with it, and sharding's supervisor
    /// starts it again from the state store.</summary>
    public sealed class InjectedCrash(int clientId, int round) : Exception($"client {clientId} crashed in round {round} (injected fault)");

    /// <summary>The personal task on the worker: which work, for which request; <paramref name="Saving"/> once its result is
    /// being written to the store.</summary>
    private sealed record InFlight(PersonalWork Work, int RequestRound, IActorRef ReplyTo, bool Saving = false);

    /// <summary>The store has written the state <paramref name="Done"/> produced (or failed to, with <paramref name="Error"/>).</summary>
    private sealed record PersonalSaved(PersonalTaskDone Done, string? Error = null);

    private readonly int _clientId;
    private readonly Experiment _experiment;
    private readonly IActorRef _worker;
    private readonly IClientStateStore _store;
    private readonly IActorRef _adversary;
    private readonly IPersonalisation? _method;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ClientState _state;
    private Pending? _pending;
    private InFlight? _inFlight;

    public IStash Stash { get; set; } = null!;


    public ClientEntity(int clientId, Experiment experiment, IActorRef worker, IClientStateStore store, IActorRef adversary, TimeSpan? passivateAfter = null,
        IActorRef? region = null, IActorRef? residency = null)
    {
        _residency = residency;
        _region = region;
        _clientId = clientId;
        _experiment = experiment;
        _worker = worker;
        _store = store;
        _adversary = adversary;
        _method = experiment.Settings.CreatePersonalisation();
        _state = store.Load(clientId) ?? ClientState.New(clientId);
        if (_method is not null && _state.Personal is null) _state = _state with { Personal = _method.Initial(experiment, clientId) };
        Receive<StartTraining>(m => { if (!Redelivered(m)) { Touch(); HandleStartTraining(m); } });
        Receive<TrainDone>(HandleTrainDone);
        Receive<TrainFailed>(HandleTrainFailed);
        Receive<PoisonedUpdate>(HandlePoisonedUpdate);
        Receive<PrepareClient>(m => { if (!Redelivered(m)) { Touch(); StartPersonal(PersonalWork.Prepare, 0, 0, m.ReplyTo); } });
        Receive<EvaluateClient>(m => { if (!Redelivered(m)) { Touch(); StartPersonal(PersonalWork.Evaluate, m.Round + 1, m.Round, m.ReplyTo); } });
        Receive<PassivateIfIdle>(_ => PassivateIfIdle());
        Receive<PersonalTaskDone>(HandlePersonalDone);
        Receive<PersonalSaved>(HandlePersonalSaved);
        Receive<BookkeepingSaved>(HandleBookkeepingSaved);
        Receive<ReceiveTimeout>(_ => PassivateIfIdle());
        if (passivateAfter is { } idle) Context.SetReceiveTimeout(idle);
    }

    /// <summary>Our own idle passivation (sharding's is off in reference.conf): a reply from the worker or the adversary
    /// is sent to this incarnation, so the entity must not stop while it waits for one.</summary>
    private void PassivateIfIdle()
    {
        if (_passivating || _pending is not null || _inFlight is not null || _unsaved > 0) return;
        _passivating = true;
        Context.SetReceiveTimeout(null);
        Context.Parent.Tell(new Akka.Cluster.Sharding.Passivate(PoisonPill.Instance));
    }

    private bool _passivating;
    private readonly IActorRef? _region;
    private readonly IActorRef? _residency;

    /// <summary>Tells the node's residency guard this client was just used.</summary>
    private void Touch() => _residency?.Tell(new EntityActive(_clientId, Self));

    protected override void PostStop()
    {
        _residency?.Tell(new EntityStopped(_clientId, Self));
        base.PostStop();
    }

    /// <summary>A request that reached this incarnation after it asked to stop (it was already in the mailbox) would start
    /// work whose reply nobody receives; it goes back through the region instead, which holds it until the entity has
    /// stopped and delivers it to the next incarnation.</summary>
    private bool Redelivered(IWithClientId request)
    {
        if (!_passivating) return false;
        (_region ?? Akka.Cluster.Sharding.ClusterSharding.Get(Context.System).ShardRegion(Hosting.ActorNames.ClientRegion)).Tell(request, Sender);
        return true;
    }

    private void HandleStartTraining(StartTraining m)
    {
        if (_inFlight is not null) { Stash.Stash(); return; }
        var fault = m.Fault ?? ClientFault.None;
        if (fault.Crash)
        {
            // the coordinator learns it as a failure (a real crash would be found by the safety timeout: this keeps rounds
            // short), then the entity dies with its in-memory state
            m.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, DropReason.Failed, 0, "crashed (injected fault)", Injected: true));
            throw new InjectedCrash(_clientId, m.Round);
        }
        if (fault.Drop)
        {
            m.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, DropReason.DroppedOut, 0, Injected: true));
            return;
        }
        var decision = _experiment.Participation(_clientId, m.Round, fault);
        if (!decision.Delivers)
        {
            m.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, decision.Reason!.Value, decision.SimSeconds));
            return;
        }
        _pending = new Pending(m.Round, m.ReplyTo, decision.SimSeconds, fault);
        if (_method is null) _worker.Tell(new TrainTask(_clientId, m.Round, Self, fault.Attack));
        else StartPersonal(PersonalWork.Train, m.Round, m.Round, m.ReplyTo, fault.Attack);
    }

    /// <param name="modelRound">The global model version the task runs on.</param>
    /// <param name="attack">An <c>attack-on</c>/<c>attack-off</c> fault's verdict for a training step.</param>
    private void StartPersonal(PersonalWork work, int modelRound, int requestRound, IActorRef replyTo, bool? attack = null)
    {
        if (_method is null)
        {
            _log.Warning("Client {ClientId} got a {Work} request, but the run has no personalisation method", _clientId, work);
            return;
        }
        if (_inFlight is not null) { Stash.Stash(); return; }
        _inFlight = new InFlight(work, requestRound, replyTo);
        _worker.Tell(new PersonalTask(_clientId, modelRound, work, _state.Personal!, Self, attack));
    }

    private void HandlePersonalDone(PersonalTaskDone m)
    {
        if (_inFlight is not { } f || f.Work != m.Work || f.Saving) return;
        // versioned by the run's round the work belongs to (an evaluation of round r is round r's), and written before any
        // reply, so a checkpoint of round r never misses a client's state of round r; the entity stays busy meanwhile
        _state = _state with { Personal = m.State, Version = f.RequestRound };
        _inFlight = f with { Saving = true };
        _store.SaveDurably(_state).PipeTo(Self, success: () => new PersonalSaved(m), failure: e => new PersonalSaved(m, e.GetBaseException().Message));
    }

    private void HandlePersonalSaved(PersonalSaved saved)
    {
        if (_inFlight is not { Saving: true } f) return;
        var m = saved.Done;
        if (saved.Error is { } error)
        {
            _log.Error("Client {ClientId} could not save its state of round {Round}: {Error}", _clientId, f.RequestRound, error);
            HandleTrainFailed(new TrainFailed(_clientId, f.RequestRound, $"its state could not be saved: {error}"));
            return;
        }
        _inFlight = null;
        switch (m.Work)
        {
            case PersonalWork.Prepare:
                f.ReplyTo.Tell(new ClientPrepared(_clientId, m.Samples, m.Contribution));
                break;
            case PersonalWork.Evaluate:
                f.ReplyTo.Tell(new ClientEvaluated(_clientId, f.RequestRound, m.Evaluation));
                break;
            case PersonalWork.Train:
                var u = m.Upload!;
                HandleTrainDone(new TrainDone(_clientId, f.RequestRound, u.Delta, u.NumSamples, u.MeanLoss, m.ComputeMs));
                break;
        }
        Stash.UnstashAll();
    }

    private void HandleTrainDone(TrainDone m)
    {
        if (_pending is not { } p || p.Round != m.Round || p.Honest is not null) return;
        var collusion = _experiment.Collusion;
        if (collusion.CollusionNeeded(_clientId, m.Round, p.Fault.Attack))
        {
            // A colluder: show the honest update to the adversary and submit what it crafts.
            _pending = p with { Honest = m };
            _adversary.Tell(new HonestUpdate(_clientId, m.Round, m.Delta, m.NumSamples, m.TrainLoss, true, Self));
            return;
        }
        if (collusion.Observed(m.Round, p.Fault.Attack) && !collusion.IsMalicious(_clientId))
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
        // a lose-messages fault: the update is sent into the void, and the coordinator's safety timeout finds it missing
        if (!p.Fault.LoseUpdate)
            p.ReplyTo.Tell(new UpdateSubmitted(_clientId, p.Round, delta, trained.NumSamples, trained.TrainLoss, p.SimSeconds, trained.ComputeMs));
        // bookkeeping only, after the reply (a slow store must not hold the round up): the personal state that later rounds
        // depend on was saved before this in HandlePersonalDone. The entity does not passivate until this row is written:
        // a batching store writes it later, and the client's next incarnation (on another node, maybe) must not read an
        // older row, nor have its own newer save of the same version overwritten by this one
        _state = _state with { RoundsTrained = _state.RoundsTrained + 1, LastRound = p.Round, Version = p.Round };
        _unsaved++;
        _store.SaveDurably(_state).PipeTo(Self, success: () => new BookkeepingSaved(null), failure: e => new BookkeepingSaved(e.GetBaseException().Message));
    }

    /// <summary>Bookkeeping rows handed to the store and not yet written.</summary>
    private int _unsaved;

    private sealed record BookkeepingSaved(string? Error);

    private void HandleBookkeepingSaved(BookkeepingSaved m)
    {
        _unsaved--;
        if (m.Error is { } error) _log.Error("Client {ClientId} could not save its state: {Error}", _clientId, error);
    }

    private void HandleTrainFailed(TrainFailed m)
    {
        _log.Warning("Client {ClientId} failed a task of round {Round}: {Error}", _clientId, m.Round, m.Error);
        if (_inFlight is { } f)
        {
            _inFlight = null;
            Stash.UnstashAll();
            if (f.Work == PersonalWork.Evaluate) { f.ReplyTo.Tell(new ClientEvaluated(_clientId, f.RequestRound, null)); return; }
            if (f.Work == PersonalWork.Prepare) { f.ReplyTo.Tell(new ClientPrepared(_clientId, 0, null)); return; }
        }
        if (_pending is not { } p || p.Round != m.Round) return;
        _pending = null;
        p.ReplyTo.Tell(new ClientDropped(_clientId, m.Round, DropReason.Failed, p.SimSeconds, m.Error));
    }
}
