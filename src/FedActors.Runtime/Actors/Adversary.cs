using Akka.Actor;
using Akka.Event;
using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>
/// Coordinates the colluding malicious clients of a round (a cluster singleton). It decides <em>when</em> to craft:
/// once every malicious client expected to deliver this round (by the seeded participation draws) has sent its
/// honest update — and, with full knowledge, every benign one — or when its deadline passes; a malicious client that
/// drops out or crashes is simply missing. What it crafts is Core's <see cref="Core.Attacks.Collusion"/>.
/// </summary>
public sealed class Adversary : ReceiveActor, IWithTimers
{
    public static Props Props(Experiment experiment) => Akka.Actor.Props.Create(() => new Adversary(experiment));

    private sealed record CraftDeadline(int Round);

    private readonly Experiment _experiment;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private AdversaryRoundStarted? _round;
    private HashSet<int> _awaiting = [];
    private readonly SortedDictionary<int, HonestUpdate> _malicious = [];
    private readonly SortedDictionary<int, HonestUpdate> _benign = [];
    private readonly List<HonestUpdate> _early = [];

    public ITimerScheduler Timers { get; set; } = null!;

    public Adversary(Experiment experiment)
    {
        _experiment = experiment;
        Receive<AdversaryRoundStarted>(HandleRoundStarted);
        Receive<HonestUpdate>(HandleHonestUpdate);
        Receive<CraftDeadline>(m => { if (_round?.Round == m.Round) Craft(); });
    }

    private void HandleRoundStarted(AdversaryRoundStarted m)
    {
        var collusion = _experiment.Collusion;
        _round = m;
        _malicious.Clear();
        _benign.Clear();
        _awaiting = m.Selected
            .Where(id => _experiment.Participation(id, m.Round).Delivers)
            .Where(id => collusion.CollusionNeeded(id, m.Round) || (collusion.Observed(m.Round) && !collusion.IsMalicious(id)))
            .ToHashSet();
        Timers.StartSingleTimer("craft", new CraftDeadline(m.Round), _experiment.Settings.Round.Timeout / 2);
        var early = _early.Where(u => u.Round == m.Round).ToList();
        _early.RemoveAll(u => u.Round <= m.Round);
        foreach (var u in early) HandleHonestUpdate(u);
        if (_awaiting.Count == 0) Craft();
    }

    private void HandleHonestUpdate(HonestUpdate u)
    {
        if (_round is null || u.Round > _round.Round) { _early.Add(u); return; }
        if (u.Round != _round.Round || !_awaiting.Remove(u.ClientId)) return;
        (u.Malicious ? _malicious : _benign)[u.ClientId] = u;
        if (_awaiting.Count == 0) Craft();
    }

    private void Craft()
    {
        if (_round is not { } round) return;
        Timers.Cancel("craft");
        var collusion = _experiment.Collusion;
        var crafted = collusion.Craft(round.Round, round.Global, round.Selected.Length, round.Selected.Count(collusion.IsMalicious),
            _malicious.Values.Select(ToUpdate).ToArray(), _benign.Values.Select(ToUpdate).ToArray());
        foreach (var (id, honest) in _malicious)
            honest.Client.Tell(new PoisonedUpdate(id, round.Round, crafted[id]));
        if (_awaiting.Count > 0)
            _log.Warning("Round {Round}: crafted without {Missing} expected honest update(s)", round.Round, _awaiting.Count);
        _round = null;
    }

    private static ClientUpdate ToUpdate(HonestUpdate u) => new(u.ClientId, u.Delta, u.NumSamples, u.TrainLoss);
}
