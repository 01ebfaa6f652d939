using FedActors.Core.Simulation;
using Serilog;

namespace FedActors.Runtime.Monitoring;

/// <summary>
/// The run's structured events, each with an <c>Event</c> property naming it (so Seq can filter
/// <c>Event = 'RoundCompleted'</c>) and named properties, never text pasted into the message. Written to the run's
/// own logger (CLEF file, Seq, console), which is handed in rather than read from a global.
/// </summary>
public sealed class RunEvents(ILogger log)
{
    public ILogger Log { get; } = log;

    private ILogger For(string name) => Log.ForContext("Event", name);

    public void RunStarted(Experiment e, int parameters, int nodes)
    {
        var s = e.Settings;
        For("RunStarted").Information(
            "Run {Experiment} started: {Rounds} rounds, {Clients} clients ({PerRound} per round), model {Model} with {Parameters} parameters, seed {Seed}, {Nodes} node(s)",
            s.Name, s.Rounds, s.Clients.Count, s.Clients.SampledPerRound, s.Model, parameters, s.Seed, nodes);
    }

    /// <summary>Clients with fewer training samples than a batch: with drop-last each trains on its one partial batch
    /// (PFLlib's loader would give it none), which is worth knowing about a population.</summary>
    public void SmallClients(int clients, int population, int batchSize) =>
        For("SmallClients").Warning("{Clients} of {Population} clients have fewer training samples than a batch ({BatchSize}): with drop-last each trains on its one partial batch",
            clients, population, batchSize);

    public void RunResumed(Experiment e, int committedRound) =>
        For("RunResumed").Information("Run {Experiment} resumed after its last committed round {Round} of {Rounds}",
            e.Settings.Name, committedRound, e.Settings.Rounds);

    /// <summary>What the Pill did in a round: SimAdjust's β and the pill's distance from the honest update, per colluder
    /// (in client-id order), and the share of colluders whose pill SimAdjust emptied.</summary>
    public void PillCrafted(Core.Attacks.PillReport report) =>
        For("PillCrafted").Information(
            "Round {Round}: the Pill's β per colluder {Beta}, pill deviation from the honest update {PillDeviation}, share emptied by SimAdjust {ZeroBetaShare}",
            report.Round, report.Beta.OrderBy(b => b.Key).Select(b => Math.Round(b.Value, 4)).ToArray(),
            report.PillDeviation.OrderBy(b => b.Key).Select(b => Math.Round(b.Value, 6)).ToArray(), report.ZeroBetaShare);

