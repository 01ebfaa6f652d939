using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using FedActors.Core.Aggregation;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>How a node's clients-side process ends: its exit code, why, and how many client tasks its worker ran.</summary>
public sealed record NodeExit(int Code, string? Reason, int ClientTasks = 0)
{
    /// <summary>Bytes of models and updates this node sent to other nodes (<see cref="Protocol.PayloadSerializer"/>).</summary>
    public long PayloadBytesSent { get; init; }
}

/// <summary>Who a node is in its run: the experiment it loaded (checked by the coordinator) and, on a clients node, where
/// to say that the run ended or refused it.</summary>
public sealed record NodeIdentity(string ExperimentHash, (string Key, string Value)[]? ExperimentKeys, TaskCompletionSource<NodeExit>? Exit)
{
    public static readonly NodeIdentity Anonymous = new("", null, null);
}

/// <summary>
/// One per node: the only place that trains or evaluates. It decides <em>when</em> work runs: it holds the round's
/// global model once for all clients of the node, queues client work on the node's <see cref="TorchWorkerPool"/>
/// (which bounds concurrency and owns torch threading), and holds back tasks that arrive before their round's model.
/// What the work computes is Core's (<see cref="Experiment.Train"/>, <see cref="Evaluator"/>).
/// </summary>
public sealed class DeviceWorker : ReceiveActor, IWithTimers
{
    /// <param name="node">Who this node is in the run (null: a node that announces no experiment and never exits by itself).</param>
    public static Props Props(Experiment experiment, TorchWorkerPool pool, NodeIdentity? node = null) =>
        Akka.Actor.Props.Create(() => new DeviceWorker(experiment, pool, node ?? NodeIdentity.Anonymous));

    private sealed record Announce;
    private sealed record Heal(Address[] Nodes);
    /// <summary>The batch wait is over: run the queued training tasks, full batch or not.</summary>
    private sealed record Flush
    {
        public static readonly Flush Instance = new();
    }
    /// <summary>A batched call has ended (answered its tasks): its pool thread is free for the next. Of this actor
    /// incarnation's calls only: one a restarted worker started before does not count.</summary>
    private sealed record CallDone(Guid Incarnation);

    /// <summary>Sets the transport's throttle towards each node, both ways (the throttler is there with
    /// <c>fedactors.cluster.fault-injection = on</c>).</summary>
    private void Throttle(Address[] nodes, Akka.Remote.Transport.ThrottleMode mode)
    {
        var transport = ((Akka.Remote.IRemoteActorRefProvider)((ExtendedActorSystem)Context.System).Provider).Transport;
        foreach (var node in nodes)
            transport.ManagementCommand(new Akka.Remote.Transport.SetThrottle(node, Akka.Remote.Transport.ThrottleTransportAdapter.Direction.Both, mode))
                .ContinueWith(t => { if (t.IsFaulted) _log.Error(t.Exception, "Could not throttle the link to {Node}", node); }, TaskScheduler.Default);
    }
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly NodeIdentity _node;
    private IActorRef _coordinator = ActorRefs.Nobody;
    /// <summary>Client tasks (training, personal steps) this worker has run: on a clients node, its share of the run.</summary>
    private int _clientTasks;

    private readonly Experiment _experiment;
    private readonly TorchWorkerPool _pool;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IPersonalisation? _method;
    private GlobalModel? _model;
    /// <summary>A slow-node fault's factor: each client task holds its pool slot this many times as long.</summary>
    private double _slowFactor = 1;

    /// <summary>Under a slow-node fault, keeps the pool slot for (factor − 1) × the work's own time after it.</summary>
    private static void SlowDown(double factor, Stopwatch clock)
    {
        if (factor > 1) Thread.Sleep(TimeSpan.FromMilliseconds(clock.Elapsed.TotalMilliseconds * (factor - 1)));
    }
    /// <summary>Training tasks (<see cref="TrainTask"/>, or a personalised client's <see cref="PersonalTask"/>) waiting to
    /// join a batched call (<c>fedactors.device.batch-clients</c> &gt; 1), each with its round's global model and its place
    /// in the order tasks were queued.</summary>
    private readonly List<(IClientTask Task, GlobalModel Model, long Queued)> _batchQueue = [];
    private long _queuedSoFar;
    /// <summary>Batched calls started and not yet ended: at most one a pool thread, so tasks wait here, where the next call
    /// can choose among all of them, rather than in the pool's queue.</summary>
    private int _callsRunning;
    private readonly Guid _incarnation = Guid.NewGuid();
    /// <summary>Tasks released together (their model arrived) are queued before any call starts, so the calls choose among all.</summary>
    private bool _releasing;
    /// <summary>Tasks queued before this place have waited out a batch wait: a call may go part empty to take them.</summary>
    private long _overdueBefore;
    /// <summary>Tasks (<see cref="TrainTask"/>, <see cref="PersonalTask"/>) for a model version not here yet.</summary>
    private readonly List<(int Round, IClientTask Task)> _early = [];

