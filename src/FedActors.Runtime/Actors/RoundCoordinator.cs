using System.Diagnostics;
using Akka.Actor;
using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>
/// The FL server, a cluster singleton. It decides <em>when</em> each step of a round happens: sample (seeded) →
/// send the global model once to each node's worker → ask the sampled clients to train → collect updates until all
/// have answered or the wall-clock safety timeout fires → aggregate (Core, client-id order) → evaluate → report
/// <c>RoundCompleted</c> → next round. What each step computes is Core's: <see cref="ClientSampler"/>,
/// <see cref="RoundState"/>, <see cref="ServerStep"/>.
/// </summary>
public sealed class RoundCoordinator : ReceiveActor, IWithTimers
{
    public static Props Props(Experiment experiment, IActorRef clients, IActorRef evaluator, IActorRef adversary, RunEvents events) =>
        Akka.Actor.Props.Create(() => new RoundCoordinator(experiment, clients, evaluator, adversary, events));

    private sealed record RoundTimeout(int Round);

    private readonly Experiment _experiment;
    private readonly IActorRef _clients;
    private readonly IActorRef _evaluator;
    private readonly IActorRef _adversary;
    private readonly RunEvents _events;
    private readonly HashSet<IActorRef> _workers = [];
    private readonly Stopwatch _runClock = new();
    private readonly Stopwatch _roundClock = new();
    private IActorRef _observer = ActorRefs.Nobody;
    private ParameterVector _global = null!;
    private RoundState _round = null!;
    private double _bestAccuracy = double.NaN;
    private double _lastAccuracy = double.NaN;
    private IReadOnlyCollection<int>? _accepted;

    public ITimerScheduler Timers { get; set; } = null!;

    public RoundCoordinator(Experiment experiment, IActorRef clients, IActorRef evaluator, IActorRef adversary, RunEvents events)
    {
        _experiment = experiment;
        _clients = clients;
        _evaluator = evaluator;
        _adversary = adversary;
        _events = events;
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<StartRun>(HandleStartRun);
    }

    private int Rounds => _experiment.Settings.Rounds;

    private void HandleRegisterWorker(RegisterWorker m)
    {
        if (!_workers.Add(m.Worker)) return;
        Context.Watch(m.Worker);
        if (_round is not null) m.Worker.Tell(new GlobalModel(_round.Round, _global));
    }

    private void HandleStartRun(StartRun m)
    {
        if (_workers.Count == 0)
        {
            m.ReplyTo.Tell(new RunFailed("no device worker has registered with the coordinator"));
            return;
        }
        _observer = m.ReplyTo;
        _global = _experiment.InitialWeights();
        _events.RunStarted(_experiment, _global.Length, _workers.Count);
        _runClock.Start();
        Become(Running);
        StartRound(1);
    }

    private void Running()
    {
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<UpdateSubmitted>(HandleUpdate);
        Receive<ClientDropped>(HandleDropped);
        Receive<RoundTimeout>(HandleTimeout);
        Receive<RoundAggregated>(HandleAggregated);
        Receive<AggregationFailed>(m => Fail($"aggregation of round {m.Round} failed: {m.Error}"));
        Receive<EvaluationDone>(HandleEvaluationDone);
        Receive<EvaluationFailed>(m => Fail($"evaluation of round {m.Round} failed: {m.Error}"));
        Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("a run is already in progress")));
    }

    private void StartRound(int round)
    {
        var s = _experiment.Settings;
        var selected = ClientSampler.Sample(s.Seed, round, s.Clients.Count, s.Clients.SampledPerRound);
        _round = RoundState.Start(round, selected);
        _roundClock.Restart();
        var model = new GlobalModel(round, _global);
        foreach (var w in _workers) w.Tell(model);
        if (selected.Any(id => _experiment.Collusion.CollusionNeeded(id, round)))
            _adversary.Tell(new AdversaryRoundStarted(round, selected, _global));
        foreach (var id in selected) _clients.Tell(new StartTraining(id, round, Self));
        Timers.StartSingleTimer("round-timeout", new RoundTimeout(round), s.Round.Timeout);
    }

    private void HandleUpdate(UpdateSubmitted m)
    {
        if (m.Round != _round.Round) return;
        var update = new ClientUpdate(m.ClientId, m.Delta, m.NumSamples, m.TrainLoss);
        _round = _round.OnUpdate(update, _global.Length, m.SimSeconds, m.ComputeMs);
        if (_round.Dropped.TryGetValue(m.ClientId, out var r) && r == DropReason.Rejected)
            _events.UpdateRejected(m.Round, m.ClientId, m.Delta.Length, _global.Length);
        CloseIfComplete();
    }

    private void HandleDropped(ClientDropped m)
    {
        if (m.Round != _round.Round) return;
        _round = _round.OnDropped(m.ClientId, m.Reason, m.SimSeconds);
        CloseIfComplete();
    }

    private void HandleTimeout(RoundTimeout m)
    {
        if (m.Round != _round.Round || _round.IsComplete) return;
        _events.ClientsTimedOut(m.Round, _round.Pending.ToArray());
        _round = _round.OnTimeout();
        CloseIfComplete();
    }

    private void CloseIfComplete()
    {
        if (!_round.IsComplete) return;
        Timers.Cancel("round-timeout");
        _evaluator.Tell(new AggregateRound(_round.Round, _global, _round.Selected.Count, [.. _round.OrderedUpdates], Self));
    }

    private void HandleAggregated(RoundAggregated m)
    {
        if (m.Round != _round.Round) return;
        _global = m.Global;
        _accepted = m.Accepted;
        var s = _experiment.Settings;
        if (PlainSimulation.ShouldEvaluate(_round.Round, s.Rounds, s.Round.EvaluateEvery))
            _evaluator.Tell(new EvaluateModel(_round.Round, _global, Self));
        else
            FinishRound(double.NaN, double.NaN);
    }

    private void HandleEvaluationDone(EvaluationDone m)
    {
        if (m.Round != _round.Round) return;
        var outcome = new Core.Training.EvalOutcome(m.Correct, m.LossSum, m.Count, m.BackdoorHits, m.BackdoorCount);
        FinishRound(outcome.Accuracy, outcome.MeanLoss, outcome.AttackSuccess);
    }

    private void FinishRound(double accuracy, double loss, double attackSuccess = double.NaN)
    {
        var summary = RoundSummary.From(_round, accuracy, loss, _roundClock.ElapsedMilliseconds, _accepted, _experiment.Collusion.IsMalicious)
            with { AttackSuccess = attackSuccess };
        if (!double.IsNaN(accuracy))
        {
            _lastAccuracy = accuracy;
            _bestAccuracy = double.IsNaN(_bestAccuracy) ? accuracy : Math.Max(_bestAccuracy, accuracy);
        }
        _events.RoundCompleted(summary);
        _observer.Tell(new RoundFinished(summary));
        if (_round.Round < Rounds)
        {
            StartRound(_round.Round + 1);
            return;
        }
        _events.RunCompleted(Rounds, _lastAccuracy, _bestAccuracy, _runClock.Elapsed);
        _observer.Tell(new RunFinished(Rounds, _global));
        Become(() =>
        {
            Receive<RegisterWorker>(HandleRegisterWorker);
            Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("this coordinator's run has finished")));
        });
    }

    private void Fail(string reason)
    {
        _events.RunAborted(reason);
        _observer.Tell(new RunFailed(reason));
        Context.Stop(Self);
    }
}
