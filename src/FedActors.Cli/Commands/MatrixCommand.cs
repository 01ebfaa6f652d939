using System.CommandLine;
using System.Globalization;
using System.Text;
using FedActors.Cli.Output;
using FedActors.Core.Data;
using FedActors.Core.Simulation;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Settings;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors matrix</c>: an attacks × defences (× pill × seeds) grid in one process, the dataset loaded once.
/// Each cell is a full run of the actor simulation; the grid is summarised in <c>matrix.md</c>, <c>matrix.csv</c> and a
/// heatmap of the final error rate.
/// </summary>
public static class MatrixCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "HOCON experiment file" };
        var attacks = new Option<string>("--attacks") { Description = "Comma-separated attack names (none for no attack)", Required = true };
        var defences = new Option<string>("--defences") { Description = "Comma-separated aggregation rules", Required = true };
        var pill = new Option<string>("--pill") { Description = "off, on or off,on", DefaultValueFactory = _ => "off" };
        var seeds = new Option<string?>("--seeds") { Description = "Comma-separated seeds (default: the config's fedactors.seed)" };
        var set = new Option<string[]>("--set") { Description = "Override a key for every cell (repeatable)" };
        var output = new Option<string>("--out") { Description = "Folder under which the matrix folder is made", DefaultValueFactory = _ => "runs" };
        var command = new Command("matrix", "Run an attacks × defences grid and write matrix.md, matrix.csv and a heatmap")
            { config, attacks, defences, pill, seeds, set, output };
        command.SetAction((parse, cancel) => ExecuteAsync(parse.GetValue(config)!, Split(parse.GetValue(attacks)!), Split(parse.GetValue(defences)!),
            Split(parse.GetValue(pill)!), parse.GetValue(seeds) is { } s ? Split(s) : [], parse.GetValue(set) ?? [], parse.GetValue(output)!, cancel));
        return command;
    }

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private sealed record Cell(string Attack, string Defence, string Pill, long Seed, RunSummary Summary);

    public static async Task<int> ExecuteAsync(string configPath, string[] attacks, string[] defences, string[] pills, string[] seedList,
        IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel)
    {
        // Validate every cell's configuration before any work, so a bad name stops the grid up front.
        var plans = new List<(string Attack, string Defence, string Pill, long Seed, Akka.Configuration.Config Config, Core.Config.ExperimentSettings Settings)>();
        try
        {
            foreach (var p in pills)
                if (p is not ("off" or "on"))
                    throw new ConfigurationError("--pill", p, "off, on or off,on");
            var seeds = seedList.Length == 0 ? [null] : seedList.Select(s => (string?)s).ToArray();
            foreach (var a in attacks)
                foreach (var d in defences)
                    // no attack has no pill: its one row (pill off) is the baseline of every pill row's increase over none
                    foreach (var p in a == "none" ? ["off"] : pills)
                        foreach (var seed in seeds)
                        {
                            var cellOverrides = overrides.Concat([$"fedactors.attack.kind={a}", $"fedactors.defence.rule={d}", $"fedactors.attack.pill.enabled={p}"]);
                            if (seed is not null) cellOverrides = cellOverrides.Append($"fedactors.seed={seed}");
                            var config = FedActorsSettings.Load(configPath, cellOverrides);
                            var settings = FedActorsSettings.Read(config);
                            plans.Add((a, d, p, settings.Seed, config, settings));
                        }
        }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        string dir;
        try { dir = RunFolder.Create(outRoot, $"matrix-{plans[0].Settings.Name}"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        var cells = new List<Cell>();
        var failures = new List<string>();
        var failed = new List<(string Attack, string Defence, string Pill)>();
        Dataset? data = null;
        Core.Config.DataSettings? loadedFor = null;
        bool interrupted = false;
        try
        {
            foreach (var (a, d, p, seed, config, settings) in plans)
            {
                var cellDir = Path.Combine(dir, $"{a}-{d}-pill-{p}-seed-{seed}");
                Directory.CreateDirectory(cellDir);
                AnsiConsole.MarkupLineInterpolated($"[bold]{a}[/] × [bold]{d}[/] (pill {p}, seed {seed})");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var rounds = new List<RoundSummary>();
                // each cell keeps its own events, as a run does
                using var logger = RunLogging.Create(MonitoringSettings.Read(config).TargetsFor(cellDir) with { ConsoleLevel = null, SeqBufferPath = null },
                    settings.Name, Path.GetFileName(cellDir));
                // Akka's own warnings reach the cell's sinks through Akka.Logger.Serilog, as in a run
                Serilog.Log.Logger = logger;
                try
                {
                    var dataKey = settings.Data with { Partition = loadedFor?.Partition ?? settings.Data.Partition };
                    if (data is null || loadedFor != dataKey || settings.Data.Dataset == "synthetic")
                    {
                        data?.Dispose();
                        data = null;
                        data = Experiment.LoadData(settings);
                        loadedFor = settings.Data;
                    }
                    using var experiment = Experiment.Load(settings, data, ownsData: false);
                    await SimulationRunner.RunAsync(experiment, config, new RunEvents(logger), r =>
                    {
                        rounds.Add(r);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {r.Round}: accuracy {RunReport.Pct(r.Accuracy)}, flagged {r.Flagged} ({r.TruePositives} malicious)"));
                    }, cancel: cancel);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    interrupted = true;
                    RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                    AnsiConsole.MarkupLine("[yellow]interrupted: the matrix of the cells finished so far is written[/]");
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // one failed cell (a health check, data it cannot load, a bug) does not throw away the others: reported, marked
                    var why = e is Runtime.Actors.RunAbortedException ? e.Message : $"{e.GetType().Name}: {e.GetBaseException().Message}";
                    if (e is not Runtime.Actors.RunAbortedException) logger.Error(e, "Cell failed");
                    AnsiConsole.MarkupLineInterpolated($"  [red]cell failed:[/] {why}");
                    RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                    await File.WriteAllTextAsync(Path.Combine(cellDir, "failed.txt"), why + "\n", CancellationToken.None);
                    failures.Add($"{a} × {d} (pill {p}, seed {seed}): {why}");
                    failed.Add((a, d, p));
                    continue;
                }
                finally { Serilog.Log.Logger = Serilog.Core.Logger.None; }
                RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                var summary = RunReport.Summarise(settings, rounds, clock.Elapsed, cellDir);
                RunReport.WriteSummaryJson(Path.Combine(cellDir, "summary.json"), summary);
                cells.Add(new Cell(a, d, p, seed, summary));
            }
        }
        finally { data?.Dispose(); }

        var table = Summarise(cells, failed);
        await File.WriteAllTextAsync(Path.Combine(dir, "matrix.csv"), Csv(table), CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(dir, "matrix.md"), Markdown(table, plans[0].Settings), CancellationToken.None);
        Heatmap(Path.Combine(dir, "heatmap.png"), table, attacks, defences, pills);
        Print(table);
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        if (interrupted) return ExitCodes.Interrupted;
        if (failures.Count == 0) return ExitCodes.Ok;
        await File.WriteAllLinesAsync(Path.Combine(dir, "failed.txt"), failures, CancellationToken.None);
        foreach (var f in failures) AnsiConsole.MarkupLineInterpolated($"[red]failed cell:[/] {f}");
        return ExitCodes.Failed;
    }

    /// <param name="FailedSeeds">Seeds of this cell that failed (left out of the statistics).</param>
    /// <param name="Increase">The attack's effect as the papers measure it: final error rate minus the <c>none</c> row's
    /// under the same defence, per seed (seeds both rows ran), then mean ± std; NaN without a <c>none</c> row.</param>
    private sealed record Row(string Attack, string Defence, string Pill, int Seeds, Stat Final, Stat Best, Stat Error, Stat Fpr, Stat Fnr, int FailedSeeds = 0)
    {
        public Stat Increase { get; init; } = new(double.NaN, double.NaN);
    }

    private sealed record Stat(double Mean, double Std)
    {
        public static Stat Of(IEnumerable<double> xs)
        {
            var v = xs.Where(x => !double.IsNaN(x)).ToArray();
            if (v.Length == 0) return new Stat(double.NaN, double.NaN);
            double m = v.Average();
            return new Stat(m, v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)) : 0);
        }

        public string Pct() => double.IsNaN(Mean) ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{Mean * 100:0.00} ± {Std * 100:0.00}");
    }

    private static List<Row> Summarise(List<Cell> cells, List<(string Attack, string Defence, string Pill)> failed)
    {
        var rows = cells.GroupBy(c => (c.Attack, c.Defence, c.Pill)).Select(g => new Row(g.Key.Attack, g.Key.Defence, g.Key.Pill, g.Count(),
            Stat.Of(g.Select(c => c.Summary.FinalAccuracy)), Stat.Of(g.Select(c => c.Summary.BestAccuracy)),
            Stat.Of(g.Select(c => c.Summary.FinalErrorRate)), Stat.Of(g.Select(c => c.Summary.FalsePositiveRate)),
            Stat.Of(g.Select(c => c.Summary.FalseNegativeRate)), failed.Count(f => f == g.Key))).ToList();
        // the increase of error over the no-attack run of the same defence and seed (Pill paper, FLPoison)
        var baseline = cells.Where(c => c.Attack == "none").GroupBy(c => (c.Defence, c.Seed)).ToDictionary(g => g.Key, g => g.First().Summary.FinalErrorRate);
        rows = rows.Select(r => r.Attack == "none" ? r : r with
        {
            Increase = Stat.Of(cells.Where(c => (c.Attack, c.Defence, c.Pill) == (r.Attack, r.Defence, r.Pill) && baseline.ContainsKey((c.Defence, c.Seed)))
                .Select(c => c.Summary.FinalErrorRate - baseline[(c.Defence, c.Seed)])),
        }).ToList();
        // a cell whose every seed failed still has its row, marked, so the grid shows the hole
        var nan = new Stat(double.NaN, double.NaN);
        foreach (var key in failed.Distinct().Where(k => !rows.Any(r => (r.Attack, r.Defence, r.Pill) == k)))
            rows.Add(new Row(key.Attack, key.Defence, key.Pill, 0, nan, nan, nan, nan, nan, failed.Count(f => f == key)));
        return rows;
    }

    private static string Csv(List<Row> rows)
    {
        var sb = new StringBuilder("attack,defence,pill,seeds,final_accuracy_mean,final_accuracy_std,best_accuracy_mean,best_accuracy_std,error_rate_mean,error_rate_std,fpr_mean,fpr_std,fnr_mean,fnr_std,failed_seeds,error_increase_mean,error_increase_std\n");
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var r in rows)
            sb.AppendLine(string.Join(',', r.Attack, r.Defence, r.Pill, r.Seeds, F(r.Final.Mean), F(r.Final.Std), F(r.Best.Mean), F(r.Best.Std),
                F(r.Error.Mean), F(r.Error.Std), F(r.Fpr.Mean), F(r.Fpr.Std), F(r.Fnr.Mean), F(r.Fnr.Std), r.FailedSeeds, F(r.Increase.Mean), F(r.Increase.Std)));
        return sb.ToString();
    }

    private static string Markdown(List<Row> rows, Core.Config.ExperimentSettings s)
    {
        var sb = new StringBuilder($"# matrix: {s.Name}\n\n{s.Rounds} rounds, {s.Clients.Count} clients ({s.Clients.SampledPerRound} per round), model {s.Model}, partition {s.Data.Partition.Kind}; values in %, mean ± std over seeds.\n\n");
        sb.AppendLine("| attack | defence | pill | seeds | final accuracy | best accuracy | error rate | error increase over none | FPR | FNR |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Attack} | {r.Defence} | {r.Pill} | {r.Seeds} | {r.Final.Pct()} | {r.Best.Pct()} | {r.Error.Pct()} | {r.Increase.Pct()} | {r.Fpr.Pct()} | {r.Fnr.Pct()} |");
        return sb.ToString();
    }

    private static void Print(List<Row> rows)
    {
        var t = new Table().AddColumns("attack", "defence", "pill", "final acc %", "error %", "increase %", "FPR %", "FNR %");
        foreach (var r in rows) t.AddRow(r.Attack, r.Defence, r.Pill, r.Final.Pct(), r.Error.Pct(), r.Increase.Pct(), r.Fpr.Pct(), r.Fnr.Pct());
        AnsiConsole.Write(t);
    }

    private static void Heatmap(string path, List<Row> rows, string[] attacks, string[] defences, string[] pills)
    {
        var values = new double[attacks.Length * pills.Length, defences.Length];
        for (int a = 0; a < attacks.Length; a++)
            for (int p = 0; p < pills.Length; p++)
                for (int d = 0; d < defences.Length; d++)
                    values[a * pills.Length + p, d] = (rows.SingleOrDefault(r => r.Attack == attacks[a] && r.Pill == pills[p] && r.Defence == defences[d])?.Error.Mean ?? double.NaN) * 100; // NaN: every seed failed
        var plot = new ScottPlot.Plot();
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map).Label = "final error rate (%)";
        for (int y = 0; y < values.GetLength(0); y++)
            for (int x = 0; x < defences.Length; x++)
            {
                var label = plot.Add.Text(values[y, x].ToString("0.0", CultureInfo.InvariantCulture), x, values.GetLength(0) - 1 - y);
                label.LabelFontColor = ScottPlot.Colors.White;
                label.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, defences.Length).Select(i => (double)i).ToArray(), defences);
        var yLabels = attacks.SelectMany(a => pills.Select(p => pills.Length > 1 ? $"{a} (pill {p})" : a)).Reverse().ToArray();
        plot.Axes.Left.SetTicks(Enumerable.Range(0, yLabels.Length).Select(i => (double)i).ToArray(), yLabels);
        plot.Title("Final error rate: attacks × defences");
        plot.SavePng(path, 200 + 140 * defences.Length, 150 + 60 * yLabels.Length);
    }
}