    public DeviceWorker(Experiment experiment, TorchWorkerPool pool, NodeIdentity node)
    {
        _node = node;
        _experiment = experiment;
        _pool = pool;
        _method = experiment.Settings.CreatePersonalisation();
        Receive<GlobalModel>(HandleGlobalModel);
        Receive<TrainTask>(OnModel);
        Receive<PersonalTask>(OnModel);
        Receive<EvaluateModel>(HandleEvaluate);
        Receive<Flush>(_ =>
        {
            _overdueBefore = _queuedSoFar;
            Dispatch();
        });
        Receive<CallDone>(m =>
        {
            if (m.Incarnation != _incarnation) return;
            _callsRunning--;
            Dispatch();
        });
        Receive<AggregateRound>(HandleAggregate);
        Receive<TrainReference>(HandleTrainReference);
        Receive<AnnounceTo>(m =>
        {
            _coordinator = m.Coordinator;
            Self.Tell(new Announce());
            // again and again: a coordinator that moved to another node finds this worker (registration is idempotent)
            Timers.StartPeriodicTimer("announce", new Announce(), TimeSpan.FromSeconds(2));
        });
        Receive<Announce>(_ => _coordinator.Tell(new RegisterWorker(Self, _node.ExperimentHash, _node.ExperimentKeys)));
        Receive<WorkerRefused>(m =>
        {
            _log.Error("The run refused this node: {Reason}", m.Reason);
            Timers.Cancel("announce");
            _node.Exit?.TrySetResult(new NodeExit(2, m.Reason, _clientTasks));
        });
        Receive<RunEnded>(m => _node.Exit?.TrySetResult(new NodeExit(m.Failed ? 1 : 0, m.Reason, _clientTasks)));
        Receive<SlowDown>(m =>
        {
            if (m.Factor != _slowFactor) _log.Warning("This node's worker works {Factor}× as slowly (slow-node fault)", m.Factor);
            _slowFactor = m.Factor;
        });
        Receive<PartitionNode>(m =>
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            var others = cluster.State.Members.Select(x => x.Address).Where(a => a != cluster.SelfAddress).ToArray();
            _log.Warning("This node cuts itself off from {Nodes} node(s) for {Seconds} s (partition-node fault)", others.Length, m.Seconds);
            Throttle(others, Akka.Remote.Transport.Blackhole.Instance);
            Timers.StartSingleTimer("heal", new Heal(others), TimeSpan.FromSeconds(m.Seconds));
        });
        Receive<Heal>(m =>
        {
            _log.Warning("This node's partition ends: links to {Nodes} node(s) restored", m.Nodes.Length);
            Throttle(m.Nodes, Akka.Remote.Transport.Unthrottled.Instance);
        });
        Receive<KillNode>(m =>
        {
            _log.Error("This node is killed: {Reason}", m.Reason);
            Serilog.Log.CloseAndFlush();
            // at once and without clean-up, as SIGKILL: the cluster finds the node unreachable and downs it
            Process.GetCurrentProcess().Kill();
        });
    }

    /// <summary>Says so, naming the pool slot and its thread, when a computation on a pool thread turned a finite global
    /// model into non-finite numbers: a diverging setting, or corrupted computation (issue #5, seen on one host only). The
    /// coordinator rejects such updates and its health check stops the run; these warnings tell whether one pool thread
    /// produced them all (a thread's native state) or every thread did (the setting or the data).</summary>
    private void CheckFinite(WorkerSlot slot, ParameterVector global, ParameterVector? output, string what, int clientId, int round)
    {
        if (output is not null && !output.IsFinite() && global.IsFinite()) NonFinite(slot, what, clientId, round);
    }

    /// <summary><see cref="CheckFinite(WorkerSlot, ParameterVector, ParameterVector?, string, int, int)"/> for each outcome of a batched call.</summary>
    private T[] CheckFinite<T>(WorkerSlot slot, ParameterVector global, T[] outcomes, Func<T, ParameterVector?> output, int[] clientIds, int round)
    {
        for (int i = 0; i < outcomes.Length; i++) CheckFinite(slot, global, output(outcomes[i]), "update (batched call)", clientIds[i], round);
        return outcomes;
    }

    private void NonFinite(WorkerSlot slot, string what, int clientId, int round) =>
        _log.Warning("Pool slot {Slot} (thread {Thread}) computed a non-finite {What} from a finite global model, client {ClientId}, round {Round}",
            slot.Index, Thread.CurrentThread.Name, what, clientId, round);

    private void HandleTrainReference(TrainReference m)
    {
        var experiment = _experiment;
        _pool.Run(slot => new ReferenceTrained(m.Round, experiment.TrainReference(slot, m.Global, m.Round, m.Colluders, m.Epochs).Delta))
            .PipeTo(m.ReplyTo, failure: e => new TrainFailed(-1, m.Round, e.GetBaseException().Message));
    }

    private IAggregationRule? _rule;

    /// <summary>The server step (root update when the rule needs one, then the rule) on a pool thread, so rules that
    /// compute with torch (SkyMask) or are heavy (Krum is O(n²d)) never block an actor.</summary>
    private void HandleAggregate(AggregateRound m)
    {
        var experiment = _experiment;
        var rule = _rule ??= experiment.Settings.CreateRule();
        _pool.Run(slot =>
        {
            var (global, result, notAggregated) = ServerStep.Run(experiment, slot, rule, m.Global, m.Round, m.Selected, m.Updates);
            // the updates are finite (the coordinator rejects the others before they get here)
            if (!global.IsFinite() && m.Global.IsFinite()) NonFinite(slot, "global model (server step)", -1, m.Round);
            return new RoundAggregated(m.Round, global, result?.Accepted.ToArray(), result?.Diagnostics, notAggregated);
        }).PipeTo(m.ReplyTo, failure: e => new AggregationFailed(m.Round, e.GetBaseException().Message));
    }

    private void HandleGlobalModel(GlobalModel m)
    {
        if (_model is not null && m.Round < _model.Round) return;
        _model = m;
        var ready = _early.Where(t => t.Round == m.Round).ToList();
        // a task held for a model version this worker never got (it skipped one) is answered, as a task of an old round
        // is: a client waiting for its answer would otherwise wait for ever
        foreach (var (round, task) in _early.Where(t => t.Round < m.Round)) Fail(task, $"round {round} is over (worker holds round {m.Round})");
        _early.RemoveAll(t => t.Round <= m.Round);
        _releasing = true;
        try
        {
            foreach (var (_, task) in ready) Run(task, m);
        }
        finally { _releasing = false; }
        if (_batchQueue.Count > 0) Dispatch();
    }

    /// <summary>Runs a task on its model version now, holds it until that version arrives, or fails it when its round is over.</summary>
    private void OnModel(IClientTask task)
    {
        int round = task.Round;
        if (_model is { } m && m.Round == round) Run(task, m);
        else if (_model is null || round > _model.Round) _early.Add((round, task));
        else Fail(task, $"round {round} is over (worker holds round {_model.Round})");
    }

    private void Run(IClientTask task, GlobalModel m)
    {
        _clientTasks++;
        if (task is TrainTask t && _experiment.Batchable(t.ClientId, t.Round, t.Attack)) Enqueue(t, m);
        else if (task is TrainTask one) Train(one, m.Weights);
        else if (task is PersonalTask { Work: PersonalWork.Train } p && _experiment.Batchable(p.ClientId, p.Round, p.Attack)) Enqueue(p, m);
        else RunPersonal((PersonalTask)task, m);
    }

    /// <summary>Answers a task this worker will not run.</summary>
    private static void Fail(IClientTask task, string why) => task.ReplyTo.Tell(new TrainFailed(task.ClientId, task.Round, why));

    /// <summary>Queues a task for a batched call: a full batch starts while fewer batched calls run than the pool has
    /// threads, what is left after the batch wait. Which tasks share a call changes nothing in their updates
    /// (<see cref="BatchedTrainer"/>).</summary>
    private void Enqueue(IClientTask task, GlobalModel model)
    {
        _batchQueue.Add((task, model, _queuedSoFar++));
        if (!_releasing) Dispatch();
    }

    /// <summary>Starts what calls it can, then makes sure the tasks left wait no longer than a batch wait: the timer runs
    /// while the queue holds tasks none of which is overdue yet.</summary>
    private void Dispatch()
    {
        RunBatches();
        if (_batchQueue.Count == 0) Timers.Cancel("flush");
        else if (!_batchQueue.Any(q => q.Queued < _overdueBefore) && !Timers.IsTimerActive("flush"))
            Timers.StartSingleTimer("flush", Flush.Instance, _experiment.Settings.Device.BatchWait);
    }

    /// <summary>Starts batched calls while fewer run than the pool has threads (its other work, evaluation or a client
    /// trained alone, is not counted): each of the batch size, of tasks on one global model (one round's, the oldest
    /// first), the queued ones that leave fewest places idle (<see cref="ClientBatching.Fullest"/>: a call costs its
    /// largest client's steps in every place); a partial call for tasks that have waited out a batch wait. The choice is
    /// among the tasks queued: those that arrive one by one while threads are free go out in their order.</summary>
    private void RunBatches()
    {
        int size = _experiment.Batching.Size;
        while (_callsRunning < _pool.Workers && _batchQueue.Count > 0)
        {
            var sameModel = _batchQueue.GroupBy(q => q.Model, ReferenceEqualityComparer.Instance)
                .Select(g => g.ToArray()).FirstOrDefault(g => g.Length >= size || g.Any(q => q.Queued < _overdueBefore));
            if (sameModel is null) break;
            var call = _experiment.Batching.Fullest(sameModel, q => _experiment.TrainSteps(q.Task.ClientId));
            // a run's training tasks are all personal or none is
            if (call[0].Task is PersonalTask) TrainPersonalBatch([.. call.Select(q => (PersonalTask)q.Task)], call[0].Model);
            else TrainBatch([.. call.Select(q => (TrainTask)q.Task)], call[0].Model.Weights);
            _callsRunning++;
            var sent = call.Select(q => q.Task).ToHashSet(ReferenceEqualityComparer.Instance);
            _batchQueue.RemoveAll(q => sent.Contains(q.Task));
        }
    }

    /// <summary>Answers every task this worker holds and will not run (it stops or restarts): its clients would otherwise
    /// wait for the round's safety timeout.</summary>
    private void FailHeld(string why)
    {
        foreach (var (task, _, _) in _batchQueue) Fail(task, why);
        foreach (var (_, task) in _early) Fail(task, why);
        _batchQueue.Clear();
        _early.Clear();
    }

    /// <remarks>Also on a restart: the default <c>PreRestart</c> calls it.</remarks>
    protected override void PostStop()
    {
        FailHeld("the node's worker stopped");
        base.PostStop();
    }

    /// <summary>One batched call of FedAvg-family clients (<see cref="TrainDone"/> each).</summary>
    private void TrainBatch(TrainTask[] tasks, ParameterVector global)
    {
        var experiment = _experiment;
        int round = tasks[0].Round;
        var ids = tasks.Select(t => t.ClientId).ToArray();
        RunBatch(tasks, slot => CheckFinite(slot, global, experiment.TrainBatch(slot, global, ids, round), o => o.Delta, ids, round),
            (t, o, ms) => new TrainDone(t.ClientId, t.Round, o.Delta, o.NumSamples, o.MeanLoss, ms));
    }

    /// <summary>One batched call of personalised clients (<see cref="PersonalStep.RunBatch"/>; <see cref="PersonalTaskDone"/> each).</summary>
    private void TrainPersonalBatch(PersonalTask[] tasks, GlobalModel m)
    {
        var experiment = _experiment;
        var method = _method ?? throw new InvalidOperationException("a personal task in a run without a personalisation method");
        RunBatch(tasks, slot => CheckFinite(slot, m.Weights,
                    experiment.TrainPersonalBatch(slot, method, [.. tasks.Select(t => (t.ClientId, t.State))], m.Round, m.Weights, m.Extra),
                    r => r.Upload?.Delta, [.. tasks.Select(t => t.ClientId)], m.Round)
                .Zip(tasks, (r, t) => (Result: r, Samples: experiment.TrainSamples(t.ClientId))).ToArray(),
            (t, o, ms) => new PersonalTaskDone(t.ClientId, t.Round, t.Work, o.Result.State, null, o.Result.Upload, null, o.Samples, ms));
    }

    /// <summary>A batched call on a pool thread: each task gets its own answer (the call's time shared among them, the
    /// shares adding up to it), or all a <see cref="TrainFailed"/>.</summary>
    private void RunBatch<TTask, TOutcome>(TTask[] tasks, Func<WorkerSlot, TOutcome[]> call, Func<TTask, TOutcome, long, object> answer)
        where TTask : IClientTask
    {
        double slow = _slowFactor;
        var (self, done) = (Self, new CallDone(_incarnation));
        _pool.Run(slot =>
        {
            var clock = Stopwatch.StartNew();
            var outcomes = call(slot);
            SlowDown(slow, clock);
            return (outcomes, clock.ElapsedMilliseconds);
        }).ContinueWith(call =>
        {
            try
            {
                for (int i = 0; i < tasks.Length; i++)
                {
                    var t = tasks[i];
                    if (call.IsCompletedSuccessfully)
                    {
                        var (outcomes, ms) = call.Result;
                        t.ReplyTo.Tell(answer(t, outcomes[i], ClientBatching.Share(ms, tasks.Length, i)));
                    }
                    else t.ReplyTo.Tell(new TrainFailed(t.ClientId, t.Round, call.Exception?.GetBaseException().Message ?? "the batched call was cancelled"));
                }
            }
            finally { self.Tell(done); } // the thread is free whatever became of the answers
        }, TaskScheduler.Default);
    }

    /// <summary>A personalised client's step (<see cref="PersonalStep"/>, or the preparation call) on a pool thread.</summary>
    private void RunPersonal(PersonalTask t, GlobalModel m)
    {
        var experiment = _experiment;
        var method = _method ?? throw new InvalidOperationException("a personal task in a run without a personalisation method");
        double slow = _slowFactor;
        _pool.Run(slot =>
        {
            var clock = Stopwatch.StartNew();
            var c = new PersonalContext(experiment, slot, t.ClientId, t.Round, m.Weights, m.Extra) { Attack = t.Attack };
            int samples = experiment.TrainSamples(t.ClientId);
            if (t.Work == PersonalWork.Prepare)
                return new PersonalTaskDone(t.ClientId, t.Round, t.Work, t.State, null, null, method.Prepare(c, t.State), samples, clock.ElapsedMilliseconds);
            var r = PersonalStep.Run(method, c, t.State, evaluate: t.Work == PersonalWork.Evaluate, train: t.Work == PersonalWork.Train);
            CheckFinite(slot, m.Weights, r.Upload?.Delta, "update", t.ClientId, t.Round);
            SlowDown(slow, clock);
            return new PersonalTaskDone(t.ClientId, t.Round, t.Work, r.State, r.Evaluation, r.Upload, null, samples, clock.ElapsedMilliseconds);
        }).PipeTo(t.ReplyTo, failure: e => new TrainFailed(t.ClientId, t.Round, e.GetBaseException().Message));
    }

    private void Train(TrainTask t, ParameterVector global)
    {
        var experiment = _experiment;
        double slow = _slowFactor;
        _pool.Run(slot =>
        {
            var clock = Stopwatch.StartNew();
            var outcome = experiment.Train(slot, global, t.ClientId, t.Round, t.Attack);
            CheckFinite(slot, global, outcome.Delta, "update", t.ClientId, t.Round);
            SlowDown(slow, clock);
            return new TrainDone(t.ClientId, t.Round, outcome.Delta, outcome.NumSamples, outcome.MeanLoss, clock.ElapsedMilliseconds);
        }).PipeTo(t.ReplyTo, failure: e => new TrainFailed(t.ClientId, t.Round, e.GetBaseException().Message));
    }

    private void HandleEvaluate(EvaluateModel m)
    {
        var experiment = _experiment;
        var chunks = experiment.EvaluationChunks().ToArray();
        var parts = chunks.Select(chunk => _pool.Run(slot =>
        {
            var outcome = experiment.EvaluateChunk(slot, m.Weights, chunk);
            if (outcome.Any(o => !double.IsFinite(o.LossSum)) && m.Weights.IsFinite()) NonFinite(slot, "evaluation loss", -1, m.Round);
            return outcome;
        })).ToArray();
        _log.Debug("Evaluating round {Round} in {Chunks} chunks", m.Round, parts.Length);
        // awaited, not continued "only on success": a chunk that throws reaches the coordinator with its own message
        // (a cancelled continuation would say only "A task was canceled")
        Combine().PipeTo(m.ReplyTo, failure: e => new EvaluationFailed(m.Round, e.GetBaseException().Message));

        async Task<EvaluationDone> Combine()
        {
            var results = await Task.WhenAll(parts).ConfigureAwait(false);
            // Summed in chunk order, so the result does not depend on which chunk finished first.
            var (total, clients) = EvaluationChunk.Combine(chunks, results);
            return new EvaluationDone(m.Round, total, clients);
        }
    }
}
