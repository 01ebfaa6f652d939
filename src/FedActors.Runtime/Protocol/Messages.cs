using Akka.Actor;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;

namespace FedActors.Runtime.Protocol;

/// <summary>Marks every message that may cross nodes; HOCON binds it to Hyperion.</summary>
public interface IFedActorsMessage;

/// <summary>A message for one client entity; the shard extractor routes on <see cref="ClientId"/>.</summary>
public interface IWithClientId
{
    int ClientId { get; }
}

// ---- run control (edge → coordinator → edge)

/// <summary>Starts the run; progress and the end go to <paramref name="ReplyTo"/>. With <paramref name="Resume"/> the
/// coordinator continues after the last round committed to its checkpoint store.</summary>
public sealed record StartRun(IActorRef ReplyTo, bool Resume = false) : IFedActorsMessage;

/// <summary>One round is done (sent to the run's observer).</summary>
public sealed record RoundFinished(RoundSummary Summary) : IFedActorsMessage;

/// <summary>The run is done; <paramref name="FinalModel"/> is the last global model.</summary>
public sealed record RunFinished(int Rounds, ParameterVector FinalModel) : IFedActorsMessage;

/// <summary>The run could not go on.</summary>
public sealed record RunFailed(string Reason) : IFedActorsMessage;

// ---- node workers

/// <summary>A node's device worker announces itself to the coordinator, which then sends it each round's model. Sent again
/// every few seconds, so a coordinator that moved to another node finds every worker. <paramref name="Experiment"/> is the
/// node's <see cref="Settings.HoconText.ExperimentKeys"/> (empty: not checked): a node whose experiment differs from the
/// run's is refused.</summary>
public sealed record RegisterWorker(IActorRef Worker, string ExperimentHash = "", (string Key, string Value)[]? Experiment = null) : IFedActorsMessage;

/// <summary>The coordinator refuses a node's worker (its configuration differs from the run's).</summary>
public sealed record WorkerRefused(string Reason) : IFedActorsMessage;

/// <summary>The run is over (finished or failed): a clients node leaves the cluster and exits.</summary>
public sealed record RunEnded(bool Failed, string? Reason = null) : IFedActorsMessage;

/// <summary>Tells a node's worker where the coordinator (its singleton proxy) is, so it can announce itself.</summary>
public sealed record AnnounceTo(IActorRef Coordinator) : IFedActorsMessage;

/// <summary>The global model that round <paramref name="Round"/> trains on (the server's model after round − 1), sent once
/// per node (not once per client), with the personalisation method's extra vector (DBE's global mean) when it has one.</summary>
public sealed record GlobalModel(int Round, ParameterVector Weights, float[]? Extra = null) : IFedActorsMessage;

/// <summary>Evaluate these weights on the experiment's test set.</summary>
public sealed record EvaluateModel(int Round, ParameterVector Weights, IActorRef ReplyTo) : IFedActorsMessage;

/// <summary>The evaluation's totals and, when the test set was evaluated client by client, their spread.</summary>
public sealed record EvaluationDone(int Round, Core.Training.EvalOutcome Total, ClientEvaluation? Clients) : IFedActorsMessage;

public sealed record EvaluationFailed(int Round, string Error) : IFedActorsMessage;

// ---- one client's round

/// <summary>The coordinator selects a client for a round; <paramref name="Fault"/> is what the round's faults do to it
/// (null: nothing), decided by the coordinator so every node applies the same plan.</summary>
public sealed record StartTraining(int ClientId, int Round, IActorRef ReplyTo, Core.Faults.ClientFault? Fault = null) : IFedActorsMessage, IWithClientId;

/// <summary>A client asks its node's worker to train it on the round's global model (<paramref name="Attack"/>: an
/// <c>attack-on</c>/<c>attack-off</c> fault's verdict, null: as configured).</summary>
public sealed record TrainTask(int ClientId, int Round, IActorRef ReplyTo, bool? Attack = null) : IFedActorsMessage, IClientTask;

