namespace FedActors.Core.Simulation;

/// <summary>One finished round's metrics: a row of <c>rounds.csv</c> and the properties of <c>RoundCompleted</c>.
/// Accuracy and loss are NaN on rounds that were not evaluated. <see cref="Health"/> is null for a sound round, else what
/// its health check found (the round was then discarded or ended the run).</summary>
public sealed record RoundSummary(
    int Round,
    int Selected,
    int Responded,
    int DroppedOut,
    int MissedDeadline,
    int TimedOut,
    int Failed,
    int Rejected,
    double Accuracy,
    double Loss,
    double TrainLoss,
    double SimSeconds,
    long RoundMs,
    long ComputeMs,
    int Malicious = 0,
    int Flagged = 0,
    int TruePositives = 0,
    int FalsePositives = 0,
    double AttackSuccess = double.NaN,
    int EvaluatedClients = 0,
    double ClientAccuracyMin = double.NaN,
    double ClientAccuracyMedian = double.NaN,
    double ClientAccuracyMax = double.NaN,
    string? Health = null)
{
    /// <summary>Why the round kept the global model as it was, when it aggregated nothing: no usable update, or fewer
    /// than the rule needs (dropouts can shrink a round below Krum's n &gt; 2f + 2); null when it aggregated.</summary>
    public string? NotAggregated { get; init; }

    /// <summary>Each evaluated client's outcome when clients were evaluated one by one (empty otherwise). Written to
    /// <c>clients.csv</c> as the round ends; not kept in checkpoints, whose size would grow with every round.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ClientOutcomes PerClient { get; init; } = ClientOutcomes.None;

    /// <summary>This summary without <see cref="PerClient"/>: what a list kept for the whole run holds, so that its
    /// memory grows with the rounds only, not with rounds × evaluated clients.</summary>
    public RoundSummary WithoutClients() => PerClient.Count == 0 ? this : this with { PerClient = ClientOutcomes.None };

    /// <summary>What injected or scripted faults did in the round.</summary>
    public Faults.FaultCounts Faults { get; init; } = Core.Faults.FaultCounts.Zero;

    /// <summary>Whether the round passed its health check (<see cref="RoundHealth"/>); <see cref="Health"/> says what failed.</summary>
    public bool Healthy => Health is null;

    /// <summary>Whether the rule decided on the round's updates (it aggregated); a round that kept the model
    /// (<see cref="NotAggregated"/>) flagged nobody and let nothing through, and counts in no detection rate.</summary>
    public bool Decided => NotAggregated is null;

    /// <summary>Malicious updates that were aggregated (false negatives); 0 in a round that aggregated nothing.</summary>
    public int FalseNegatives => Decided ? Malicious - TruePositives : 0;

    /// <summary>Benign updates flagged, over benign updates received; NaN with none, or when the rule did not decide.</summary>
    public double FalsePositiveRate => !Decided || Responded - Malicious == 0 ? double.NaN : (double)FalsePositives / (Responded - Malicious);

    /// <summary>Malicious updates missed, over malicious updates received; NaN with none, or when the rule did not decide.</summary>
    public double FalseNegativeRate => !Decided || Malicious == 0 ? double.NaN : (double)FalseNegatives / Malicious;

    /// <summary>Simulated drops (dropout and deadline); real failures (<see cref="TimedOut"/>, <see cref="Failed"/>) are counted apart.</summary>
    public int Dropped => DroppedOut + MissedDeadline;

    /// <summary>This summary with the evaluation's backdoor success and, when clients were evaluated one by one, their spread.</summary>
    public RoundSummary WithEvaluation(double attackSuccess, ClientEvaluation? clients) =>
        clients is null
            ? this with { AttackSuccess = attackSuccess }
            : this with
            {
                AttackSuccess = attackSuccess, EvaluatedClients = clients.Clients,
                ClientAccuracyMin = clients.Min, ClientAccuracyMedian = clients.Median, ClientAccuracyMax = clients.Max,
                PerClient = clients.PerClient,
            };

    /// <param name="accepted">The clients whose updates the rule used (null: nothing was aggregated, nobody flagged).</param>
    /// <param name="isMalicious">Ground truth, for the detection counts only; the rule never sees it.</param>
    public static RoundSummary From(RoundState s, double accuracy, double loss, long roundMs,
        IReadOnlyCollection<int>? accepted = null, Func<int, bool>? isMalicious = null)
    {
        var u = s.OrderedUpdates;
        double trainLoss = u.Count == 0 ? double.NaN : u.Sum(x => x.TrainLoss * x.NumSamples) / u.Sum(x => (double)x.NumSamples);
        isMalicious ??= _ => false;
        var flagged = accepted is null ? [] : u.Select(x => x.ClientId).Where(id => !accepted.Contains(id)).ToArray();
        return new RoundSummary(s.Round, s.Selected.Count, u.Count, s.Count(DropReason.DroppedOut), s.Count(DropReason.MissedDeadline),
            s.Count(DropReason.TimedOut), s.Count(DropReason.Failed), s.Count(DropReason.Rejected), accuracy, loss, trainLoss, s.SimSeconds, roundMs, s.ComputeMs,
            Malicious: u.Count(x => isMalicious(x.ClientId)),
            Flagged: flagged.Length,
            TruePositives: flagged.Count(isMalicious),
            FalsePositives: flagged.Count(id => !isMalicious(id)));
    }
}
