using System.Diagnostics;
using Akka.Actor;
using FedActors.Core.Aggregation;
using FedActors.Core.Personalisation;
using FedActors.Core.Training;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;

namespace FedActors.Runtime.Actors;

/// <summary>How a coordinator runs beyond its experiment.</summary>
/// <param name="Checkpoints">Where each finished round is committed, and a resumed run starts from (null: none).</param>
/// <param name="ExperimentHash">The run's identity (<see cref="Settings.HoconText.ExperimentHash"/>): kept in each checkpoint,
/// checked on resume and against every node's.</param>
/// <param name="ExperimentKeys">The run's experiment keys, to name the first difference when a node's differ.</param>
/// <param name="MinNodes">Nodes (their device workers) the run waits for before round 1.</param>
/// <param name="JoinTimeout">How long it waits for them.</param>
/// <param name="KeepEvery">Besides the last, keep every this many rounds' checkpoints to fork from (0: none).</param>
public sealed record CoordinatorOptions(ICheckpointStore? Checkpoints, string ExperimentHash, (string Key, string Value)[] ExperimentKeys,
    int MinNodes, TimeSpan JoinTimeout, int KeepEvery = 0)
{
    public static readonly CoordinatorOptions Default = new(null, "", [], 1, TimeSpan.FromSeconds(60));
}

/// <summary>
/// The FL server, a cluster singleton. It decides <em>when</em> each step of a round happens: sample (seeded) →
/// send the global model once to each node's worker → ask the sampled clients to train → collect updates until all
/// have answered or none has for the wall-clock safety timeout → aggregate (Core, client-id order) → evaluate → report
/// <c>RoundCompleted</c> → next round. What each step computes is Core's: <see cref="ClientSampler"/>,
/// <see cref="RoundState"/>, <see cref="ServerStep"/>.
/// </summary>
public sealed class RoundCoordinator : ReceiveActor, IWithTimers
{
    public static Props Props(Experiment experiment, IActorRef clients, IActorRef evaluator, IActorRef adversary, RunEvents events,
        CoordinatorOptions? options = null) =>
        Akka.Actor.Props.Create(() => new RoundCoordinator(experiment, clients, evaluator, adversary, events, options ?? CoordinatorOptions.Default));

    private sealed record RoundTimeout(int Round);
    private sealed record EvaluationTimeout(int Round);
    private sealed record PreparationTimeout;

    private readonly Experiment _experiment;
    private readonly IActorRef _clients;
    private readonly IActorRef _evaluator;
    private readonly IActorRef _adversary;
    private readonly RunEvents _events;
    private readonly CoordinatorOptions _options;
    private readonly ICheckpointStore? _checkpoints;
    private readonly string _configHash;
    /// <summary>Every finished round, for the checkpoint (a resumed run's rounds.csv and summary need them all).</summary>
    private readonly List<RoundSummary> _rounds = [];
    private readonly HashSet<IActorRef> _workers = [];
    private readonly Stopwatch _runClock = new();
    private readonly Stopwatch _roundClock = new();
    private IActorRef _observer = ActorRefs.Nobody;
    private ParameterVector _global = null!;
    /// <summary>The global model before the round's aggregation: what a round discarded by its health check reverts to.</summary>
    private ParameterVector _lastGood = null!;
    /// <summary>What the round's health check found after aggregation; null while sound.</summary>
    private string? _problem;
    private RoundState _round = null!;
    private double _bestAccuracy = double.NaN;
    private double _lastAccuracy = double.NaN;
    private IReadOnlyCollection<int>? _accepted;
    private readonly IPersonalisation? _method;
    /// <summary>The method's extra vector (DBE's global mean), sent with every global model.</summary>
    private float[]? _extra;
    private readonly Dictionary<int, (int Samples, float[]? Contribution)> _prepared = [];
    private HashSet<int> _evaluating = [];
    private readonly Dictionary<int, EvalOutcome> _evaluations = [];

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Whether the workers were told the run ended.</summary>
    private bool _ended;