/// <summary>A client's task for a node's worker (<see cref="TrainTask"/>, <see cref="PersonalTask"/>): whom to answer.</summary>
public interface IClientTask
{
    int ClientId { get; }
    int Round { get; }
    IActorRef ReplyTo { get; }
}

public sealed record TrainDone(int ClientId, int Round, ParameterVector Delta, int NumSamples, double TrainLoss, long ComputeMs) : IFedActorsMessage;

public sealed record TrainFailed(int ClientId, int Round, string Error) : IFedActorsMessage;

/// <summary>A client's update for the round: Δ = w_local − w_global.</summary>
public sealed record UpdateSubmitted(int ClientId, int Round, ParameterVector Delta, int NumSamples, double TrainLoss, double SimSeconds, long ComputeMs)
    : IFedActorsMessage;

/// <summary>A client contributes nothing this round, and why (<paramref name="Error"/>: what failed, for <see cref="DropReason.Failed"/>;
/// <paramref name="Injected"/>: a fault made it so (counted with the faults, not reported as a failure of the client).</summary>
public sealed record ClientDropped(int ClientId, int Round, DropReason Reason, double SimSeconds, string? Error = null, bool Injected = false) : IFedActorsMessage;

// ---- collusion (malicious clients ↔ adversary)

/// <summary>The coordinator tells the adversary a round has started, with the global model it was sent and what the
/// round's faults do to each selected client (<paramref name="Faults"/>, aligned with <paramref name="Selected"/>; null: none).</summary>
public sealed record AdversaryRoundStarted(int Round, int[] Selected, ParameterVector Global, Core.Faults.ClientFault[]? Faults = null)
    : IFedActorsMessage
{
    public Core.Faults.ClientFault FaultOf(int index) => Faults?[index] ?? Core.Faults.ClientFault.None;
}

/// <summary>The coordinator tells the adversary that these clients will not deliver this round after all (dropped, failed,
/// timed out), so it crafts without them instead of waiting.</summary>
public sealed record ClientsMissing(int Round, int[] ClientIds) : IFedActorsMessage;

/// <summary>A client's honest update shown to the adversary: a malicious client's (it then waits for its crafted
/// update) or, with full knowledge, a benign client's copy.</summary>
public sealed record HonestUpdate(int ClientId, int Round, ParameterVector Delta, int NumSamples, double TrainLoss, bool Malicious, IActorRef Client)
    : IFedActorsMessage;

/// <summary>The adversary's crafted update for a malicious client, which submits it as its own.</summary>
public sealed record PoisonedUpdate(int ClientId, int Round, ParameterVector Delta) : IFedActorsMessage;

// ---- the server step, run by the coordinator's local device worker

/// <summary>Aggregate the round's valid updates (client-id order) into a new global model.</summary>
public sealed record AggregateRound(int Round, ParameterVector Global, int Selected, Core.Aggregation.ClientUpdate[] Updates, IActorRef ReplyTo)
    : IFedActorsMessage;

/// <summary>The new global model and the clients the rule accepted (null: nothing was aggregated).</summary>
/// <param name="Diagnostics">What the rule measured this round (<see cref="Core.Aggregation.AggregationResult.Diagnostics"/>).</param>
/// <param name="NotAggregated">Why nothing was aggregated (the model kept), when <paramref name="Accepted"/> is null.</param>
public sealed record RoundAggregated(int Round, ParameterVector Global, int[]? Accepted, IReadOnlyDictionary<string, double>? Diagnostics = null,
    string? NotAggregated = null) : IFedActorsMessage;

public sealed record AggregationFailed(int Round, string Error) : IFedActorsMessage;

/// <summary>The adversary asks its node's worker for the Pill's extra-trained reference update.</summary>
public sealed record TrainReference(int Round, ParameterVector Global, int[] Colluders, int Epochs, IActorRef ReplyTo) : IFedActorsMessage;

public sealed record ReferenceTrained(int Round, ParameterVector Delta) : IFedActorsMessage;