    /// <summary>What the aggregation rule measured in a round (SkyMask: Ashman's D of its two clusters, whether the no-attack
    /// check let the split stand, the mask steps, the updates kept), one property per value.</summary>
    public void DefenceMeasured(int round, string rule, IReadOnlyDictionary<string, double> values)
    {
        var log = For("DefenceMeasured");
        foreach (var (name, value) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
            log = log.ForContext(string.Concat(name.Split('_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..])), value);
        log.Information("Round {Round}: {Rule} measured {Measured}", round, rule,
            string.Join(", ", values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key} {v.Value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}")));
    }

    public void RoundCompleted(RoundSummary r)
    {
        // a round that kept the model is a warning of its own: every later round may keep it too (a rule whose n > 2f + 2
        // the dropouts undercut), and a flat accuracy alone does not say why
        if (r.NotAggregated is { } why)
            For("RoundNotAggregated").Warning("Round {Round} kept the global model: {NotAggregated} ({Responded}/{Selected} responded)",
                r.Round, why, r.Responded, r.Selected);
        For("RoundCompleted")
            .ForContext("ComputeMs", r.ComputeMs)
            .ForContext("DroppedOut", r.DroppedOut)
            .ForContext("MissedDeadline", r.MissedDeadline)
            .ForContext("TimedOut", r.TimedOut)
            .ForContext("Failed", r.Failed)
            .ForContext("Rejected", r.Rejected)
            .ForContext("TrainLoss", r.TrainLoss)
            .ForContext("SimSeconds", r.SimSeconds)
            .ForContext("Malicious", r.Malicious)
            .ForContext("Flagged", r.Flagged)
            .ForContext("TruePositives", r.TruePositives)
            .ForContext("FalsePositives", r.FalsePositives)
            .ForContext("FalsePositiveRate", r.FalsePositiveRate)
            .ForContext("FalseNegativeRate", r.FalseNegativeRate)
            .ForContext("AttackSuccess", r.AttackSuccess)
            .ForContext("EvaluatedClients", r.EvaluatedClients)
            .ForContext("ClientAccuracyMin", r.ClientAccuracyMin)
            .ForContext("ClientAccuracyMedian", r.ClientAccuracyMedian)
            .ForContext("ClientAccuracyMax", r.ClientAccuracyMax)
            .ForContext("Health", r.Health)
            .ForContext("NotAggregated", r.NotAggregated)
            .ForContext("FaultDropped", r.Faults.Dropped)
            .ForContext("Crashed", r.Faults.Crashed)
            .ForContext("LostMessages", r.Faults.LostMessages)
            .ForContext("Straggled", r.Faults.Straggled)
            .ForContext("NodeFaults", r.Faults.NodeFaults)
            .Information(
                "Round {Round}: {Responded}/{Selected} responded, {Dropped} dropped, accuracy {Accuracy:0.0000}, loss {Loss:0.0000} in {RoundMs} ms",
                r.Round, r.Responded, r.Selected, r.Dropped, r.Accuracy, r.Loss, r.RoundMs);
    }

    public void RunCompleted(int rounds, double finalAccuracy, double bestAccuracy, TimeSpan elapsed) =>
        For("RunCompleted").Information(
            "Run completed after {Rounds} rounds: final accuracy {FinalAccuracy:0.0000}, best {BestAccuracy:0.0000}, {ElapsedSeconds:0.0} s",
            rounds, finalAccuracy, bestAccuracy, elapsed.TotalSeconds);

    /// <summary>A round failed its health check and, with <c>round.health.on-failure = keep-last-good</c>, its model was
    /// thrown away: the next round starts from the global model before it.</summary>
    public void RoundDiscarded(int round, string problem) =>
        For("RoundDiscarded").Warning("Round {Round} discarded, the run goes on from the model before it: {Problem}", round, problem);

    public void NodeJoined(string node, int nodes) =>
        For("NodeJoined").Information("Node {Node} joined the run: {Nodes} node(s)", node, nodes);

    public void NodeRefused(string node, string difference) =>
        For("NodeRefused").Error("Node {Node} refused: its experiment differs from the run's ({Difference})", node, difference);

    /// <summary>A fault took effect (its round started, or at once for the kinds that act at once).</summary>
    public void FaultInjected(Core.Faults.Fault f) =>
        For("FaultInjected")
            .ForContext("Fault", f, destructureObjects: true)
            .Information("Fault {Kind} from round {Round} for {Duration} round(s) ({Source}): clients {Clients}, fraction {Fraction}{Node}",
                f.Kind, f.Round, f.Duration == 0 ? "all remaining" : f.Duration, f.Source, f.Clients.Length == 0 ? "all" : f.Clients, f.Fraction,
                f.Node.Length > 0 ? ", node " + f.Node : "");

    public void RunPaused(int nextRound) =>
        For("RunPaused").Information("Run paused before round {Round}; a resume fault continues it", nextRound);

    public void RunAborted(string reason) => For("RunAborted").Error("Run aborted: {Reason}", reason);

    public void UpdateRejected(int round, int clientId, string problem) =>
        For("UpdateRejected").Warning("Round {Round}: update of client {ClientId} rejected: {Problem}", round, clientId, problem);

    public void ClientFailed(int round, int clientId, string error) =>
        For("ClientFailed").Warning("Round {Round}: client {ClientId} failed: {Error}", round, clientId, error);

    public void ClientsTimedOut(int round, int[] clients) =>
        For("ClientsTimedOut").Warning("Round {Round}: {Count} client(s) did not answer before the safety timeout: {ClientIds}",
            round, clients.Length, clients);
}
