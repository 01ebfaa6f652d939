using Akka.Actor;
using Akka.Event;
using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>
/// Coordinates the colluding malicious clients of a round (a cluster singleton). It decides <em>when</em> to craft:
/// once every malicious client expected to deliver this round (by the seeded participation draws and the round's fault
/// plan) has sent its honest update — and, with full knowledge, every benign one. It follows the round as it really
/// goes: the coordinator tells it which clients turned out missing (<see cref="ClientsMissing"/>), and a deadline of half
/// the safety timeout is the last resort. A colluder whose honest update arrives after the crafting gets its honest
/// update back at once, so nothing waits for it. What it crafts is Core's <see cref="Core.Attacks.Collusion"/>.
/// </summary>
public sealed class Adversary : ReceiveActor, IWithTimers
{
    /// <param name="events">Where the Pill's per-round report goes (null: nowhere).</param>
    public static Props Props(Experiment experiment, IActorRef worker, Monitoring.RunEvents? events = null) =>
        Akka.Actor.Props.Create(() => new Adversary(experiment, worker, events));

    private readonly Monitoring.RunEvents? _events;

    private sealed record CraftDeadline(int Round);

    private readonly Experiment _experiment;
    private readonly IActorRef _worker;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private AdversaryRoundStarted? _round;
    private HashSet<int> _awaiting = [];
    private readonly SortedDictionary<int, HonestUpdate> _malicious = [];
    private readonly SortedDictionary<int, HonestUpdate> _benign = [];
    private readonly List<HonestUpdate> _early = [];

    public ITimerScheduler Timers { get; set; } = null!;

    public Adversary(Experiment experiment, IActorRef worker, Monitoring.RunEvents? events = null)
    {
        _events = events;
        _experiment = experiment;
        _worker = worker;
        Receive<AdversaryRoundStarted>(HandleRoundStarted);
        Receive<HonestUpdate>(HandleHonestUpdate);
        Receive<ClientsMissing>(m =>
        {
            if (_round?.Round != m.Round || _crafting) return;
            foreach (var id in m.ClientIds) _awaiting.Remove(id);
            if (_awaiting.Count == 0) Ready();
        });
        Receive<CraftDeadline>(m => { if (_round?.Round == m.Round) Ready(); });
        Receive<ReferenceTrained>(m => { if (_round?.Round == m.Round) Craft(m.Delta); });
        Receive<TrainFailed>(m =>
        {
            _log.Warning("Round {Round}: the Pill's reference update failed ({Error}); colluders send their honest updates", m.Round, m.Error);
            if (_round?.Round == m.Round) Release();
        });
    }

    private bool _crafting;
    /// <summary>The last round crafted (or released): a colluder's honest update for it or an earlier round came too late.</summary>
    private int _done;

    private void HandleRoundStarted(AdversaryRoundStarted m)
    {
        var collusion = _experiment.Collusion;
        _round = m;
        _crafting = false;
        _malicious.Clear();
        _benign.Clear();
        _awaiting = m.Selected
            .Select((id, i) => (Id: id, Fault: m.FaultOf(i)))
            .Where(c => !c.Fault.LoseTask && !c.Fault.Drop && !c.Fault.Crash && _experiment.Participation(c.Id, m.Round, c.Fault).Delivers)
            .Where(c => collusion.CollusionNeeded(c.Id, m.Round, c.Fault.Attack) || (collusion.Observed(m.Round, c.Fault.Attack) && !collusion.IsMalicious(c.Id)))
            .Select(c => c.Id)
            .ToHashSet();
        _switched = m.Faults is { Length: > 0 } f ? f[0].Attack : null;
        Timers.StartSingleTimer("craft", new CraftDeadline(m.Round), _experiment.Settings.Round.Timeout / 2);
        var early = _early.Where(u => u.Round == m.Round).ToList();
        _early.RemoveAll(u => u.Round <= m.Round);
        foreach (var u in early) HandleHonestUpdate(u);
        if (_awaiting.Count == 0) Ready();
    }

    /// <summary>The round's <c>attack-on</c>/<c>attack-off</c> verdict (the same for every client of a round).</summary>
    private bool? _switched;

    private void HandleHonestUpdate(HonestUpdate u)
    {
        if (u.Round <= _done || (_round is { } r && u.Round == r.Round && _crafting && !_awaiting.Contains(u.ClientId)))
        {
            // too late for this round's crafting: the colluder submits its honest update rather than stall the round
            if (u.Malicious)
            {
                _log.Warning("Round {Round}: client {ClientId}'s honest update came after the crafting; it submits it unchanged", u.Round, u.ClientId);
                u.Client.Tell(new PoisonedUpdate(u.ClientId, u.Round, u.Delta));
            }
            return;
        }
        if (_round is null || u.Round > _round.Round) { _early.Add(u); return; }
        if (u.Round != _round.Round || !_awaiting.Remove(u.ClientId)) return;
        (u.Malicious ? _malicious : _benign)[u.ClientId] = u;
        if (_awaiting.Count == 0) Ready();
    }

    /// <summary>Every expected honest update is in (or the deadline passed): craft, after the reference if one is needed.</summary>
    private void Ready()
    {
        if (_round is not { } round || _crafting) return;
        Timers.Cancel("craft");
        _crafting = true;
        var epochs = _experiment.Collusion.ReferenceEpochs(round.Round, _malicious.Count, _experiment.Settings.Train.Epochs, _switched);
        if (epochs is { } e && _malicious.Count > 0)
            _worker.Tell(new TrainReference(round.Round, round.Global, [.. _malicious.Keys], e, Self));
        else
            Craft(null);
    }

    /// <summary>Without a reference the colluders cannot run the Pill: they submit their honest updates.</summary>
    private void Release()
    {
        foreach (var (id, honest) in _malicious) honest.Client.Tell(new PoisonedUpdate(id, honest.Round, honest.Delta));
        _done = _round!.Round;
        _round = null;
    }

    private void Craft(Core.Updates.ParameterVector? reference)
    {
        if (_round is not { } round) return;
        var collusion = _experiment.Collusion;
        var crafted = collusion.Craft(round.Round, round.Global, round.Selected.Length, round.Selected.Count(collusion.IsMalicious),
            _malicious.Values.Select(ToUpdate).ToArray(), _benign.Values.Select(ToUpdate).ToArray(), reference);
        foreach (var (id, honest) in _malicious)
            honest.Client.Tell(new PoisonedUpdate(id, round.Round, crafted[id]));
        if (collusion.Attack?.Model is Core.Attacks.Pill { LastReport: { } pill } && pill.Round == round.Round) _events?.PillCrafted(pill);
        if (_awaiting.Count > 0)
            _log.Warning("Round {Round}: crafted without {Missing} expected honest update(s)", round.Round, _awaiting.Count);
        _done = round.Round;
        _round = null;
    }

    private static ClientUpdate ToUpdate(HonestUpdate u) => new(u.ClientId, u.Delta, u.NumSamples, u.TrainLoss);
}
