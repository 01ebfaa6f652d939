using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FedActors.Core.Config;
using FedActors.Core.Simulation;
using Spectre.Console;

namespace FedActors.Cli.Output;

/// <summary>The run's headline numbers, written as <c>summary.json</c>.</summary>
public sealed record RunSummary(
    string Experiment, long Seed, int Rounds, int Clients, int PerRound, string Model, string Partition,
    double FinalAccuracy, double BestAccuracy, int BestRound, double FinalLoss,
    int TotalSelected, int TotalResponded, int TotalDropped, int TotalTimedOut, int TotalFailed, int TotalRejected,
    double WallSeconds, double MeanRoundMs, double SimulatedSeconds, string RunFolder,
    string Attack = "none", string Defence = "fedavg", int MaliciousUpdates = 0, int Flagged = 0, int TruePositives = 0, int FalsePositives = 0,
    double FalsePositiveRate = double.NaN, double FalseNegativeRate = double.NaN, double FinalErrorRate = double.NaN,
    double FinalAttackSuccess = double.NaN, string Personalization = "none", double FinalClientAccuracyMin = double.NaN,
    double FinalClientAccuracyMedian = double.NaN, double FinalClientAccuracyMax = double.NaN)
{
    /// <summary>Rounds whose checkpoints the state store keeps (the last, and every state.keep-every-th): what can be resumed or forked.</summary>
    public IReadOnlyList<int> KeptRounds { get; init; } = [];

    /// <summary>Size of the run's state file (client states and checkpoints), with its WAL; null when the state is elsewhere.</summary>
    public long? StateBytes { get; init; }

    /// <summary>Bytes of models and updates the run node sent to clients nodes (0 on one node).</summary>
    public long PayloadBytesSent { get; init; }

    /// <summary>Updates the rule used: those received in rounds that aggregated (and passed their health check), less the ones it flagged.</summary>
    public int UpdatesAggregated { get; init; }

    /// <summary>Rounds that kept the global model because they had nothing the rule could aggregate (no usable update,
    /// or fewer than it needs); <see cref="NotAggregated"/> says why for the last of them.</summary>
    public int RoundsNotAggregated { get; init; }

    /// <summary>"round r: why", for the last round that kept the model; null when every round aggregated.</summary>
    public string? NotAggregated { get; init; }

    /// <summary>What faults did over the run (sums of the rounds' counts).</summary>
    public Core.Faults.FaultCounts FaultTotals { get; init; } = Core.Faults.FaultCounts.Zero;

    /// <summary>Every fault that took effect, as in <c>faults.jsonl</c>.</summary>
    public IReadOnlyList<Core.Faults.Fault> Faults { get; init; } = [];

    /// <summary>How the run was evaluated: the cadence, the protocol and how many clients an evaluation round takes.</summary>
    public EvaluationCadence? Evaluation { get; init; }

    /// <summary>How clients trained when <c>fedactors.device.batch-clients</c> asked for batches: "batched, K clients a
    /// call", or one at a time and why (null: one at a time, as asked).</summary>
    public string? Training { get; init; }

    /// <summary>The share of the batched calls' places that trained a client (<see cref="Core.Training.BatchOccupancy"/>),
    /// over the calls this process ran (a clients node's are its own; a resumed run's since it resumed); null when none ran.</summary>
    public double? BatchedBusyShare { get; init; }

    /// <summary>Why the run ended before <c>rounds</c>: null (it did not), "stopped" (a stop fault), "budget"
    /// (<c>--max-minutes</c>) or "interrupted" (SIGINT/SIGTERM).</summary>
    public string? EndedEarly { get; init; }
}

