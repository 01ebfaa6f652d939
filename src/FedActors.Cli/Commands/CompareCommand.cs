using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FedActors.Cli.Output;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors compare &lt;run folder&gt;…</c>: the runs' accuracy per round on one chart (<c>compare.png</c>) and their
/// headline numbers side by side (<c>compare.md</c>, <c>compare.csv</c>): rounds done, best accuracy and its round (the
/// PFLlib number), final accuracy, the final per-client spread, and seconds per round. Reads each run's
/// <c>rounds.csv</c> (written after every round, so a run still going or stopped early can be compared) and, when
/// there, <c>summary.json</c> for its label.
/// </summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("runs") { Description = "Run folders (each holds rounds.csv)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for compare.md, compare.csv and compare.png", DefaultValueFactory = _ => "." };
        var title = new Option<string>("--title") { Description = "Chart title", DefaultValueFactory = _ => "Accuracy per round" };
        var command = new Command("compare", "Chart and tabulate several runs' accuracy per round") { runs, output, title };
        command.SetAction(parse => Execute(parse.GetValue(runs)!, parse.GetValue(output)!, parse.GetValue(title)!));
        return command;
    }

    public sealed record Curve(string Label, string Folder, (int Round, double Accuracy, double Min, double Median, double Max, long Ms)[] Points)
    {
        public (int Round, double Accuracy, double Min, double Median, double Max, long Ms)? Best =>
            Points.Length == 0 ? null : Points.MaxBy(p => p.Accuracy);
        public (int Round, double Accuracy, double Min, double Median, double Max, long Ms)? Final => Points.Length == 0 ? null : Points[^1];
    }

    public static int Execute(IReadOnlyList<string> folders, string outDir, string title)
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
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "compare.md"), Markdown(curves, title));
        File.WriteAllText(Path.Combine(outDir, "compare.csv"), Csv(curves));
        Chart(Path.Combine(outDir, "compare.png"), curves, title);
        Console.Write(Markdown(curves, title));
        return ExitCodes.Ok;
    }

    public static Curve Read(string folder, string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        int round = Col("round"), acc = Col("accuracy"), min = Col("client_accuracy_min"), med = Col("client_accuracy_median"),
            max = Col("client_accuracy_max"), ms = Col("round_ms");
        double D(string[] f, int i) => i < 0 || f[i].Length == 0 ? double.NaN : double.Parse(f[i], CultureInfo.InvariantCulture);
        var points = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(','))
            .Where(f => !double.IsNaN(D(f, acc)))
            .Select(f => (int.Parse(f[round], CultureInfo.InvariantCulture), D(f, acc), D(f, min), D(f, med), D(f, max),
                ms < 0 ? 0L : long.Parse(f[ms], CultureInfo.InvariantCulture)))
            .ToArray();
        return new Curve(Label(folder), folder, points);
    }

    /// <summary>The run's personalisation method from summary.json, else the folder's name.</summary>
    private static string Label(string folder)
    {
        var summary = Path.Combine(folder, "summary.json");
        if (File.Exists(summary))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(summary));
            if (doc.RootElement.TryGetProperty("personalization", out var p) && p.GetString() is { } method)
                return method == "none" ? "fedavg" : method;
        }
        return Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
    }

    private static string Pct(double v) => RunReport.Pct(v);

    public static string Markdown(IReadOnlyList<Curve> curves, string title)
    {
        var sb = new StringBuilder($"# {title}\n\n| run | rounds | best accuracy (round) | final accuracy | final per-client min / median / max | s per round |\n|---|---|---|---|---|---|\n");
        foreach (var c in curves)
        {
            if (c.Final is not { } f || c.Best is not { } b) { sb.AppendLine($"| {c.Label} | 0 | n/a | n/a | n/a | n/a |"); continue; }
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c.Label} | {f.Round} | {Pct(b.Accuracy)} ({b.Round}) | {Pct(f.Accuracy)} | {Pct(f.Min)} / {Pct(f.Median)} / {Pct(f.Max)} | {c.Points.Average(p => p.Ms) / 1000:0.0} |"));
        }
        return sb.ToString();
    }

    private static string Csv(IReadOnlyList<Curve> curves)
    {
        var sb = new StringBuilder("run,round,accuracy,client_accuracy_min,client_accuracy_median,client_accuracy_max\n");
        foreach (var c in curves)
            foreach (var p in c.Points)
                sb.AppendLine(string.Join(',', new object[] { c.Label, p.Round, p.Accuracy, p.Min, p.Median, p.Max }
                    .Select(v => v is double d ? (double.IsNaN(d) ? "" : d.ToString("R", CultureInfo.InvariantCulture)) : Convert.ToString(v, CultureInfo.InvariantCulture))));
        return sb.ToString();
    }

    private static void Chart(string path, IReadOnlyList<Curve> curves, string title)
    {
        var plot = new ScottPlot.Plot();
        foreach (var c in curves)
        {
            var s = plot.Add.Scatter(c.Points.Select(p => (double)p.Round).ToArray(), c.Points.Select(p => p.Accuracy * 100).ToArray());
            s.LegendText = c.Label;
            s.MarkerSize = 0;
        }
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.Title(title);
        plot.XLabel("round");
        plot.YLabel("test accuracy (%)");
        plot.SavePng(path, 1000, 560);
    }
}
