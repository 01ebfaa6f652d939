using System.Diagnostics;
using Akka.Actor;
using FedActors.Core.Aggregation;
using FedActors.Core.Faults;
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
/// <param name="FaultInjection">The nodes' transports have the throttler (<c>fedactors.cluster.fault-injection</c>): partition-node works.</param>
public sealed record CoordinatorOptions(ICheckpointStore? Checkpoints, string ExperimentHash, (string Key, string Value)[] ExperimentKeys,
    int MinNodes, TimeSpan JoinTimeout, int KeepEvery = 0, bool FaultInjection = false)
{
    public static readonly CoordinatorOptions Default = new(null, "", [], 1, TimeSpan.FromSeconds(60));
}

/// <summary>
/// The FL server, a cluster singleton. It decides <em>when</em> each step of a round happens: sample (seeded) →
/// send the global model once to each node's worker → ask the sampled clients to train → collect updates until all
/// have answered or none has for the wall-clock safety timeout → aggregate (Core, client-id order) → evaluate → report
/// <c>RoundCompleted</c> → next round. What each step computes is Core's: <see cref="ClientSampler"/>,
/// <see cref="RoundState"/>, <see cref="ServerStep"/>. It is also the run's fault controller: it holds the
/// <see cref="FaultSchedule"/> (scripted faults, and runtime ones it accepts through <see cref="InjectFault"/>), computes
/// each round's plan at the round's start and sends each client its part with the training request.
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
    /// <summary>Why the round being finished aggregated nothing; null when it did.</summary>
    private string? _notAggregated;
    private readonly IPersonalisation? _method;
    /// <summary>The method's extra vector (DBE's global mean), sent with every global model.</summary>
    private float[]? _extra;
    private readonly Dictionary<int, (int Samples, float[]? Contribution)> _prepared = [];
    private HashSet<int> _evaluating = [];
    private readonly Dictionary<int, EvalOutcome> _evaluations = [];

    /// <summary>The rule, when it sums updates as they arrive (FedAvg): the coordinator then keeps the round's running sum,
    /// not its updates, and takes the server step itself (managed code, O(parameters)).</summary>
    private readonly IStreamingRule? _streaming;
    private ExactSum? _sum;

    /// <summary>Every fault of the run, scripted and injected.</summary>
    private FaultSchedule _faults;
    /// <summary>The round in progress's fault plan, and what it did.</summary>
    private RoundFaults _plan;
    private FaultCounts _faultCounts = FaultCounts.Zero;
    /// <summary>Whether the adversary takes part in the round in progress (it then hears of missing clients).</summary>
    private bool _adversaryEngaged;
    /// <summary>Slow-down factor last sent to each worker.</summary>
    private readonly Dictionary<IActorRef, double> _slowness = [];
    /// <summary>A pause fault holds the next round until a resume fault.</summary>
    private bool _paused;
    private int? _heldRound;
    /// <summary>waiting, preparing, training, aggregating, evaluating, paused, finished, failed: for GET /status.</summary>
    private string _phase = "waiting";

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
        _faults = new FaultSchedule(experiment.Settings.Faults, experiment.Settings.Seed, experiment.Settings.Clients.Count);
        _streaming = experiment.Settings.CreateRule() is IStreamingRule { Streams: true } s ? s : null;
        _plan = _faults.For(0);
        Receive<RegisterWorker>(HandleRegisterWorker);
        ReceiveControl();
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
        var train = _experiment.Settings.Train;
        int small = train.DropLast ? _experiment.Partition.Clients.Count(c => c.Train.Length < train.BatchSize) : 0;
        if (small > 0) _events.SmallClients(small, _experiment.Partition.NumClients, train.BatchSize);
        _runClock.Start();
        if (_method is { NeedsPreparation: true })
        {
            _phase = "preparing";
            Become(Preparing);
            Broadcast(new GlobalModel(0, _global));
            // every client is asked, through the window: each answer carries a model-sized contribution
            _prepWindow = new RequestWindow(_experiment.Settings.Round.MaxInFlight, Enumerable.Range(0, _experiment.Settings.Clients.Count));
            SendPreparations();
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
        foreach (var f in c.InjectedFaults) _faults = _faults.With(f);
        _events.RunResumed(_experiment, c.Round);
        _runClock.Start();
        if (c.Round >= LastRound)
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
                _experiment.Collusion.Memory, _configHash) { InjectedFaults = [.. _faults.Faults.Where(f => f.Source == "api")] }, _options.KeepEvery);
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
        ReceiveControl();
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<ClientPrepared>(m =>
        {
            // once per client, and not after the timeout gave it up: a late answer counted as well made the count reach
            // every client while one was still out (its contribution then missing, by timing)
            if (_prepared.ContainsKey(m.ClientId) || _prepGivenUp.Contains(m.ClientId)) return;
            _prepared[m.ClientId] = (m.Samples, m.Contribution);
            if (_prepWindow.Release(m.ClientId)) SendPreparations();
            if (_prepared.Count + _prepGivenUp.Count == _experiment.Settings.Clients.Count) FinishPreparation();
            else Timers.StartSingleTimer("preparation-timeout", new PreparationTimeout(), _experiment.Settings.Round.Timeout);
        });
        Receive<PreparationTimeout>(_ =>
        {
            // the clients asked and silent are given up; those still waiting are asked
            foreach (var id in Enumerable.Range(0, _experiment.Settings.Clients.Count).Where(id => _prepWindow.WasSent(id) && !_prepared.ContainsKey(id)))
                if (_prepGivenUp.Add(id)) _prepWindow.Release(id);
            if (_prepWindow.Waiting == 0) FinishPreparation();
            else
            {
                SendPreparations();
                Timers.StartSingleTimer("preparation-timeout", new PreparationTimeout(), _experiment.Settings.Round.Timeout);
            }
        });
        Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("a run is already in progress")));
    }

    /// <summary>The preparation requests (every client once), and the clients that never answered.</summary>
    private RequestWindow _prepWindow = new(1, []);
    private readonly HashSet<int> _prepGivenUp = [];

    private void SendPreparations()
    {
        foreach (var id in _prepWindow.Take()) _clients.Tell(new PrepareClient(id, Self));
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
        ReceiveControl();
        Receive<RegisterWorker>(HandleRegisterWorker);
        Receive<Terminated>(t => _workers.Remove(t.ActorRef));
        Receive<UpdateSubmitted>(HandleUpdate);
        Receive<Akka.Cluster.Sharding.ClusterShardingStats>(_ => { }); // a late answer from the wait for the nodes
        Receive<AskRegions>(_ => { });
        Receive<ClientDropped>(HandleDropped);
        Receive<RoundTimeout>(HandleTimeout);
        Receive<RoundAggregated>(HandleAggregated);
        Receive<AggregationFailed>(m => { if (m.Round == _round.Round && _phase == "aggregating") Fail($"aggregation of round {m.Round} failed: {m.Error}"); });
        Receive<EvaluationDone>(HandleEvaluationDone);
        Receive<ClientEvaluated>(HandleClientEvaluated);
        Receive<EvaluationTimeout>(HandleEvaluationTimeout);
        Receive<EvaluationFailed>(m => { if (m.Round == _round.Round && _phase == "evaluating") Fail($"evaluation of round {m.Round} failed: {m.Error}"); });
        Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("a run is already in progress")));
    }

    /// <summary>The last round the run goes to: <c>rounds</c>, or an earlier <c>stop</c> fault's round.</summary>
    private int LastRound => _faults.LastRound(Rounds);

    private void StartRound(int round)
    {
        if (_paused)
        {
            _heldRound = round;
            _phase = "paused";
            _events.RunPaused(round);
            return;
        }
        var s = _experiment.Settings;
        _plan = _faults.For(round);
        foreach (var f in _faults.StartingIn(round)) TakeEffect(f);
        var selected = ClientSampler.Sample(s.Seed, round, s.Clients.Count, _plan.PerRound ?? s.Clients.SampledPerRound);
        _round = RoundState.Start(round, selected);
        _sum = _streaming is null ? null : new ExactSum(_global.Length);
        var faults = selected.Select(_plan.Client).ToArray(); // each client's part of the plan, computed once
        _faultCounts = FaultCounts.Of(_plan, faults);
        _problem = null;
        _phase = "training";
        _roundClock.Restart();
        SlowNodes();
        Broadcast(new GlobalModel(round, _global, _extra));
        _adversaryEngaged = selected.Select((id, i) => _experiment.Collusion.CollusionNeeded(id, round, faults[i].Attack)).Any(x => x);
        if (_adversaryEngaged)
            _adversary.Tell(new AdversaryRoundStarted(round, selected, _global, faults.Any(f => f != ClientFault.None) ? faults : null));
        // flow control: colluders wait for each other's honest updates, so the window lets them all out, and one more
        int colluders = selected.Where((id, i) => _experiment.Collusion.CollusionNeeded(id, round, faults[i].Attack)).Count();
        _window = new RequestWindow(Math.Max(s.Round.MaxInFlight, colluders + 1), selected);
        _roundFaults = selected.Zip(faults).ToDictionary(p => p.First, p => p.Second);
        SendTraining();
        Timers.StartSingleTimer("round-timeout", new RoundTimeout(round), s.Round.Timeout);
    }

    /// <summary>The training requests of the round in flight, with each client's part of the fault plan.</summary>
    private RequestWindow _window = new(1, []);
    private Dictionary<int, ClientFault> _roundFaults = [];

    /// <summary>Lets out as many training requests as the window has room for. A request the plan loses on the way, or
    /// whose answer it loses, holds no slot (nothing will come back; the safety timeout finds the client missing).</summary>
    private void SendTraining()
    {
        for (var next = _window.Take(); next.Count > 0; next = _window.Take())
            foreach (var id in next)
            {
                var f = _roundFaults[id];
                if (f.LoseTask || f.LoseUpdate) _window.Release(id);
                if (f.LoseTask) continue; // lost on the way
                _clients.Tell(new StartTraining(id, _round.Round, Self, f == ClientFault.None ? null : f));
            }
    }

    /// <summary>Tells each node's worker its slow-down factor for the round, when it changed.</summary>
    private void SlowNodes()
    {
        foreach (var w in _workers)
        {
            double factor = _plan.SlowFactor(w.Path.Address.ToString());
            if (_slowness.GetValueOrDefault(w, 1) == factor) continue;
            _slowness[w] = factor;
            w.Tell(new SlowDown(factor));
        }
    }

    /// <summary>A fault takes effect: reported (event, observer for faults.jsonl), and a node fault carried out.</summary>
    private void TakeEffect(Fault f)
    {
        _events.FaultInjected(f);
        _observer.Tell(new FaultTookEffect(f));
        if (f.Kind is not (FaultKinds.KillNode or FaultKinds.PartitionNode)) return;
        if (RoundFaults.NodeMatches(f.Node, Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString()))
            _events.Log.Warning("{Kind} of round {Round} names the coordinator's own node {Node}: not carried out (stop the run instead)", f.Kind, f.Round, f.Node);
        else if (WorkerAt(f.Node) is not { } w)
            _events.Log.Warning("{Kind} of round {Round}: no node at {Node}", f.Kind, f.Round, f.Node);
        else if (f.Kind == FaultKinds.KillNode) w.Tell(new KillNode($"kill-node fault of round {f.Round}"));
        else w.Tell(new PartitionNode(f.Seconds));
    }

    private IActorRef? WorkerAt(string node) => _workers.FirstOrDefault(w => RoundFaults.NodeMatches(node, w.Path.Address.ToString()));

    private void ReceiveControl()
    {
        Receive<InjectFault>(HandleInjectFault);
        Receive<GetRunStatus>(_ => Sender.Tell(Status()));
    }

    private RunStatus Status()
    {
        var s = _experiment.Settings;
        int round = _round?.Round ?? 0;
        return new RunStatus(s.Name, round, LastRound, _phase, s.Clients.Count, _plan.PerRound ?? s.Clients.SampledPerRound,
            [.. _workers.Select(w => w.Path.Address.ToString()).Order(StringComparer.Ordinal)],
            [.. _faults.Faults.Where(f => f.ActiveIn(Math.Max(round, 1)) && f.Round <= round)], [.. _faults.Faults.Where(f => f.Round > round)]);
    }

    /// <summary>
    /// A runtime fault from the control API: checked against the run, scheduled for the next round boundary (or, for the
    /// kinds that act at once, carried out now), and answered with the round it takes effect in. A refused fault changes
    /// nothing.
    /// </summary>
    private void HandleInjectFault(InjectFault m)
    {
        var f = m.Fault;
        if (_phase is "finished" or "failed")
        {
            Sender.Tell(new FaultRefused("kind", $"the run has {_phase}"));
            return;
        }
        bool immediate = FaultKinds.Immediate.Contains(f.Kind);
        int current = _round?.Round ?? 0;
        int next = _heldRound ?? (current == 0 ? 1 : current + 1);
        int round = f.Round != 0 ? f.Round : immediate ? Math.Max(current, 1) : next;
        if (f.Round != 0 && f.Round < next && !immediate)
        {
            Sender.Tell(new FaultRefused("round", $"round {f.Round} has started or passed; the next round boundary is round {next} (leave round out for it)"));
            return;
        }
        f = f with { Round = round, Source = "api" };
        try { f.Validate(Rounds, _experiment.Settings.Clients.Count, scripted: false); }
        catch (FaultError e)
        {
            Sender.Tell(new FaultRefused(e.Field, e.Message));
            return;
        }
        switch (f.Kind)
        {
            case FaultKinds.AttackOn or FaultKinds.AttackOff when _experiment.Collusion.Attack is null:
                Sender.Tell(new FaultRefused("kind", "the run has no attack to switch (fedactors.attack.kind = none)"));
                return;
            case FaultKinds.SlowNode or FaultKinds.KillNode or FaultKinds.PartitionNode when WorkerAt(f.Node) is null:
                Sender.Tell(new FaultRefused("node", $"no node at {f.Node}; the run's nodes: {string.Join(", ", _workers.Select(w => w.Path.Address.ToString()))}"));
                return;
            case FaultKinds.KillNode or FaultKinds.PartitionNode when RoundFaults.NodeMatches(f.Node, Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString()):
                Sender.Tell(new FaultRefused("node", $"{f.Node} runs the coordinator: stop the run instead (resume it later with run --resume)"));
                return;
            case FaultKinds.PartitionNode when !_options.FaultInjection:
                Sender.Tell(new FaultRefused("kind", "partition-node needs fedactors.cluster.fault-injection = on (the throttler in every node's transport)"));
                return;
            case FaultKinds.Resume when !_paused:
                Sender.Tell(new FaultRefused("kind", "the run is not paused"));
                return;
            case FaultKinds.Stop when round < current:
                Sender.Tell(new FaultRefused("round", $"round {round} has passed"));
                return;
        }
        Sender.Tell(new FaultAccepted(round, f));
        switch (f.Kind)
        {
            case FaultKinds.Pause:
                _paused = true;
                _events.FaultInjected(f);
                return;
            case FaultKinds.Resume:
                _paused = false;
                _events.FaultInjected(f);
                if (_heldRound is { } held)
                {
                    _heldRound = null;
                    StartRound(held);
                }
                return;
        }
        _faults = _faults.With(f);
        if (immediate && round <= Math.Max(current, 1) && current > 0) TakeEffect(f);
        if (f.Kind == FaultKinds.Stop && _heldRound is { } h && h > LastRound)
        {
            _heldRound = null;
            _paused = false;
            Complete();
        }
    }

    private void HandleUpdate(UpdateSubmitted m)
    {
        if (m.Round != _round.Round) return;
        var update = new ClientUpdate(m.ClientId, m.Delta, m.NumSamples, m.TrainLoss);
        bool pending = _round.IsPending(m.ClientId);
        _round = _round.OnUpdate(update, _global.Length, m.SimSeconds, m.ComputeMs, summable: _sum is not null, keepVector: _sum is null);
        if (pending && _sum is not null && _round.Updates.ContainsKey(m.ClientId)) _sum.AddValidated(m.Delta, _streaming!.Weight(update)); // OnUpdate checked it; then the update is dropped
        if (_window.Release(m.ClientId)) SendTraining();
        if (!pending) return; // given up by the safety timeout, or a duplicate: nothing changes, the deadline stays
        if (_round.Dropped.TryGetValue(m.ClientId, out var r) && r == DropReason.Rejected)
            _events.UpdateRejected(m.Round, m.ClientId, RoundState.Problem(update, _global.Length, summable: _sum is not null) ?? "");
        CloseIfComplete();
    }

    private void HandleDropped(ClientDropped m)
    {
        if (m.Round != _round.Round || !_round.IsPending(m.ClientId)) return; // given up already, or a duplicate
        if (m.Error is not null && !m.Injected) _events.ClientFailed(m.Round, m.ClientId, m.Error);
        _round = _round.OnDropped(m.ClientId, m.Reason, m.SimSeconds);
        if (_adversaryEngaged) _adversary.Tell(new ClientsMissing(m.Round, [m.ClientId]));
        if (_window.Release(m.ClientId)) SendTraining();
        CloseIfComplete();
    }

    private void HandleTimeout(RoundTimeout m)
    {
        if (m.Round != _round.Round || _round.IsComplete) return;
        // only clients that were asked can have timed out; the window's waiting ones go out now
        var missing = _round.Pending.Where(_window.WasSent).ToArray();
        _events.ClientsTimedOut(m.Round, missing);
        if (_adversaryEngaged) _adversary.Tell(new ClientsMissing(m.Round, missing));
        _round = _round.OnTimeout(missing);
        foreach (var id in missing) _window.Release(id);
        SendTraining();
        CloseIfComplete();
    }

    private void CloseIfComplete()
    {
        // closed once: an answer that comes after the round closed (a client the safety timeout gave up on, answering while
        // the round is aggregated or evaluated) changes nothing. Closing again aggregated the round a second time — with
        // streaming, from updates that keep no vector: the worker failed ("length 0 ≠ N") and the run with it, under load
        if (_phase != "training") return;
        if (!_round.IsComplete)
        {
            // the safety timeout counts from the last answer: a round with more clients than workers takes as long as
            // its queue, and only a silence of round.timeout means a failure (a timer with the same key replaces the old)
            Timers.StartSingleTimer("round-timeout", new RoundTimeout(_round.Round), _experiment.Settings.Round.Timeout);
            return;
        }
        Timers.Cancel("round-timeout");
        _phase = "aggregating";
        if (_sum is not null)
        {
            // the running sum is the aggregate: no update was kept, none is sent anywhere
            var accepted = _round.Updates.Keys.ToArray();
            var global = accepted.Length == 0 ? _global : ServerStep.Step(_global, _streaming!.Finish(_sum), _experiment.Settings.ServerOrDefault.LearningRate);
            _sum = null;
            Self.Tell(accepted.Length == 0 ? new RoundAggregated(_round.Round, global, null, NotAggregated: ServerStep.NoUpdate)
                : new RoundAggregated(_round.Round, global, accepted));
            return;
        }
        _evaluator.Tell(new AggregateRound(_round.Round, _global, _round.Selected.Count, [.. _round.OrderedUpdates], Self));
    }

    private void HandleAggregated(RoundAggregated m)
    {
        if (m.Round != _round.Round || _phase != "aggregating") return; // a result arrives once, for the round being aggregated
        _lastGood = _global;
        _global = m.Global;
        _accepted = m.Accepted;
        _notAggregated = m.NotAggregated;
        if (m.Diagnostics is { Count: > 0 } measured) _events.DefenceMeasured(m.Round, _experiment.Settings.Rule, measured);
        var s = _experiment.Settings;
        _problem = RoundHealth.AfterAggregation(_round, _global, s.Round.HealthOrDefault, _faultCounts);
        _phase = "evaluating";
        if (_problem is not null || !PlainSimulation.ShouldEvaluate(_round.Round, s.Rounds, s.Round.EvaluateEvery))
            FinishRound(double.NaN, double.NaN);
        else if (_method is not null)
            StartPersonalEvaluation();
        else
            _evaluator.Tell(new EvaluateModel(_round.Round, _global, Self));
    }

    /// <summary>The PFLlib protocol: each evaluated client takes in the new global model (its download step for the next
    /// round) and tests its personalised model on its own test split; under an attack only the benign clients
    /// (<see cref="Experiment.NotEvaluated"/>).</summary>
    private void StartPersonalEvaluation()
    {
        var s = _experiment.Settings;
        int round = _round.Round;
        _evaluating = ClientEvaluation.Pick(s.Seed, round, s.Clients.Count, s.PersonalisationOrNone.EvaluateClients, _experiment.NotEvaluated).ToHashSet();
        _evaluations.Clear();
        Broadcast(new GlobalModel(round + 1, _global, _extra));
        _evalWindow = new RequestWindow(s.Round.MaxInFlight, _evaluating.Order());
        if (_evaluating.Count == 0) { FinishPersonalEvaluation(); return; } // nobody to ask: the round is not evaluated
        SendEvaluations();
        Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimeout(round), s.Round.Timeout);
    }

    /// <summary>The personal evaluations of the round in flight (each client sends its personal state to the worker).</summary>
    private RequestWindow _evalWindow = new(1, []);

    private void SendEvaluations()
    {
        foreach (var id in _evalWindow.Take()) _clients.Tell(new EvaluateClient(id, _round.Round, Self));
    }

    /// <summary>The evaluation's safety timeout: the clients asked and silent are given up; those still waiting are asked.</summary>
    private void HandleEvaluationTimeout(EvaluationTimeout m)
    {
        if (m.Round != _round.Round || _evaluating.Count == 0) return;
        var silent = _evaluating.Where(_evalWindow.WasSent).Order().ToArray();
        if (silent.Length > 0) _events.ClientsTimedOut(m.Round, silent);
        foreach (var id in silent)
        {
            _evaluating.Remove(id);
            _evalWindow.Release(id);
        }
        if (_evaluating.Count == 0)
        {
            FinishPersonalEvaluation();
            return;
        }
        SendEvaluations();
        Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimeout(m.Round), _experiment.Settings.Round.Timeout);
    }

    private void HandleClientEvaluated(ClientEvaluated m)
    {
        if (m.Round != _round.Round || !_evaluating.Remove(m.ClientId)) return;
        if (m.Outcome is { } o) _evaluations[m.ClientId] = o;
        if (_evalWindow.Release(m.ClientId)) SendEvaluations();
        if (_evaluating.Count == 0) FinishPersonalEvaluation();
        else Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimeout(m.Round), _experiment.Settings.Round.Timeout);
    }

    private void FinishPersonalEvaluation()
    {
        Timers.Cancel("evaluation-timeout");
        if (_evaluating.Count > 0) _events.ClientsTimedOut(_round.Round, _evaluating.Order().ToArray());
        _evaluating = [];
        var e = ClientEvaluation.Of(_evaluations);
        FinishRound(e.Pooled.Accuracy, e.Pooled.MeanLoss, e.Pooled.AttackSuccess, e);
    }

    private void HandleEvaluationDone(EvaluationDone m)
    {
        if (m.Round != _round.Round || _phase != "evaluating") return;
        FinishRound(m.Total.Accuracy, m.Total.MeanLoss, m.Total.AttackSuccess, m.Clients);
    }

    private void FinishRound(double accuracy, double loss, double attackSuccess = double.NaN, ClientEvaluation? clients = null)
    {
        var problem = _problem ?? RoundHealth.AfterEvaluation(_round.Round, accuracy, loss);
        if (problem is not null) problem = RoundHealth.WithDataCheck(problem, _experiment);
        var collusion = _experiment.Collusion;
        bool attacking = collusion.Active(_round.Round, _plan.Attack);
        var summary = RoundSummary.From(_round, accuracy, loss, _roundClock.ElapsedMilliseconds, _accepted, id => attacking && collusion.IsMalicious(id))
            .WithEvaluation(attackSuccess, clients) with { Health = problem, Faults = _faultCounts, NotAggregated = _notAggregated };
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
        _rounds.Add(summary.WithoutClients());
        if (!Commit(_round.Round)) return;
        _observer.Tell(new RoundFinished(summary));
        if (_round.Round < LastRound)
        {
            StartRound(_round.Round + 1);
            return;
        }
        Complete();
    }

    private void Complete()
    {
        int rounds = _rounds.Count > 0 ? _rounds[^1].Round : 0;
        _phase = "finished";
        _events.RunCompleted(rounds, _lastAccuracy, _bestAccuracy, _runClock.Elapsed);
        TellRunEnded(new RunEnded(false));
        _observer.Tell(new RunFinished(rounds, _global));
        Become(() =>
        {
            ReceiveControl();
            Receive<RegisterWorker>(m =>
            {
                // a clients node that joins after the end would otherwise wait for a run that is over
                HandleRegisterWorker(m);
                if (_workers.Contains(m.Worker)) m.Worker.Tell(new RunEnded(false));
            });
            // clients nodes leave once told the run ended: an unhandled Terminated would kill the coordinator (DeathPact)
            Receive<Terminated>(t => _workers.Remove(t.ActorRef));
            Receive<StartRun>(m => m.ReplyTo.Tell(new RunFailed("this coordinator's run has finished")));
        });
    }

    private void Fail(string reason)
    {
        _phase = "failed";
        _events.RunAborted(reason);
        TellRunEnded(new RunEnded(true, reason));
        _observer.Tell(new RunFailed(reason));
        Context.Stop(Self);
    }
}