/// <summary>The run's evaluation: every <paramref name="Every"/> rounds and the last (0: the last only); <paramref name="Protocol"/>
/// "held-out" (the global model on the t10k set), "clients" (the global model on every client's test split) or "personalised"
/// (each evaluated client's own model on its split); <paramref name="Clients"/> evaluated out of <paramref name="Population"/>
/// (a seeded sample drawn afresh each evaluation round when fewer).</summary>
/// <paramref name="LeftOut"/>: clients a personalised evaluation leaves out, the malicious ones (not in <paramref name="Population"/>);
/// <paramref name="Attacked"/>: whether they attack in this run (a baseline with <c>evaluate = benign</c> leaves out the same
/// clients with no attack).
public sealed record EvaluationCadence(int Every, string Protocol, int Clients, int Population, int LeftOut = 0, bool Attacked = true)
{
    public override string ToString() =>
        (Every > 0 ? $"every {Every} round(s) and the last" : "the last round") + ", " + Protocol +
        (Protocol == "held-out" ? "" : (Clients < Population ? $", a seeded {Clients:N0} of {Population:N0}" : $", all {Population:N0}") +
            (LeftOut == 0 ? " clients"
                : Attacked ? $" benign clients ({LeftOut:N0} malicious left out)"
                : $" clients ({LeftOut:N0} an attack would make malicious left out)"));
}

/// <summary>Writes <c>rounds.csv</c> and <c>summary.json</c>, and prints the final table.</summary>
public static class RunReport
{
    private static EvaluationCadence Personalised(Core.Config.ExperimentSettings s)
    {
        int leftOut = Core.Simulation.ClientEvaluation.Excluded(s).Count, eligible = s.Clients.Count - leftOut;
        return new EvaluationCadence(s.Round.EvaluateEvery, "personalised", s.PersonalisationOrNone.EvaluatedOf(eligible), eligible, leftOut,
            s.Attack is { Enabled: true });
    }

    /// <summary>Columns that measure wall-clock time; everything else is reproducible from the seed.</summary>
    public static readonly string[] TimingColumns = ["round_ms", "compute_ms"];