    /// <summary>Every node's worker learns that the run is over (a clients node then leaves and exits).</summary>
    private void TellRunEnded(RunEnded m)
    {
        foreach (var w in _workers) w.Tell(m);
        _ended = true;
    }

    /// <summary>A coordinator stopped mid-run (its node shuts down: a budget ran out, Ctrl-C) tells the clients nodes, which
    /// would otherwise wait for a run that no longer goes on.</summary>
    protected override void PostStop()
    {
        if (!_ended && _observer != ActorRefs.Nobody)
            TellRunEnded(new RunEnded(true, "the run node stopped"));
        base.PostStop();
    }

    public RoundCoordinator(Experiment experiment, IActorRef clients, IActorRef evaluator, IActorRef adversary, RunEvents events,
        CoordinatorOptions options)
    {
        _options = options;
        _checkpoints = options.Checkpoints;
        _configHash = options.ExperimentHash;
        _experiment = experiment;
        _clients = clients;
        _evaluator = evaluator;
        _adversary = adversary;
        _events = events;
        _method = experiment.Settings.CreatePersonalisation();
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<StartRun>(HandleStartRun);
        Receive<Akka.Cluster.Sharding.ClusterShardingStats>(HandleShardingStats);
        Receive<AskRegions>(_ => AskShardRegions());
        Receive<JoinTimeout>(_ =>
        {
            if (_waitingToStart is not { } start) return;
            _waitingToStart = null;
            var reason = _options.MinNodes <= 1
                ? $"no device worker registered with the coordinator within {_options.JoinTimeout.TotalSeconds:0} s"
                : $"only {_workers.Count} of the {_options.MinNodes} nodes (fedactors.cluster.min-nodes) joined within {_options.JoinTimeout.TotalSeconds:0} s";
            _events.RunAborted(reason);
            TellRunEnded(new RunEnded(true, reason));
            start.ReplyTo.Tell(new RunFailed(reason));
        });
    }

    private int Rounds => _experiment.Settings.Rounds;

    private void HandleRegisterWorker(RegisterWorker m)
    {
        if (_workers.Contains(m.Worker)) return;
        if (m.Experiment is { } theirs && _options.ExperimentKeys.Length > 0 && m.ExperimentHash != _configHash)
        {
            var difference = Settings.HoconText.FirstDifference(theirs, _options.ExperimentKeys) ?? "the configuration hashes differ";
            _events.NodeRefused(m.Worker.Path.Address.ToString(), difference);
            m.Worker.Tell(new WorkerRefused($"this node's experiment differs from the run's: {difference}"));
            return;
        }
        _workers.Add(m.Worker);
        Context.Watch(m.Worker);
        _events.NodeJoined(m.Worker.Path.Address.ToString(), _workers.Count);
        if (_latestModel is not null) m.Worker.Tell(_latestModel);
        if (_waitingToStart is not { } start || !EnoughWorkers) return;
        if (_options.MinNodes > 1) AskShardRegions();
        else
        {
            _waitingToStart = null;
            Timers.Cancel("join-timeout");
            Start(start);
        }
    }

    /// <summary>Every node's worker is here; round 1 also waits until every node's client region is known to sharding, so
    /// the clients' shards are spread over all nodes from the first allocation (it moves shards only slowly later).</summary>
    private void AskShardRegions() =>
        _clients.Tell(new Akka.Cluster.Sharding.GetClusterShardingStats(TimeSpan.FromSeconds(3)));

    private void HandleShardingStats(Akka.Cluster.Sharding.ClusterShardingStats stats)
    {
        if (_waitingToStart is not { } start || !EnoughWorkers) return; // a worker may have gone since the question
        if (stats.Regions.Count < _options.MinNodes)
        {
            Timers.StartSingleTimer("ask-regions", new AskRegions(), TimeSpan.FromMilliseconds(300));
            return;
        }
        _waitingToStart = null;
        Timers.Cancel("join-timeout");
        Start(start);
    }