// ---- personalised clients (fedactors.personalization.method ≠ none)

/// <summary>The one-off preparation call before round 1 (DBE's global mean), sent to every client.</summary>
public sealed record PrepareClient(int ClientId, IActorRef ReplyTo) : IFedActorsMessage, IWithClientId;

public sealed record ClientPrepared(int ClientId, int Samples, float[]? Contribution) : IFedActorsMessage;

/// <summary>Evaluate the client's personalised model after round <paramref name="Round"/>'s aggregation (it first takes in
/// the new global model, as a PFLlib client does at the start of the next round).</summary>
public sealed record EvaluateClient(int ClientId, int Round, IActorRef ReplyTo) : IFedActorsMessage, IWithClientId;

/// <summary>The client's own test result; null when its evaluation failed.</summary>
public sealed record ClientEvaluated(int ClientId, int Round, Core.Training.EvalOutcome? Outcome) : IFedActorsMessage;

public enum PersonalWork { Prepare, Evaluate, Train }

/// <summary>A personalised client asks its node's worker to run one step on the global model of <paramref name="Round"/>
/// with its personal state; <paramref name="Attack"/>: an <c>attack-on</c>/<c>attack-off</c> fault's verdict for a training step
/// (null: as configured), as <see cref="TrainTask"/>'s.</summary>
public sealed record PersonalTask(int ClientId, int Round, PersonalWork Work, Core.Personalisation.PersonalState State, IActorRef ReplyTo,
    bool? Attack = null) : IFedActorsMessage, IClientTask;

public sealed record PersonalTaskDone(int ClientId, int Round, PersonalWork Work, Core.Personalisation.PersonalState State,
    Core.Training.EvalOutcome? Evaluation, Core.Training.TrainOutcome? Upload, float[]? Contribution, int Samples, long ComputeMs) : IFedActorsMessage;

// ---- faults and control (the control API → coordinator → nodes)

/// <summary>A runtime fault for the coordinator to schedule. Its <see cref="Core.Faults.Fault.Round"/> is 0 for "the next
/// round boundary" (or at once, for the kinds that act at once), or a later round.</summary>
public sealed record InjectFault(Core.Faults.Fault Fault) : IFedActorsMessage;

/// <summary>The fault was scheduled: it takes effect in <paramref name="Round"/>.</summary>
public sealed record FaultAccepted(int Round, Core.Faults.Fault Fault) : IFedActorsMessage;

/// <summary>The fault was refused; nothing changed. <paramref name="Field"/> names what was wrong.</summary>
public sealed record FaultRefused(string Field, string Reason) : IFedActorsMessage;

/// <summary>A fault took effect (its round started, or at once): for <c>faults.jsonl</c> and the live view.</summary>
public sealed record FaultTookEffect(Core.Faults.Fault Fault) : IFedActorsMessage;

/// <summary>Asks the coordinator where the run stands.</summary>
public sealed record GetRunStatus : IFedActorsMessage
{
    public static readonly GetRunStatus Instance = new();
}

/// <summary>Where the run stands: <paramref name="Phase"/> is waiting, preparing, training, aggregating, evaluating, paused,
/// finished or failed.</summary>
public sealed record RunStatus(string Experiment, int Round, int Rounds, string Phase, int Clients, int PerRound, string[] Nodes,
    Core.Faults.Fault[] ActiveFaults, Core.Faults.Fault[] ScheduledFaults) : IFedActorsMessage;

/// <summary>The node's worker works this many times as slowly (1: normal) from now on.</summary>
public sealed record SlowDown(double Factor) : IFedActorsMessage;

/// <summary>The node cuts itself off from every other node for <paramref name="Seconds"/> (its links blackholed by the
/// transport's throttler, <c>fedactors.cluster.fault-injection = on</c>), then heals.</summary>
public sealed record PartitionNode(double Seconds) : IFedActorsMessage;

/// <summary>The node's process exits at once, as SIGKILL would.</summary>
public sealed record KillNode(string Reason) : IFedActorsMessage;