    public static void WriteRoundsCsv(string path, IReadOnlyList<RoundSummary> rounds)
    {
        var sb = new StringBuilder("round,selected,responded,dropped,dropped_out,missed_deadline,timed_out,failed,rejected,accuracy,loss,train_loss,sim_seconds,malicious,flagged,true_positives,false_positives,attack_success,evaluated_clients,client_accuracy_min,client_accuracy_median,client_accuracy_max,fault_dropped,crashed,lost_messages,straggled,node_faults,health,round_ms,compute_ms,not_aggregated\n");
        foreach (var r in rounds)
            sb.AppendLine(string.Join(',', new object[]
            {
                r.Round, r.Selected, r.Responded, r.Dropped, r.DroppedOut, r.MissedDeadline, r.TimedOut, r.Failed, r.Rejected,
                F(r.Accuracy), F(r.Loss), F(r.TrainLoss), F(r.SimSeconds), r.Malicious, r.Flagged, r.TruePositives, r.FalsePositives, F(r.AttackSuccess), r.EvaluatedClients, F(r.ClientAccuracyMin), F(r.ClientAccuracyMedian), F(r.ClientAccuracyMax),
                r.Faults.Dropped, r.Faults.Crashed, r.Faults.LostMessages, r.Faults.Straggled, r.Faults.NodeFaults, Csv(r.Health), r.RoundMs, r.ComputeMs, Csv(r.NotAggregated),
            }.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
        WriteAtomically(path, sb.ToString());
    }

    /// <summary>Writes a temporary file beside <paramref name="path"/> and renames it over: a reader (or a kill midway)
    /// sees the old file or the new one, never half of one.</summary>
    public static void WriteAtomically(string path, string text)
    {
        var tmp = $"{path}.{Environment.ProcessId}.tmp"; // its own: two processes may write the same file (matrix --report)
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>A free-text field in one cell: commas become semicolons, so a plain split on ',' still finds every column.</summary>
    private static string Csv(string? text) => text is null ? "" : text.Replace(',', ';').Replace('\n', ' ');

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    public static RunSummary Summarise(ExperimentSettings s, IReadOnlyList<RoundSummary> rounds, TimeSpan wall, string runDir, Core.Training.ClientBatching? batching = null,
        Core.Training.BatchOccupancy? occupancy = null)
    {
        var evaluated = rounds.Where(r => !double.IsNaN(r.Accuracy)).ToList();
        var best = evaluated.MaxBy(r => r.Accuracy);
        var last = evaluated.LastOrDefault();
        var p = s.Data.Partition;
        string partition = p.Kind switch
        {
            "dirichlet" => $"dirichlet(α={p.Alpha.ToString(CultureInfo.InvariantCulture)})",
            "pathological" => $"pathological({p.ClassesPerClient} labels)",
            _ => p.Kind,
        };
        return new RunSummary(s.Name, s.Seed, rounds.Count, s.Clients.Count, s.Clients.SampledPerRound, s.Model, partition,
            last?.Accuracy ?? double.NaN, best?.Accuracy ?? double.NaN, best?.Round ?? 0, last?.Loss ?? double.NaN,
            rounds.Sum(r => r.Selected), rounds.Sum(r => r.Responded), rounds.Sum(r => r.Dropped), rounds.Sum(r => r.TimedOut),
            rounds.Sum(r => r.Failed), rounds.Sum(r => r.Rejected),
            wall.TotalSeconds, rounds.Count == 0 ? 0 : rounds.Average(r => r.RoundMs), rounds.Sum(r => r.SimSeconds), runDir)
        {
            Attack = s.Attack is { Enabled: true } a ? (a.Pill?.Enabled == true ? $"{a.Kind}+pill" : a.Kind) : "none",
            Defence = s.Rule,
            MaliciousUpdates = rounds.Sum(r => r.Malicious),
            Flagged = rounds.Sum(r => r.Flagged),
            TruePositives = rounds.Sum(r => r.TruePositives),
            FalsePositives = rounds.Sum(r => r.FalsePositives),
            // over the rounds the rule decided: one that kept the model flagged nobody and let nothing through
            FalsePositiveRate = Rate(rounds.Where(r => r.Decided).Sum(r => r.FalsePositives), rounds.Where(r => r.Decided).Sum(r => r.Responded - r.Malicious)),
            FalseNegativeRate = Rate(rounds.Where(r => r.Decided).Sum(r => r.FalseNegatives), rounds.Where(r => r.Decided).Sum(r => r.Malicious)),
            FinalErrorRate = last is null ? double.NaN : 1 - last.Accuracy,
            FinalAttackSuccess = last?.AttackSuccess ?? double.NaN,
            Personalization = s.PersonalisationOrNone.Method,
            Training = batching is { Asked: > 1 }
                ? batching + (occupancy?.Share is { } busy ? string.Create(CultureInfo.InvariantCulture, $", {busy:P0} of their places busy") : "") : null,
            BatchedBusyShare = occupancy?.Share,
            Evaluation = s.PersonalisationOrNone.Enabled
                ? Personalised(s)
                : new EvaluationCadence(s.Round.EvaluateEvery, s.Data.Evaluation, s.Clients.Count, s.Clients.Count),
            FinalClientAccuracyMin = last?.ClientAccuracyMin ?? double.NaN,
            FinalClientAccuracyMedian = last?.ClientAccuracyMedian ?? double.NaN,
            FinalClientAccuracyMax = last?.ClientAccuracyMax ?? double.NaN,
            UpdatesAggregated = rounds.Sum(r => r.Decided && r.Healthy ? r.Responded - r.Flagged : 0), // a discarded round's aggregate was thrown away
            RoundsNotAggregated = rounds.Count(r => r.NotAggregated is not null),
            NotAggregated = rounds.LastOrDefault(r => r.NotAggregated is not null) is { } kept ? $"round {kept.Round}: {kept.NotAggregated}" : null,
            FaultTotals = new Core.Faults.FaultCounts(rounds.Sum(r => r.Faults.Dropped), rounds.Sum(r => r.Faults.Crashed),
                rounds.Sum(r => r.Faults.LostMessages), rounds.Sum(r => r.Faults.Straggled), rounds.Sum(r => r.Faults.NodeFaults)),
        };
    }

    private static double Rate(int part, int whole) => whole == 0 ? double.NaN : (double)part / whole;

    /// <summary>Writes <c>summary.json</c>; a rate or accuracy that is undefined for the run (no attackers, no evaluated
    /// round) is JSON <c>null</c>, never the string "NaN".</summary>
    public static void WriteSummaryJson(string path, RunSummary summary) => WriteAtomically(path, JsonSerializer.Serialize(summary, SummaryJson));

    /// <summary>Reads back what <see cref="WriteSummaryJson"/> wrote (null read as NaN); null when there is none, or the file
    /// is not a summary or cannot be read.</summary>
    public static RunSummary? ReadSummaryJson(string path)
    {
        try { return File.Exists(path) ? JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), SummaryJson) : null; }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException) { return null; }
    }