    private sealed record AskRegions;

    /// <summary>A run asked to start before <see cref="CoordinatorOptions.MinNodes"/> nodes' workers had registered.</summary>
    private StartRun? _waitingToStart;
    private sealed record JoinTimeout;

    /// <summary>Round 1 needs max(1, min-nodes) nodes' workers, and with several nodes every node's client region known to
    /// sharding; until then the run waits, bounded by the join timeout.</summary>
    private bool EnoughWorkers => _workers.Count >= Math.Max(1, _options.MinNodes);

    private void HandleStartRun(StartRun m)
    {
        if (EnoughWorkers && _options.MinNodes <= 1)
        {
            Start(m);
            return;
        }
        _waitingToStart = m;
        Timers.StartSingleTimer("join-timeout", new JoinTimeout(), _options.JoinTimeout);
        if (EnoughWorkers) AskShardRegions();
    }

    private void Start(StartRun m)
    {
        _observer = m.ReplyTo;
        if (m.Resume)
        {
            Resume();
            return;
        }
        _global = _method?.InitialGlobal(_experiment) ?? _experiment.InitialWeights();
        _events.RunStarted(_experiment, _global.Length, _workers.Count);
        _runClock.Start();
        if (_method is { NeedsPreparation: true })
        {
            Become(Preparing);
            Broadcast(new GlobalModel(0, _global));
            for (int id = 0; id < _experiment.Settings.Clients.Count; id++) _clients.Tell(new PrepareClient(id, Self));
            Timers.StartSingleTimer("preparation-timeout", new PreparationTimeout(), _experiment.Settings.Round.Timeout);
            return;
        }
        Become(Running);
        StartRound(1);
    }

    /// <summary>Continues after the last committed round: its model, extra vector, bookkeeping and attack memory, with every
    /// client's state taken back to that round (work of the round in progress is forgotten and redone with the same seeds).</summary>
    private void Resume()
    {
        RunCheckpoint? last;
        try { last = _checkpoints?.Last(); }
        catch (Exception e)
        {
            Fail($"the state store could not be read: {e.GetBaseException().Message}");
            return;
        }
        if (last is not { } c)
        {
            Fail("there is no committed round to resume from");
            return;
        }
        if (c.ConfigHash != _configHash)
        {
            Fail("the checkpoint was made with another configuration");
            return;
        }
        try { _checkpoints!.RollBack(c.Round); }
        catch (Exception e)
        {
            Fail($"the state store could not be rolled back to round {c.Round}: {e.GetBaseException().Message}");
            return;
        }
        _global = c.Global;
        _extra = c.Extra;
        _bestAccuracy = c.BestAccuracy;
        _lastAccuracy = c.LastAccuracy;
        _rounds.AddRange(c.Rounds);
        _experiment.Collusion.Restore(c.AttackMemory);
        _events.RunResumed(_experiment, c.Round);
        _runClock.Start();
        if (c.Round >= Rounds)
        {
            Complete();
            return;
        }
        Become(Running);
        StartRound(c.Round + 1);
    }

    /// <summary>Commits the finished round: everything the later rounds depend on (see <see cref="RunCheckpoint"/>).</summary>
    /// <returns>False (and the run failed) when the store could not take it: a run must not go on without its checkpoints.</returns>
    private bool Commit(int round)
    {
        try
        {
            _checkpoints?.Commit(new RunCheckpoint(round, _global, _extra, _bestAccuracy, _lastAccuracy, [.. _rounds],
                _experiment.Collusion.Memory, _configHash), _options.KeepEvery);
            return true;
        }
        catch (Exception e)
        {
            Fail($"round {round} could not be committed to the state store: {e.GetBaseException().Message}");
            return false;
        }
    }

    private GlobalModel? _latestModel;

    /// <summary>Sends a global model version to every node's worker (and to workers that register later).</summary>
    private void Broadcast(GlobalModel model)
    {
        _latestModel = model;
        foreach (var w in _workers) w.Tell(model);
    }

