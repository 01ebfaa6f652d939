namespace FedActors.Core.Simulation;

/// <summary>One finished round's metrics: a row of <c>rounds.csv</c> and the properties of <c>RoundCompleted</c>.
/// Accuracy and loss are NaN on rounds that were not evaluated.</summary>
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
    long ComputeMs)
{
    /// <summary>Simulated drops (dropout and deadline); real failures (<see cref="TimedOut"/>, <see cref="Failed"/>) are counted apart.</summary>
    public int Dropped => DroppedOut + MissedDeadline;

    public static RoundSummary From(RoundState s, double accuracy, double loss, long roundMs)
    {
        var u = s.OrderedUpdates;
        double trainLoss = u.Count == 0 ? double.NaN : u.Sum(x => x.TrainLoss * x.NumSamples) / u.Sum(x => (double)x.NumSamples);
        return new RoundSummary(s.Round, s.Selected.Count, u.Count, s.Count(DropReason.DroppedOut), s.Count(DropReason.MissedDeadline),
            s.Count(DropReason.TimedOut), s.Count(DropReason.Failed), s.Count(DropReason.Rejected), accuracy, loss, trainLoss, s.SimSeconds, roundMs, s.ComputeMs);
    }
}