    private static readonly JsonSerializerOptions SummaryJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new UndefinedAsNull() },
    };

    /// <summary>NaN and ±∞ as JSON null (and null read back as NaN).</summary>
    private sealed class UndefinedAsNull : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }

    public static void PrintSummary(RunSummary s)
    {
        var table = new Table().Title($"[bold]{Markup.Escape(s.Experiment)}[/]").AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        void Row(string k, string v) => table.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("rounds", s.Rounds.ToString(CultureInfo.InvariantCulture) + (s.EndedEarly is { } why ? $" ({why})" : ""));
        Row("clients (per round)", $"{s.Clients} ({s.PerRound})");
        Row("model / partition", $"{s.Model} / {s.Partition}");
        if (s.Personalization != "none") Row("personalization", s.Personalization);
        if (s.Evaluation is { } evaluation) Row("evaluation", evaluation.ToString());
        if (s.Training is { } training) Row("training", training);
        Row("final accuracy", Pct(s.FinalAccuracy));
        Row("best accuracy (round)", $"{Pct(s.BestAccuracy)} ({s.BestRound})");
        if (!double.IsNaN(s.FinalClientAccuracyMedian))
            Row("final, per client min / median / max", $"{Pct(s.FinalClientAccuracyMin)} / {Pct(s.FinalClientAccuracyMedian)} / {Pct(s.FinalClientAccuracyMax)}");
        Row("final loss", s.FinalLoss.ToString("0.0000", CultureInfo.InvariantCulture));
        Row("updates aggregated", $"{s.UpdatesAggregated} of {s.TotalSelected} selected ({s.TotalResponded} received)");
        if (s.RoundsNotAggregated > 0) Row("rounds that kept the model", $"{s.RoundsNotAggregated} of {s.Rounds} (last, {s.NotAggregated})");
        if (s.Attack != "none")
        {
            Row("attack / defence", $"{s.Attack} / {s.Defence}");
            Row("malicious updates / flagged", $"{s.MaliciousUpdates} / {s.Flagged} ({s.TruePositives} malicious, {s.FalsePositives} benign)");
            Row("FPR / FNR", $"{Pct(s.FalsePositiveRate)} / {Pct(s.FalseNegativeRate)}");
            if (!double.IsNaN(s.FinalAttackSuccess)) Row("backdoor success (final)", Pct(s.FinalAttackSuccess));
        }
        Row("dropped (simulated)", s.TotalDropped.ToString(CultureInfo.InvariantCulture));
        Row("timed out / failed / rejected", $"{s.TotalTimedOut} / {s.TotalFailed} / {s.TotalRejected}");
        if (s.Faults.Count > 0)
        {
            var t = s.FaultTotals;
            Row("faults", $"{s.Faults.Count}: {string.Join(", ", s.Faults.GroupBy(f => f.Kind).Select(g => $"{g.Count()} {g.Key}"))}");
            Row("fault-dropped / crashed / lost messages / straggled", $"{t.Dropped} / {t.Crashed} / {t.LostMessages} / {t.Straggled}");
        }
        Row("wall time", $"{s.WallSeconds:0.0} s ({s.MeanRoundMs:0} ms per round)");
        Row("simulated time", $"{s.SimulatedSeconds:0.0} s");
        if (s.KeptRounds.Count > 0)
            Row("checkpoints kept (state file)", $"round {string.Join(", ", s.KeptRounds)}" +
                (s.StateBytes is { } b ? string.Create(CultureInfo.InvariantCulture, $" ({b / 1048576.0:0.0} MB)") : ""));
        Row("run folder", s.RunFolder);
        AnsiConsole.Write(table);
    }

    public static string Pct(double v) => double.IsNaN(v) ? "n/a" : (v * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %";
}