    /// <summary>The method's one-off preparation (DBE's global mean): every client answers once; then round 1.</summary>
    private void Preparing()
    {
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<ClientPrepared>(m =>
        {
            _prepared[m.ClientId] = (m.Samples, m.Contribution);
            if (_prepared.Count == _experiment.Settings.Clients.Count) FinishPreparation();
            else Timers.StartSingleTimer("preparation-timeout", new PreparationTimeout(), _experiment.Settings.Round.Timeout);
        });
        Receive<PreparationTimeout>(_ => FinishPreparation());
        Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("a run is already in progress")));
    }

    private void FinishPreparation()
    {
        Timers.Cancel("preparation-timeout");
        var missing = Enumerable.Range(0, _experiment.Settings.Clients.Count).Where(id => !_prepared.ContainsKey(id)).ToArray();
        if (missing.Length > 0) _events.ClientsTimedOut(0, missing);
        var contributions = _prepared.OrderBy(p => p.Key).Where(p => p.Value.Contribution is not null)
            .Select(p => (p.Value.Samples, p.Value.Contribution!)).ToList();
        if (contributions.Count == 0)
        {
            Fail("no client answered the personalisation method's preparation step");
            return;
        }
        _extra = _method!.CombinePreparation(contributions);
        Become(Running);
        StartRound(1);
    }

    private void Running()
    {
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<UpdateSubmitted>(HandleUpdate);
        Receive<Akka.Cluster.Sharding.ClusterShardingStats>(_ => { }); // a late answer from the wait for the nodes
        Receive<AskRegions>(_ => { });
        Receive<ClientDropped>(HandleDropped);
        Receive<RoundTimeout>(HandleTimeout);
        Receive<RoundAggregated>(HandleAggregated);
        Receive<AggregationFailed>(m => Fail($"aggregation of round {m.Round} failed: {m.Error}"));
        Receive<EvaluationDone>(HandleEvaluationDone);
        Receive<ClientEvaluated>(HandleClientEvaluated);
        Receive<EvaluationTimeout>(m => { if (m.Round == _round.Round && _evaluating.Count > 0) FinishPersonalEvaluation(); });
        Receive<EvaluationFailed>(m => Fail($"evaluation of round {m.Round} failed: {m.Error}"));
        Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("a run is already in progress")));
    }

    private void StartRound(int round)
    {
        var s = _experiment.Settings;
        var selected = ClientSampler.Sample(s.Seed, round, s.Clients.Count, s.Clients.SampledPerRound);
        _round = RoundState.Start(round, selected);
        _problem = null;
        _roundClock.Restart();
        Broadcast(new GlobalModel(round, _global, _extra));
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
        if (m.Error is not null) _events.ClientFailed(m.Round, m.ClientId, m.Error);
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
        if (!_round.IsComplete)
        {
            // the safety timeout counts from the last answer: a round with more clients than workers takes as long as
            // its queue, and only a silence of round.timeout means a failure (a timer with the same key replaces the old)
            Timers.StartSingleTimer("round-timeout", new RoundTimeout(_round.Round), _experiment.Settings.Round.Timeout);
            return;
        }
        Timers.Cancel("round-timeout");
        _evaluator.Tell(new AggregateRound(_round.Round, _global, _round.Selected.Count, [.. _round.OrderedUpdates], Self));
    }

    private void HandleAggregated(RoundAggregated m)
    {
        if (m.Round != _round.Round) return;
        _lastGood = _global;
        _global = m.Global;
        _accepted = m.Accepted;
        var s = _experiment.Settings;
        _problem = RoundHealth.AfterAggregation(_round, _global, s.Round.HealthOrDefault);
        if (_problem is not null || !PlainSimulation.ShouldEvaluate(_round.Round, s.Rounds, s.Round.EvaluateEvery))
            FinishRound(double.NaN, double.NaN);
        else if (_method is not null)
            StartPersonalEvaluation();
        else
            _evaluator.Tell(new EvaluateModel(_round.Round, _global, Self));
    }

    /// <summary>The PFLlib protocol: each evaluated client takes in the new global model (its download step for the next
    /// round) and tests its personalised model on its own test split.</summary>
    private void StartPersonalEvaluation()
    {
        var s = _experiment.Settings;
        int round = _round.Round;
        _evaluating = ClientEvaluation.Pick(s.Seed, round, s.Clients.Count, s.PersonalisationOrNone.EvaluateClients).ToHashSet();
        _evaluations.Clear();
        Broadcast(new GlobalModel(round + 1, _global, _extra));
        foreach (var id in _evaluating.Order()) _clients.Tell(new EvaluateClient(id, round, Self));
        Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimeout(round), s.Round.Timeout);
    }

    private void HandleClientEvaluated(ClientEvaluated m)
    {
        if (m.Round != _round.Round || !_evaluating.Remove(m.ClientId)) return;
        if (m.Outcome is { } o) _evaluations[m.ClientId] = o;
        if (_evaluating.Count == 0) FinishPersonalEvaluation();
        else Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimeout(m.Round), _experiment.Settings.Round.Timeout);
    }

    private void FinishPersonalEvaluation()
    {
        Timers.Cancel("evaluation-timeout");
        if (_evaluating.Count > 0) _events.ClientsTimedOut(_round.Round, _evaluating.Order().ToArray());
        _evaluating = [];
        var e = ClientEvaluation.Of(_evaluations);
        FinishRound(e.Pooled.Accuracy, e.Pooled.MeanLoss, double.NaN, e);
    }

    private void HandleEvaluationDone(EvaluationDone m)
    {
        if (m.Round != _round.Round) return;
        FinishRound(m.Total.Accuracy, m.Total.MeanLoss, m.Total.AttackSuccess, m.Clients);
    }

    private void FinishRound(double accuracy, double loss, double attackSuccess = double.NaN, ClientEvaluation? clients = null)
    {
        var problem = _problem ?? RoundHealth.AfterEvaluation(_round.Round, accuracy, loss);
        var summary = RoundSummary.From(_round, accuracy, loss, _roundClock.ElapsedMilliseconds, _accepted, _experiment.Collusion.IsMalicious)
            .WithEvaluation(attackSuccess, clients) with { Health = problem };
        if (problem is null && !double.IsNaN(accuracy))
        {
            _lastAccuracy = accuracy;
            _bestAccuracy = double.IsNaN(_bestAccuracy) ? accuracy : Math.Max(_bestAccuracy, accuracy);
        }
        _events.RoundCompleted(summary);
        if (problem is not null)
        {
            if (_experiment.Settings.Round.HealthOrDefault.OnFailure == HealthSettings.Stop)
            {
                _observer.Tell(new RoundFinished(summary));
                Fail($"round {_round.Round} failed its health check: {problem}");
                return;
            }
            _global = _lastGood;
            _events.RoundDiscarded(_round.Round, problem);
        }
        _rounds.Add(summary);
        if (!Commit(_round.Round)) return;
        _observer.Tell(new RoundFinished(summary));
        if (_round.Round < Rounds)
        {
            StartRound(_round.Round + 1);
            return;
        }
        Complete();
    }

    private void Complete()
    {
        _events.RunCompleted(Rounds, _lastAccuracy, _bestAccuracy, _runClock.Elapsed);
        TellRunEnded(new RunEnded(false));
        _observer.Tell(new RunFinished(Rounds, _global));
        Become(() =>
        {
            Receive<RegisterWorker>(HandleRegisterWorker);
            // clients nodes leave once told the run ended: an unhandled Terminated would kill the coordinator (DeathPact)
            Receive<Terminated>(t => _workers.Remove(t.ActorRef));
            Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("this coordinator's run has finished")));
        });
    }

    private void Fail(string reason)
    {
        _events.RunAborted(reason);
        TellRunEnded(new RunEnded(true, reason));
        _observer.Tell(new RunFailed(reason));
        Context.Stop(Self);
    }
}
