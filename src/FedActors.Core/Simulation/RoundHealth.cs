using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>What a round that fails its health check does (<c>fedactors.round.health</c>).</summary>
/// <param name="MaxRejectedFraction">The round fails when more than this share of the updates that arrived were rejected
/// (non-finite or malformed). 1 = never for rejections.</param>
/// <param name="OnFailure"><c>stop</c>: the run ends with an error naming the round; <c>keep-last-good</c>: the round's
/// model is discarded, the run goes on from the last good global model, and a <c>RoundDiscarded</c> warning says so.</param>
public sealed record HealthSettings(double MaxRejectedFraction = 0.5, string OnFailure = HealthSettings.Stop)
{
    public const string Stop = "stop";
    public const string KeepLastGood = "keep-last-good";
    public static readonly string[] Actions = [Stop, KeepLastGood];
    public static readonly HealthSettings Default = new();
}

/// <summary>
/// Whether a round left the run sound. A non-finite global model, a non-finite evaluation loss, or a round in which most
/// updates were rejected means something went wrong (a diverging configuration, a broken attack, or corrupted
/// computation), and a run must not go on quietly with it: every result after it would be silently wrong.
/// </summary>
public static class RoundHealth
{
    /// <summary>The updates' problem, checked as soon as the round is aggregated; null when sound.</summary>
    /// <param name="faults">What injected faults did in the round: their crashes and lost messages are intended, not failures.</param>
    public static string? AfterAggregation(RoundState round, ParameterVector global, HealthSettings health, Faults.FaultCounts? faults = null)
    {
        int failed = round.Count(DropReason.Failed) - (faults?.Crashed ?? 0), timedOut = round.Count(DropReason.TimedOut) - (faults?.LostMessages ?? 0);
        if (round.Updates.Count == 0 && failed + timedOut > 0)
            return $"no update arrived in round {round.Round}: {failed} client(s) failed and {timedOut} timed out " +
                   $"(of {round.Selected.Count} selected; ClientFailed and ClientsTimedOut events say why)";
        int rejected = round.Count(DropReason.Rejected), arrived = rejected + round.Updates.Count;
        if (rejected > 0 && rejected > health.MaxRejectedFraction * arrived)
            return $"{rejected} of the {arrived} updates that arrived in round {round.Round} were rejected as non-finite or malformed " +
                   $"(more than fedactors.round.health.max-rejected-fraction = {health.MaxRejectedFraction:0.###}; each worker's log names " +
                   "the pool slot that computed a non-finite update)";
        if (!global.IsFinite())
            return $"the global model after round {round.Round} has non-finite values ({global.Values.Count(v => !float.IsFinite(v))} of {global.Length})";
        return null;
    }

    /// <summary>A failed round's problem with what it says of the data this process trains on: intact (the computation
    /// failed: a diverging setting, a broken attack, a fault in it) or overwritten since it was loaded (memory corrupted
    /// under the run, below or beside FedActors: the case issue #5 could not reproduce, which this tells apart).</summary>
    /// <remarks>It checks this node's copies (the CPU's and the device's); clients nodes hold their own.</remarks>
    public static string WithDataCheck(string problem, Experiment experiment) => problem + (experiment.DataUnchanged()
        ? "; the dataset on this node is as loaded"
        : "; the dataset on this node CHANGED since it was loaded: memory was overwritten under the run (not a setting: " +
          "please report it with the machine's CPU model)");

    /// <summary>The evaluation's problem; null when sound or not evaluated (NaN accuracy).</summary>
    public static string? AfterEvaluation(int round, double accuracy, double loss) =>
        !double.IsNaN(accuracy) && !double.IsFinite(loss) ? $"the evaluation after round {round} gave a non-finite loss ({loss})" : null;
}

/// <summary>A round failed its health check and <c>round.health.on-failure = stop</c>.</summary>
public sealed class RoundHealthException(int round, string problem) : Exception($"round {round} failed its health check: {problem}")
{
    public int Round { get; } = round;
    public string Problem { get; } = problem;
}
