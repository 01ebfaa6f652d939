using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FedActors.Cli.Output;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors compare &lt;run folder&gt;…</c>: the runs' accuracy per round on one chart (<c>compare.png</c>; per
/// wall-clock minute on <c>compare-time.png</c>) and their headline numbers side by side (<c>compare.md</c>,
/// <c>compare.csv</c>): see <see cref="Markdown"/>; with <c>--baseline</c> also where each run passes one of them and
/// by how much (<see cref="Versus"/>: personalised methods against Local, as PFLlib compares them). Reads each run's
/// <c>rounds.csv</c> (written after every round, so a run still going or stopped early can be compared) and, when
/// there, <c>config.conf</c> for its label and <c>clients.csv</c> for its clients one by one at its last evaluated round
/// (unweighted mean, std, worst tenth in <c>compare.md</c>; sorted on <c>compare-clients.png</c>).
/// </summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("runs") { Description = "Run folders (each holds rounds.csv)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for compare.md, compare.csv and compare.png", DefaultValueFactory = _ => "." };
        var title = new Option<string>("--title") { Description = "Chart title", DefaultValueFactory = _ => "Accuracy per round" };
        var baseline = new Option<string?>("--baseline") { Description = "A run to measure the others against (its label, e.g. local, or its folder): from which round each is above it, and the mean gap over their last 10 shared rounds" };
        var command = new Command("compare", "Chart and tabulate several runs' accuracy per round") { runs, output, title, baseline };
        command.SetAction(parse => Execute(parse.GetValue(runs)!, parse.GetValue(output)!, parse.GetValue(title)!, parse.GetValue(baseline)));
        return command;
    }

    /// <summary>One evaluated round: pooled accuracy, the per-client spread, and the run's wall-clock minutes so far.</summary>
    public sealed record Point(int Round, double Accuracy, double Min, double Median, double Max, double Minutes);

    /// <param name="Rounds">Rounds done (evaluated or not).</param>
    /// <param name="Minutes">Their wall-clock time.</param>
    public sealed record Curve(string Label, string Folder, Point[] Points, int Rounds, double Minutes)
    {
        /// <summary>Its clients' accuracies at its last evaluated round, from <c>clients.csv</c>; null without one.</summary>
        public ClientSpread? Clients { get; init; }

        public Point? Best => Points.Length == 0 ? null : Points.MaxBy(p => p.Accuracy);
        public Point? Final => Points.Length == 0 ? null : Points[^1];

        /// <summary>The accuracy of the last evaluated round at or before <paramref name="round"/>.</summary>
        public double At(int round) => Points.LastOrDefault(p => p.Round <= round)?.Accuracy ?? double.NaN;

        /// <summary>
        /// How fast it still climbs: the least-squares slope of accuracy over the evaluated rounds among the last
        /// <paramref name="window"/>, in accuracy per <paramref name="window"/> rounds; NaN with fewer than 3 of them.
        /// </summary>
        public double Climb(int window = 10)
        {
            if (Final is not { } f) return double.NaN;
            var tail = Points.Where(p => p.Round > f.Round - window).ToArray();
            if (tail.Length < 3) return double.NaN;
            double mx = tail.Average(p => (double)p.Round), my = tail.Average(p => p.Accuracy);
            double sxy = tail.Sum(p => (p.Round - mx) * (p.Accuracy - my)), sxx = tail.Sum(p => (p.Round - mx) * (p.Round - mx));
            return sxy / sxx * window;
        }
    }

    /// <summary>A round's per-client accuracies of the benign clients (those <c>clients.csv</c> marks malicious are left
    /// out, so a FedAvg run that tests every client and a personalised one that tests the benign ones compare alike), sorted.</summary>
    public sealed record ClientSpread(int Round, double[] Accuracies)
    {
        public double Mean => Accuracies.Average();

        /// <summary>Population standard deviation (numpy's default, as PFLlib's "Std Test Accuracy").</summary>
        public double Std
        {
            get
            {
                double mean = Mean;
                return Math.Sqrt(Accuracies.Average(a => (a - mean) * (a - mean)));
            }
        }

        /// <summary>Mean of the lowest tenth of the clients (at least one): how the worst-served clients fare.</summary>
        public double WorstTenth => Accuracies[..Math.Max(1, (int)Math.Ceiling(Accuracies.Length / 10.0))].Average();

        /// <summary>The last round of <c>clients.csv</c> in <paramref name="folder"/> whose rows are all there (as many as
        /// <c>rounds.csv</c>'s <c>evaluated_clients</c> says, when it has one; a run still going may be writing its last
        /// round); null without one or without any benign client's accuracy.</summary>
        public static ClientSpread? Read(string folder)
        {
            var path = Path.Combine(folder, ClientsCsv.FileName);
            if (!File.Exists(path)) return null;
            var evaluated = EvaluatedClients(Path.Combine(folder, "rounds.csv"));
            var last = new SortedDictionary<int, List<(bool Malicious, double Accuracy)>>(); // the two highest rounds seen
            foreach (var (round, f, _) in ClientsCsv.Rows(path))
            {
                if (!last.TryGetValue(round, out var rows))
                {
                    if (last.Count == 2 && round < last.Keys.First()) continue;
                    last[round] = rows = [];
                    if (last.Count > 2) last.Remove(last.Keys.First());
                }
                rows.Add((f[2] == "1", f[5].Length == 0 ? double.NaN : double.Parse(f[5], CultureInfo.InvariantCulture)));
            }
            foreach (var (round, rows) in last.Reverse())
            {
                if (evaluated is not null && (!evaluated.TryGetValue(round, out int n) || n != rows.Count)) continue;
                double[] benign = [.. rows.Where(r => !r.Malicious && !double.IsNaN(r.Accuracy)).Select(r => r.Accuracy).Order()];
                return benign.Length == 0 ? null : new ClientSpread(round, benign);
            }
            return null;
        }

        /// <summary><c>rounds.csv</c>'s <c>evaluated_clients</c> per round; null without the file or the column.</summary>
        private static Dictionary<int, int>? EvaluatedClients(string roundsCsv)
        {
            if (!File.Exists(roundsCsv)) return null;
            using var lines = File.ReadLines(roundsCsv).GetEnumerator();
            if (!lines.MoveNext()) return null;
            var header = lines.Current.Split(',');
            int round = Array.IndexOf(header, "round"), evaluated = Array.IndexOf(header, "evaluated_clients");
            if (round < 0 || evaluated < 0) return null;
            var counts = new Dictionary<int, int>();
            while (lines.MoveNext())
            {
                var f = lines.Current.Split(',');
                if (f.Length > Math.Max(round, evaluated) && int.TryParse(f[round], CultureInfo.InvariantCulture, out int r)
                    && int.TryParse(f[evaluated], CultureInfo.InvariantCulture, out int n))
                    counts[r] = n;
            }
            return counts;
        }
    }

    /// <summary>
    /// A run against a baseline over the rounds both evaluated: the round from which it is above the baseline at every
    /// shared round (null when it is not above at the last shared round), and the mean of its accuracy minus the
    /// baseline's over the last <paramref name="window"/> shared rounds (NaN when none is shared).
    /// </summary>
    public static (int? AboveFrom, double Gap) Versus(Curve run, Curve baseline, int window = 10)
    {
        var theirs = baseline.Points.ToDictionary(p => p.Round, p => p.Accuracy);
        var diffs = run.Points.Where(p => theirs.ContainsKey(p.Round)).Select(p => (p.Round, Diff: p.Accuracy - theirs[p.Round])).ToArray();
        if (diffs.Length == 0) return (null, double.NaN);
        int? from = null;
        for (int i = diffs.Length - 1; i >= 0 && diffs[i].Diff > 0; i--) from = diffs[i].Round;
        return (from, diffs[^Math.Min(window, diffs.Length)..].Average(d => d.Diff));
    }

    public static int Execute(IReadOnlyList<string> folders, string outDir, string title, string? baselineName = null)
    {
        var curves = new List<Curve>();
        foreach (var folder in folders)
        {
            var csv = Path.Combine(folder, "rounds.csv");
            if (!File.Exists(csv))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{folder}: no rounds.csv[/]");
                return ExitCodes.InvalidInput;
            }
            curves.Add(Read(folder, csv));
        }
        curves = Distinct(curves);
        Curve? baseline = null;
        if (baselineName is not null)
        {
            var matches = curves.Where(c => c.Label == baselineName || Same(c.Folder, baselineName)).ToArray();
            if (matches.Length != 1)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]--baseline {baselineName}: {(matches.Length == 0 ? "no" : matches.Length.ToString(CultureInfo.InvariantCulture))} run(s) of the compared ones match it (labels: {string.Join(", ", curves.Select(c => c.Label))})[/]");
                return ExitCodes.InvalidInput;
            }
            baseline = matches[0];
        }
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "compare.md"), Markdown(curves, title, baseline));
        File.WriteAllText(Path.Combine(outDir, "compare.csv"), Csv(curves));
        Chart(Path.Combine(outDir, "compare.png"), curves, title, byTime: false);
        Chart(Path.Combine(outDir, "compare-time.png"), curves, title, byTime: true);
        Chart(Path.Combine(outDir, "compare-top.png"), curves, $"{title}: the top {TopSpan:0.#} points", byTime: false, TopLimits(curves));
        if (curves.Any(c => c.Clients is not null)) ClientsChart(Path.Combine(outDir, "compare-clients.png"), curves, title);
        Console.Write(Markdown(curves, title, baseline));
        return ExitCodes.Ok;
    }

    private static bool Same(string a, string b) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(b));

    /// <summary>Runs of the same method (two GPFL runs with other settings) get beside it what tells their folders apart,
    /// so the table, the chart's legend and <c>--baseline</c> can: the parent folder's name
    /// (<c>pfl/gpfl/run-1</c>, <c>pfl-gpfl-pfllib/run-2</c>), else the run folder's own (two runs side by side in
    /// <c>runs/</c>), else both.</summary>
    public static List<Curve> Distinct(IReadOnlyList<Curve> curves)
    {
        static string Own(Curve c) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(c.Folder)));
        static string Parent(Curve c) => Path.GetFileName(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(c.Folder)))) ?? "";
        Func<Curve, string>[] levels = [Parent, Own, c => $"{Parent(c)}/{Own(c)}"];
        return [.. curves.Select(c =>
        {
            var same = curves.Where(o => o.Label == c.Label).ToArray();
            if (same.Length == 1) return c;
            var tell = levels.FirstOrDefault(l => same.Select(l).Distinct().Count() == same.Length) ?? levels[^1];
            return c with { Label = $"{c.Label} ({tell(c)})" };
        })];
    }

    public static Curve Read(string folder, string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        int round = Col("round"), acc = Col("accuracy"), min = Col("client_accuracy_min"), med = Col("client_accuracy_median"),
            max = Col("client_accuracy_max"), ms = Col("round_ms");
        double D(string[] f, int i) => i < 0 || f[i].Length == 0 ? double.NaN : double.Parse(f[i], CultureInfo.InvariantCulture);
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToArray();
        var points = new List<Point>();
        double minutes = 0;
        foreach (var f in rows)
        {
            minutes += (ms < 0 ? 0 : D(f, ms)) / 60_000;
            if (!double.IsNaN(D(f, acc)))
                points.Add(new Point(int.Parse(f[round], CultureInfo.InvariantCulture), D(f, acc), D(f, min), D(f, med), D(f, max), minutes));
        }
        return new Curve(Label(folder), folder, points.ToArray(), rows.Length, minutes) { Clients = ClientSpread.Read(folder) };
    }

    /// <summary>The run's personalisation method (fedavg for none) from its config.conf or summary.json (runs made before
    /// config.conf existed), else its folder's name.</summary>
    private static string Label(string folder)
    {
        string? method = null;
        string config = Path.Combine(folder, "config.conf"), summary = Path.Combine(folder, "summary.json");
        if (File.Exists(config))
            method = Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(config)).GetString("fedactors.personalization.method", "none");
        else if (File.Exists(summary))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(summary));
            if (doc.RootElement.TryGetProperty("personalization", out var p)) method = p.GetString();
        }
        return method switch { null => Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), "none" => "fedavg", _ => method };
    }

    private static string Pct(double v) => RunReport.Pct(v);

    /// <summary>Points with their sign, two decimals; a value that rounds to zero is +0.00 (a custom format's negative
    /// section would print a −1e-17 as "-+0.00").</summary>
    private static string Signed(double v)
    {
        double r = Math.Round(v, 2);
        return (r == 0 ? 0 : r).ToString("+0.00;-0.00", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// One row per run: rounds and minutes done, best accuracy (the PFLlib number) and its round, the accuracy at the
    /// last round every run reached (a like-for-like column), the final accuracy and per-client spread, the climb over
    /// the last 10 rounds, and seconds per round; with a <paramref name="baseline"/>, two more columns from
    /// <see cref="Versus"/>: above it from which round, and the mean gap over the last 10 shared rounds in points.
    /// </summary>
    public static string Markdown(IReadOnlyList<Curve> curves, string title, Curve? baseline = null)
    {
        int common = curves.Count == 0 ? 0 : curves.Min(c => c.Final?.Round ?? 0);
        string extraHeader = baseline is null ? "" : $" above {baseline.Label} from round | gap to {baseline.Label}, pt (last 10 shared rounds) |";
        var sb = new StringBuilder($"# {title}\n\n| run | rounds | minutes | best accuracy (round) | at round {common} | final accuracy | final per-client min / median / max | climb, pt per 10 rounds (last 10) | s per round |{extraHeader}\n|---|---|---|---|---|---|---|---|---|{(baseline is null ? "" : "---|---|")}\n");
        foreach (var c in curves)
        {
            string extra = "";
            if (baseline is not null)
            {
                var (from, gap) = ReferenceEquals(c, baseline) ? (null, double.NaN) : Versus(c, baseline);
                extra = ReferenceEquals(c, baseline) ? " – | – |" : string.Create(CultureInfo.InvariantCulture,
                    $" {(from is { } r ? r.ToString(CultureInfo.InvariantCulture) : "not yet")} | {(double.IsNaN(gap) ? "n/a" : Signed(gap * 100))} |");
            }
            if (c.Final is not { } f || c.Best is not { } b) { sb.AppendLine($"| {c.Label} | {c.Rounds} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |{extra}"); continue; }
            double climb = c.Climb() * 100;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c.Label} | {c.Rounds} | {c.Minutes:0.0} | {Pct(b.Accuracy)} ({b.Round}) | {Pct(c.At(common))} | {Pct(f.Accuracy)} | {Pct(f.Min)} / {Pct(f.Median)} / {Pct(f.Max)} | {(double.IsNaN(climb) ? "n/a" : Signed(climb))} | {c.Minutes * 60 / c.Rounds:0.0} |{extra}"));
        }
        if (curves.Any(c => c.Clients is not null))
        {
            // the clients one by one (clients.csv), unweighted: the pooled accuracy above weighs clients by their test samples
            sb.Append("\n| run | clients at round | benign clients | mean per client | std | worst 10 % (mean) |\n|---|---|---|---|---|---|\n");
            foreach (var c in curves.Where(c => c.Clients is not null))
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {c.Label} | {c.Clients!.Round} | {c.Clients.Accuracies.Length} | {Pct(c.Clients.Mean)} | {c.Clients.Std * 100:0.00} pt | {Pct(c.Clients.WorstTenth)} |"));
        }
        return sb.ToString();
    }

    private static string Csv(IReadOnlyList<Curve> curves)
    {
        var sb = new StringBuilder("run,round,accuracy,client_accuracy_min,client_accuracy_median,client_accuracy_max,minutes\n");
        foreach (var c in curves)
            foreach (var p in c.Points)
                sb.AppendLine(string.Join(',', new object[] { c.Label, p.Round, p.Accuracy, p.Min, p.Median, p.Max, p.Minutes }
                    .Select(v => v is double d ? (double.IsNaN(d) ? "" : d.ToString("R", CultureInfo.InvariantCulture)) : Convert.ToString(v, CultureInfo.InvariantCulture))));
        return sb.ToString();
    }

    /// <summary>How many accuracy points <c>compare-top.png</c> shows under the best run's final accuracy.</summary>
    public const double TopSpan = 3.0;

    /// <summary>
    /// The y range (in %) of <c>compare-top.png</c>: from <see cref="TopSpan"/> points under the highest final accuracy
    /// to half a point over the highest accuracy any run reached, where methods that plateau a few tenths apart (the
    /// personalised ones against Local) can be told apart; runs lower than that leave the view. Null without points.
    /// </summary>
    public static (double Low, double High)? TopLimits(IReadOnlyList<Curve> curves)
    {
        var finals = curves.Where(c => c.Final is not null).ToArray();
        if (finals.Length == 0) return null;
        return (finals.Max(c => c.Final!.Accuracy) * 100 - TopSpan, finals.Max(c => c.Best!.Accuracy) * 100 + 0.5);
    }

    /// <summary><c>compare-clients.png</c>: each run's per-client accuracies at its last evaluated round, sorted, over the
    /// share of its clients (so runs with other numbers of clients line up): the curve's left end is its worst-served clients.</summary>
    private static void ClientsChart(string path, IReadOnlyList<Curve> curves, string title)
    {
        var plot = new ScottPlot.Plot();
        foreach (var c in curves.Where(c => c.Clients is not null))
        {
            var a = c.Clients!.Accuracies;
            var s = plot.Add.Scatter(Enumerable.Range(0, a.Length).Select(i => (i + 0.5) * 100 / a.Length).ToArray(), a.Select(v => v * 100).ToArray());
            s.LegendText = $"{c.Label} (round {c.Clients.Round})";
        }
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.Title($"{title}: each client's accuracy, sorted");
        plot.XLabel("clients, % (worst first)");
        plot.YLabel("test accuracy (%)");
        plot.SavePng(path, 1000, 560);
    }

    /// <param name="byTime">Wall-clock minutes on the x axis instead of rounds (methods differ in cost per round).</param>
    /// <param name="yLimits">A fixed accuracy range in %, or the whole range of the points.</param>
    private static void Chart(string path, IReadOnlyList<Curve> curves, string title, bool byTime, (double Low, double High)? yLimits = null)
    {
        var plot = new ScottPlot.Plot();
        foreach (var c in curves)
        {
            var s = plot.Add.Scatter(c.Points.Select(p => byTime ? p.Minutes : p.Round).ToArray(), c.Points.Select(p => p.Accuracy * 100).ToArray());
            s.LegendText = c.Label;
            s.MarkerSize = 0;
        }
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.Title(title);
        plot.XLabel(byTime ? "wall-clock minutes" : "round");
        plot.YLabel("test accuracy (%)");
        if (yLimits is { } y) plot.Axes.SetLimitsY(y.Low, y.High);
        plot.SavePng(path, 1000, 560);
    }
}
