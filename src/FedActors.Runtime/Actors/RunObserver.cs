using Akka.Actor;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.Protocol;

namespace FedActors.Runtime.Actors;

/// <summary>The coordinator ended the run (a failed health check, a failed aggregation): a reason for the user, not a bug.</summary>
public sealed class RunAbortedException(string reason) : Exception(reason);

/// <summary>The result of a whole run, as the edge (CLI, tests) receives it.</summary>
public sealed record RunResult(IReadOnlyList<RoundSummary> Rounds, ParameterVector FinalModel)
{
    /// <summary>Bytes of models and updates this node sent to other nodes (<see cref="PayloadSerializer"/>); 0 on one node.</summary>
    public long PayloadBytesSent { get; init; }
}

/// <summary>
/// Sits at the edge of the actor system for one run: passes each finished round to a callback (live progress) and
/// completes a task when the run ends or fails. It decides nothing.
/// </summary>
public sealed class RunObserver : ReceiveActor
{
    /// <param name="onFault">Called with each fault as it takes effect (for <c>faults.jsonl</c>).</param>
    public static Props Props(Action<RoundSummary> onRound, TaskCompletionSource<RunResult> done, Action<Core.Faults.Fault>? onFault = null) =>
        Akka.Actor.Props.Create(() => new RunObserver(onRound, done, onFault));

    private readonly List<RoundSummary> _rounds = [];

    public RunObserver(Action<RoundSummary> onRound, TaskCompletionSource<RunResult> done, Action<Core.Faults.Fault>? onFault)
    {
        Receive<FaultTookEffect>(m => onFault?.Invoke(m.Fault));
        Receive<RoundFinished>(m =>
        {
            _rounds.Add(m.Summary.WithoutClients());
            onRound(m.Summary);
        });
        Receive<RunFinished>(m => done.TrySetResult(new RunResult(_rounds.ToArray(), m.FinalModel)));
        Receive<RunFailed>(m => done.TrySetException(new RunAbortedException(m.Reason)));
    }
}
