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
        var config = new Argument<string?>("config") { Description = "HOCON experiment file (not with --resume)", Arity = ArgumentArity.ZeroOrOne };
        var attacks = new Option<string?>("--attacks") { Description = "Comma-separated attack names (none for no attack)" };
        var defences = new Option<string?>("--defences") { Description = "Comma-separated aggregation rules" };
        var pill = new Option<string?>("--pill") { Description = "off, on or off,on (default off)" };
        var seeds = new Option<string?>("--seeds") { Description = "Comma-separated seeds (default: the config's fedactors.seed)" };
        var set = new Option<string[]>("--set") { Description = "Override a key for every cell (repeatable)" };
        var output = new Option<string>("--out") { Description = "Folder under which the matrix folder is made", DefaultValueFactory = _ => "runs" };
        var budget = new Option<double>("--max-minutes")
        {
            Description = "Wall-clock budget: when it is used the grid stops after the current round, writes what is finished, and `matrix --resume` continues it",
        };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue a matrix folder: finished cells are kept, an unfinished cell resumes after its last committed round, the rest run",
        };
        var report = new Option<bool>("--report")
        {
            Description = "With --resume: write the tables of the cells finished so far and run nothing (a grid still running elsewhere is only read)",
        };
        var command = new Command("matrix", "Run an attacks × defences grid and write matrix.md, matrix.csv and a heatmap")
            { config, attacks, defences, pill, seeds, set, output, budget, resume, report };
        command.SetAction((parse, cancel) =>
        {
            double minutes = parse.GetValue(budget);
            if (minutes < 0 || double.IsNaN(minutes) || double.IsInfinity(minutes))
                return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--max-minutes", minutes.ToString(CultureInfo.InvariantCulture), "a number of minutes ≥ 0 (0: no budget)")));
            var span = minutes > 0 ? TimeSpan.FromMinutes(minutes) : TimeSpan.Zero;
            if (parse.GetValue(resume) is { } folder)
            {
                // the folder's own plan and cell configurations: nothing about the grid may change between its pieces
                if (parse.GetValue(config) is not null || parse.GetValue(attacks) is not null || parse.GetValue(defences) is not null
                    || parse.GetValue(pill) is not null || parse.GetValue(seeds) is not null || parse.GetValue(set) is { Length: > 0 })
                    return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--resume", folder,
                        "no config file, --attacks, --defences, --pill, --seeds or --set: a resumed matrix runs its own plan (matrix.json)")));
                return ResumeAsync(folder, span, cancel, reportOnly: parse.GetValue(report));
            }
            if (parse.GetValue(report))
                return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--report", "on", "--resume <matrix folder> with it: it reports a grid's finished cells")));
            if (parse.GetValue(config) is not { } file || parse.GetValue(attacks) is not { } a || parse.GetValue(defences) is not { } d)
                return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("matrix", string.Join(' ', parse.Tokens.Select(t => t.Value)),
                    "a config file with --attacks and --defences, or --resume <matrix folder>")));
            return ExecuteAsync(file, Split(a), Split(d), Split(parse.GetValue(pill) ?? "off"), parse.GetValue(seeds) is { } s ? Split(s) : [],
                parse.GetValue(set) ?? [], parse.GetValue(output)!, cancel, span);
        });
        return command;
    }

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <param name="Detection">The cell's rounds' detection counts (from its rounds.csv).</param>
    private sealed record Cell(string Attack, string Defence, string Pill, long Seed, RunSummary Summary, string Folder, IReadOnlyList<DetectionRound> Detection)
    {
        /// <summary>What the rule measured each round (<c>DefenceMeasured</c>), read from the cell's events.</summary>
        public IReadOnlyDictionary<int, IReadOnlyDictionary<string, double>> Measured { get; init; } = new Dictionary<int, IReadOnlyDictionary<string, double>>();

        /// <summary>What the Pill did (<c>PillCrafted</c>); null without a pill.</summary>
        public PillCrafting? Crafted { get; init; }

        /// <summary>Its benign clients one by one at its last evaluated round (<c>clients.csv</c>); null without them.</summary>
        public CompareCommand.ClientSpread? Clients { get; init; }

        public static Cell Read(string a, string d, string p, long seed, RunSummary summary, string folder, string cellDir) =>
            new(a, d, p, seed, summary, folder, DetectionReport.Read(Path.Combine(cellDir, "rounds.csv")))
            {
                Measured = DetectionReport.Measured(Path.Combine(cellDir, "events.clef")),
                Crafted = p == "on" ? DetectionReport.Crafted(Path.Combine(cellDir, "events.clef")) : null,
                Clients = CompareCommand.ClientSpread.Read(cellDir),
            };
    }

    /// <summary>One cell of the grid: its coordinates and its folder (under the matrix folder), which holds its
    /// <c>config.conf</c> from the start.</summary>
    public sealed record PlannedCell(string Attack, string Defence, string Pill, long Seed, string Folder);

    /// <summary>The grid as <c>matrix.json</c> keeps it: the axes (for the tables and the heatmap) and every cell in order.</summary>
    public sealed record MatrixPlan(string[] Attacks, string[] Defences, string[] Pills, IReadOnlyList<PlannedCell> Cells);

    private static readonly System.Text.Json.JsonSerializerOptions PlanJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
    };

    public static async Task<int> ExecuteAsync(string configPath, string[] attacks, string[] defences, string[] pills, string[] seedList,
        IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel, TimeSpan budget = default)
    {
        // Validate every cell's configuration before any work, so a bad name stops the grid up front.
        var plans = new List<(PlannedCell Cell, Akka.Configuration.Config Config, Core.Config.ExperimentSettings Settings)>();
        try
        {
            foreach (var p in pills)
                if (p is not ("off" or "on"))
                    throw new ConfigurationError("--pill", p, "off, on or off,on");
            var seeds = seedList.Length == 0 ? [null] : seedList.Select(s => (string?)s).ToArray();
            // a personalised grid with attacks evaluates the same clients in every cell (the benign ones), so the none row is
            // the baseline of the attack rows' increase; evaluate = benign or all, set by the user, stands
            var grid = FedActorsSettings.Load(configPath, overrides);
            if (attacks.Any(x => x != "none") && grid.GetString("fedactors.personalization.method") != "none"
                && grid.GetString("fedactors.personalization.evaluate") == Core.Config.PersonalisationSettings.EvaluateAuto)
                overrides = [.. overrides, $"fedactors.personalization.evaluate={Core.Config.PersonalisationSettings.EvaluateBenign}"];
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
                            Runtime.State.StateStores.Validate(config);
                            if (config.GetString("fedactors.state.store") == "sqlite" && config.GetString("fedactors.state.path") is { Length: > 0 } shared)
                                throw new ConfigurationError("fedactors.state.path", $"\"{shared}\"", "\"\" in a matrix: each cell keeps its state in its own folder");
                            plans.Add((new PlannedCell(a, d, p, settings.Seed, $"{a}-{d}-pill-{p}-seed-{settings.Seed}"), config, settings));
                        }
        }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        string dir;
        try { dir = RunFolder.Create(outRoot, $"matrix-{plans[0].Settings.Name}"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        // the plan and each cell's effective configuration are written first: `matrix --resume` needs nothing else
        foreach (var (cell, config, _) in plans)
        {
            var cellDir = Path.Combine(dir, cell.Folder);
            Directory.CreateDirectory(cellDir);
            RunFolder.WriteConfig(cellDir, HoconText.Render(config, "fedactors"));
        }
        var plan = new MatrixPlan(attacks, defences, pills, [.. plans.Select(p => p.Cell)]);
        RunReport.WriteAtomically(Path.Combine(dir, "matrix.json"), System.Text.Json.JsonSerializer.Serialize(plan, PlanJson));
        return await RunPlanAsync(dir, plan, [.. plans.Select(p => (p.Config, p.Settings))], budget, resuming: false, reportOnly: false, cancel);
    }

    /// <summary><c>matrix --resume FOLDER</c>: the folder's plan and each cell's own config.conf.</summary>
    public static Task<int> ResumeAsync(string dir, TimeSpan budget, CancellationToken cancel, bool reportOnly = false)
    {
        var planPath = Path.Combine(dir, "matrix.json");
        try
        {
            if (!File.Exists(planPath)) throw new ConfigurationError("--resume", dir, "a matrix folder with its matrix.json");
            MatrixPlan plan;
            try { plan = System.Text.Json.JsonSerializer.Deserialize<MatrixPlan>(File.ReadAllText(planPath), PlanJson) ?? throw new System.Text.Json.JsonException("empty"); }
            catch (System.Text.Json.JsonException e) { throw new ConfigurationError("--resume", planPath, "the matrix.json this command wrote", e.Message); }
            var configs = new List<(Akka.Configuration.Config, Core.Config.ExperimentSettings)>();
            foreach (var cell in plan.Cells)
            {
                var cellConfig = Path.Combine(dir, cell.Folder, "config.conf");
                if (cell.Folder.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(cell.Folder) || !File.Exists(cellConfig))
                    throw new ConfigurationError("--resume", cellConfig, "each cell's config.conf, as the matrix wrote it");
                var config = FedActorsSettings.Load(cellConfig, []);
                configs.Add((config, FedActorsSettings.Read(config)));
            }
            return RunPlanAsync(Path.GetFullPath(dir), plan, configs, budget, resuming: true, reportOnly, cancel);
        }
        catch (ConfigurationError e) { return Task.FromResult(ExperimentLoader.Report(e)); }
    }

    /// <param name="resuming">Whether cells may have started in an earlier piece (<c>--resume</c>): only then is a cell's
    /// store searched for a checkpoint; a new grid never continues what a database holds from another grid.</param>
    /// <param name="reportOnly">Write the tables of the finished cells and run none (<c>--report</c>).</param>
    private static async Task<int> RunPlanAsync(string dir, MatrixPlan plan, IReadOnlyList<(Akka.Configuration.Config Config, Core.Config.ExperimentSettings Settings)> configs,
        TimeSpan budget, bool resuming, bool reportOnly, CancellationToken cancel)
    {
        var cells = new List<Cell>();
        var failures = new List<string>();
        var failed = new List<(string Attack, string Defence, string Pill)>();
        Dataset? data = null;
        Core.Config.DataSettings? loadedFor = null;
        bool interrupted = false, outOfBudget = false, ranOne = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < plan.Cells.Count && !outOfBudget && !interrupted; i++)
            {
                var (a, d, p, seed, folder) = plan.Cells[i];
                var (config, settings) = configs[i];
                var cellDir = Path.Combine(dir, folder);
                var summaryPath = Path.Combine(cellDir, "summary.json");
                var earlier = RunReport.ReadSummaryJson(summaryPath);
                if (earlier is { EndedEarly: null })
                {
                    cells.Add(Cell.Read(a, d, p, seed, earlier, folder, cellDir)); // finished in an earlier piece
                    continue;
                }
                if (ReadFailure(Path.Combine(cellDir, "failed.txt")) is { } failedBefore)
                {
                    // a cell's failure (a health check, its data) repeats with its seed: kept, not tried again in every piece
                    failures.Add($"{a} × {d} (pill {p}, seed {seed}): {failedBefore}");
                    failed.Add((a, d, p));
                    continue;
                }
                if (reportOnly) continue; // --report: an unfinished cell is neither run nor counted
                if (budget > TimeSpan.Zero && ranOne && clock.Elapsed >= budget) // each piece advances the grid by a round at least
                {
                    outOfBudget = true;
                    break;
                }
                ranOne = true;
                AnsiConsole.MarkupLineInterpolated($"[bold]{a}[/] × [bold]{d}[/] (pill {p}, seed {seed})");
                var cellClock = System.Diagnostics.Stopwatch.StartNew();
                var rounds = new List<RoundSummary>();
                // each cell keeps its own events, as a run does
                using var logger = RunLogging.Create(MonitoringSettings.Read(config).TargetsFor(cellDir) with { ConsoleLevel = null, SeqBufferPath = null },
                    settings.Name, Path.GetFileName(cellDir));
                // Akka's own warnings reach the cell's sinks through Akka.Logger.Serilog, as in a run
                Serilog.Log.Logger = logger;
                Runtime.State.IClientStateStore? store = null;
                Core.Training.ClientBatching? batching = null;
                Core.Training.BatchOccupancy? occupancy = null;
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                try
                {
                    // the cell's state is kept as a run keeps it (SQLite in the cell's folder by default): an unfinished cell
                    // resumes after its last committed round, with the same rounds an uninterrupted cell has
                    var hash = HoconText.ExperimentHash(config);
                    var resumed = resuming ? LastCheckpointOrNull(config, cellDir, hash) : null;
                    store = Runtime.State.StateStores.Create(config, cellDir, hash, fresh: !resuming);
                    // stopped within its first round: no checkpoint, but the states its clients saved; it starts again clean
                    if (resuming && resumed is null) (store as Runtime.State.ICheckpointStore)?.RollBack(-1);
                    rounds.AddRange(resumed?.Rounds ?? []);
                    if (resumed is not null) AnsiConsole.MarkupLineInterpolated($"  resuming after round {resumed.Round} of {settings.Rounds}");
                    var dataKey = settings.Data with { Partition = loadedFor?.Partition ?? settings.Data.Partition };
                    if (data is null || loadedFor != dataKey || settings.Data.Dataset == "synthetic")
                    {
                        data?.Dispose();
                        data = null;
                        data = Experiment.LoadData(settings);
                        loadedFor = settings.Data;
                    }
                    using var experiment = Experiment.Load(settings, data, ownsData: false);
                    batching = experiment.Batching;
                    occupancy = experiment.Occupancy;
                    var clientsCsv = Path.Combine(cellDir, ClientsCsv.FileName);
                    var missingRows = ClientsCsv.KeepCommitted(clientsCsv, resumed?.Rounds ?? []); // as a resumed run: later rounds are run again
                    var malicious = ClientsCsv.MaliciousOf(experiment.Collusion);
                    bool writeClients = MonitoringSettings.Read(config).ClientsCsv;
                    if (writeClients && missingRows.Count > 0)
                        AnsiConsole.MarkupLineInterpolated($"  [yellow]warning: clients.csv has no complete rows for committed round(s) {ClientsCsv.Describe(missingRows)}[/]");
                    await SimulationRunner.RunAsync(experiment, config, new RunEvents(logger), r =>
                    {
                        rounds.Add(r.WithoutClients());
                        RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                        if (writeClients) ClientsCsv.Append(clientsCsv, r, malicious);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {r.Round}: accuracy {RunReport.Pct(r.Accuracy)}, flagged {r.Flagged} ({r.TruePositives} malicious)"));
                        // a memory store cannot resume a cell: with it the budget is checked between cells only
                        if (budget > TimeSpan.Zero && clock.Elapsed >= budget && r.Round < settings.Rounds && !outOfBudget && store is not Runtime.State.InMemoryClientStateStore)
                        {
                            outOfBudget = true;
                            stop.Cancel();
                        }
                    }, store, stop.Token, resume: resumed is not null);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested || outOfBudget)
                {
                    interrupted = cancel.IsCancellationRequested;
                    RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                    RunReport.WriteSummaryJson(summaryPath, RunReport.Summarise(settings, rounds, cellClock.Elapsed + Earlier(earlier), cellDir, batching, occupancy) with
                    {
                        EndedEarly = interrupted ? "interrupted" : "budget",
                    });
                    AnsiConsole.MarkupLine(interrupted ? "[yellow]interrupted: the matrix of the cells finished so far is written[/]"
                        : $"[yellow]budget of {budget.TotalMinutes:0.##} min used: the matrix of the cells finished so far is written[/]");
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // one failed cell (a health check, data it cannot load, a bug) does not throw away the others: reported, marked
                    var why = e switch
                    {
                        Runtime.Actors.RunAbortedException => e.Message,
                        ConfigurationError ce => ce.Message,
                        _ => $"{e.GetType().Name}: {e.GetBaseException().Message}",
                    };
                    if (e is not (Runtime.Actors.RunAbortedException or ConfigurationError)) logger.Error(e, "Cell failed");
                    AnsiConsole.MarkupLineInterpolated($"  [red]cell failed:[/] {why}");
                    RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                    await File.WriteAllTextAsync(Path.Combine(cellDir, "failed.txt"), why + "\n", CancellationToken.None);
                    failures.Add($"{a} × {d} (pill {p}, seed {seed}): {why}");
                    failed.Add((a, d, p));
                    continue;
                }
                finally
                {
                    Serilog.Log.Logger = Serilog.Core.Logger.None;
                    // a store whose last writes failed says so here: the cell's rounds are done, but it could not be resumed
                    try { (store as IDisposable)?.Dispose(); }
                    catch (Exception e) { AnsiConsole.MarkupLineInterpolated($"  [yellow]warning: the cell's state store: {e.GetBaseException().Message}[/]"); }
                }
                RunReport.WriteRoundsCsv(Path.Combine(cellDir, "rounds.csv"), rounds);
                var summary = RunReport.Summarise(settings, rounds, cellClock.Elapsed + Earlier(earlier), cellDir, batching, occupancy);
                RunReport.WriteSummaryJson(summaryPath, summary);
                cells.Add(Cell.Read(a, d, p, seed, summary, folder, cellDir));
            }
        }
        finally { data?.Dispose(); }

        var table = Summarise(cells, failed);
        int finished = cells.Count + failed.Count;
        // whole files only (a --report beside a running piece writes them too)
        RunReport.WriteAtomically(Path.Combine(dir, "matrix.csv"), Csv(table));
        RunReport.WriteAtomically(Path.Combine(dir, "detection.csv"), DetectionReport.Csv(cells.Select(c => (c.Folder, c.Detection, c.Measured))));
        RunReport.WriteAtomically(Path.Combine(dir, "matrix.md"), Markdown(table, configs[0].Settings, finished, plan.Cells.Count));
        Heatmap(Path.Combine(dir, "heatmap.png"), table, plan.Attacks, plan.Defences, plan.Pills);
        Print(table);
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        if (finished < plan.Cells.Count)
            // one unwrapped line a script can find
            Console.WriteLine($"{finished} of {plan.Cells.Count} cells done; fedactors matrix --resume {dir} continues the grid");
        if (interrupted) return ExitCodes.Interrupted;
        var failedList = Path.Combine(dir, "failed.txt");
        if (failures.Count == 0)
        {
            if (File.Exists(failedList)) File.Delete(failedList); // none failed
            return ExitCodes.Ok;
        }
        await File.WriteAllLinesAsync(failedList, failures, CancellationToken.None);
        foreach (var f in failures) AnsiConsole.MarkupLineInterpolated($"[red]failed cell:[/] {f}");
        return ExitCodes.Failed;
    }

    /// <summary>Why the cell failed in an earlier piece (its <c>failed.txt</c>), or null when it did not.</summary>
    private static string? ReadFailure(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
    }

    /// <summary>The wall time of a cell's earlier pieces (its summary.json, written when a budget or a signal stopped it).</summary>
    private static TimeSpan Earlier(RunSummary? earlier) => earlier is null ? TimeSpan.Zero : TimeSpan.FromSeconds(earlier.WallSeconds);

    /// <summary>The cell's last committed round, or null when it has none (not started, stopped before its first round,
    /// or a memory store: such a cell starts again). A cell made by an earlier FedActors (its config.conf lacks settings
    /// added since) resumes with those at their defaults, and its config.conf is rewritten; a checkpoint made with another
    /// configuration is not taken, and the cell says so and starts again.</summary>
    private static RunCheckpoint? LastCheckpointOrNull(Akka.Configuration.Config config, string cellDir, string hash)
    {
        var kind = config.GetString("fedactors.state.store");
        if (kind == "memory" || kind == "sqlite" && !File.Exists(Runtime.State.StateStores.SqlitePath(config, cellDir))) return null;
        if (kind == "postgres")
        {
            // keyed by the hash: a cell's rows are found only under the hash it was made with (an earlier FedActors' cell restarts)
            var rows = (Runtime.State.ICheckpointStore)Runtime.State.StateStores.Create(config, cellDir, hash, fresh: false);
            try { return rows.Last() is { } last && last.ConfigHash == hash ? last : null; }
            finally { (rows as IDisposable)?.Dispose(); }
        }
        try
        {
            var last = Runtime.State.StateStores.LastCheckpointOrNone(config, cellDir, hash, File.ReadAllText(Path.Combine(cellDir, "config.conf")), out var adopted);
            if (adopted.Count > 0)
                AnsiConsole.MarkupLineInterpolated($"  [yellow]made by an earlier FedActors; settings it did not have take their defaults: {RunFolder.Adopt(cellDir, adopted)}[/]");
            return last;
        }
        catch (ConfigurationError e)
        {
            AnsiConsole.MarkupLineInterpolated($"  [yellow]its checkpoint is not taken ({e.Message}): the cell starts again[/]");
            return null;
        }
    }

    /// <param name="FailedSeeds">Seeds of this cell that failed (left out of the statistics).</param>
    /// <param name="Increase">The attack's effect as the papers measure it: final error rate minus the <c>none</c> row's
    /// under the same defence, per seed (seeds both rows ran), then mean ± std; NaN without a <c>none</c> row.</param>
    private sealed record Row(string Attack, string Defence, string Pill, int Seeds, Stat Final, Stat Best, Stat Error, Stat Fpr, Stat Fnr, int FailedSeeds = 0)
    {
        public Stat Increase { get; init; } = new(double.NaN, double.NaN);

        /// <summary>The mean accuracy of the worst-served tenth of the benign clients at the last round (<c>clients.csv</c>):
        /// the harm a pooled accuracy hides when an attack hits some clients' classes.</summary>
        public Stat WorstTenth { get; init; } = new(double.NaN, double.NaN);

        /// <summary>Per seed (in seed order): the round from which detection was exact to the end ("never": not at the end).</summary>
        public string ExactFrom { get; init; } = "";

        /// <summary>Per seed: benign updates flagged over the whole run.</summary>
        public string BenignFlagged { get; init; } = "";

        /// <summary>The Pill over the row's cells (pill on): mean β, share of colluders at β = 0, mean pill deviation.</summary>
        public PillCrafting? Crafted { get; init; }

        /// <summary>Rounds in which the rule split the clients (SkyMask's no-attack gate let the split stand) and rounds it
        /// reported on, over the row's cells; null for a rule that reports no split.</summary>
        public (int Split, int Of)? Splits { get; init; }
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

    /// <summary>A per-cell mean weighted by the cell's pills: every pill of the row weighs the same.</summary>
    private static double Weighted(PillCrafting[] cells, Func<PillCrafting, double> value) =>
        cells.Sum(c => value(c) * c.Pills) / cells.Sum(c => c.Pills);

    private static List<Row> Summarise(List<Cell> cells, List<(string Attack, string Defence, string Pill)> failed)
    {
        var rows = cells.GroupBy(c => (c.Attack, c.Defence, c.Pill)).Select(g => new Row(g.Key.Attack, g.Key.Defence, g.Key.Pill, g.Count(),
            Stat.Of(g.Select(c => c.Summary.FinalAccuracy)), Stat.Of(g.Select(c => c.Summary.BestAccuracy)),
            Stat.Of(g.Select(c => c.Summary.FinalErrorRate)), Stat.Of(g.Select(c => c.Summary.FalsePositiveRate)),
            Stat.Of(g.Select(c => c.Summary.FalseNegativeRate)), failed.Count(f => f == g.Key))
        {
            ExactFrom = string.Join(" ", g.OrderBy(c => c.Seed).Select(c => DetectionReport.ExactFrom(c.Detection) is { } r ? $"{r}" : "never")),
            BenignFlagged = string.Join(" ", g.OrderBy(c => c.Seed).Select(c => $"{c.Detection.Sum(r => r.FalsePositives)}")),
            Crafted = g.Select(c => c.Crafted).OfType<PillCrafting>().ToArray() is { Length: > 0 } crafted
                ? new PillCrafting(crafted.Sum(x => x.Rounds), crafted.Sum(x => x.Pills), Weighted(crafted, x => x.MeanBeta), Weighted(crafted, x => x.ZeroBetaShare), Weighted(crafted, x => x.MeanDeviation))
                : null,
            WorstTenth = Stat.Of(g.Select(c => c.Clients?.WorstTenth ?? double.NaN)),
            Splits = g.SelectMany(c => c.Measured.Values).Where(v => v.ContainsKey("Split")).ToArray() is { Length: > 0 } reported
                ? (reported.Count(v => v["Split"] > 0), reported.Length) : null,
        }).ToList();
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
        var sb = new StringBuilder("attack,defence,pill,seeds,final_accuracy_mean,final_accuracy_std,best_accuracy_mean,best_accuracy_std,error_rate_mean,error_rate_std,fpr_mean,fpr_std,fnr_mean,fnr_std,failed_seeds,error_increase_mean,error_increase_std,exact_from_round,benign_flagged,worst_tenth_mean,worst_tenth_std\n");
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var r in rows)
            sb.AppendLine(string.Join(',', r.Attack, r.Defence, r.Pill, r.Seeds, F(r.Final.Mean), F(r.Final.Std), F(r.Best.Mean), F(r.Best.Std),
                F(r.Error.Mean), F(r.Error.Std), F(r.Fpr.Mean), F(r.Fpr.Std), F(r.Fnr.Mean), F(r.Fnr.Std), r.FailedSeeds, F(r.Increase.Mean), F(r.Increase.Std),
                r.ExactFrom, r.BenignFlagged, F(r.WorstTenth.Mean), F(r.WorstTenth.Std)));
        return sb.ToString();
    }

    private static string Markdown(List<Row> rows, Core.Config.ExperimentSettings s, int finished, int planned)
    {
        var sb = new StringBuilder($"# matrix: {s.Name}\n\n{s.Rounds} rounds, {s.Clients.Count} clients ({s.Clients.SampledPerRound} per round), model {s.Model}, partition {s.Data.Partition.Kind}; values in %, mean ± std over seeds.\n\n");
        if (finished < planned) sb.AppendLine($"**{finished} of {planned} cells done** (`fedactors matrix --resume <this folder>` continues the grid).\n");
        sb.AppendLine("| attack | defence | pill | seeds | final accuracy | best accuracy | worst 10 % of benign clients | error rate | error increase over none | FPR | FNR | exact from round | benign flagged |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Attack} | {r.Defence} | {r.Pill} | {r.Seeds} | {r.Final.Pct()} | {r.Best.Pct()} | {r.WorstTenth.Pct()} | {r.Error.Pct()} | {r.Increase.Pct()} | {r.Fpr.Pct()} | {r.Fnr.Pct()} | {r.ExactFrom} | {r.BenignFlagged} |");
        sb.AppendLine().AppendLine("Exact from round and benign flagged: per seed, in seed order. Exact: every malicious update flagged and no benign one, " +
            "in that round and every later one (`never`: not in the last round). Round-by-round FPR/FNR: `detection.csv`. " +
            "Worst 10 % of benign clients: the mean accuracy of the lowest tenth of the benign clients at the last round " +
            "(`clients.csv`; n/a for held-out evaluation).");
        var effect = PillEffect(rows);
        if (effect.Count > 0)
        {
            // the Pill paper's measure: the pill's error increase over no attack as a multiple of the base attack's
            sb.AppendLine().AppendLine("## The pill's effect").AppendLine()
                .AppendLine("Error increase over no attack (mean over seeds, percentage points), the base attack alone and with the pill; " +
                    "pill ÷ base is the Pill paper's measure (it reports > 2× on average), defined where the base attack raises the error.").AppendLine()
                .AppendLine("| attack | defence | base attack: increase | + pill: increase | pill ÷ base | mean β | colluders at β = 0 | pill deviation | rounds split: base, + pill |")
                .AppendLine("|---|---|---|---|---|---|---|---|---|");
            string Splits(Row? r) => r?.Splits is { } s ? $"{s.Split}/{s.Of}" : "–";
            foreach (var e in effect)
            {
                var (off, on) = (e.Off, e.On);
                string crafted = on.Crafted is { } c
                    ? string.Create(CultureInfo.InvariantCulture, $"{c.MeanBeta:0.00} | {c.ZeroBetaShare * 100:0.0} % | {c.MeanDeviation:0.000}")
                    : "– | – | –";
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {off.Attack} | {off.Defence} | {e.Base * 100:0.00} | {e.Pill * 100:0.00} | {(double.IsNaN(e.Ratio) ? "n/a" : e.Ratio.ToString("0.00", CultureInfo.InvariantCulture))} | {crafted} | {(off.Splits is null && on.Splits is null ? "–" : $"{Splits(off)}, {Splits(on)}")} |"));
            }
            sb.AppendLine().AppendLine("β: SimAdjust's factor on the pill's poison (0: emptied), per colluder and crafting round; pill deviation: ‖Δ̃[P] − Δ[P]‖; " +
                "rounds split: rounds in which SkyMask's no-attack gate let the split stand, of the rounds it ran (all seeds).");
            foreach (var g in effect.GroupBy(e => e.Off.Attack))
            {
                // a base increase within its spread over seeds (mean ≤ std) makes the ratio noise: left out of the average
                var defined = g.Where(e => !double.IsNaN(e.Ratio) && e.Off.Increase.Mean > e.Off.Increase.Std).ToArray();
                sb.AppendLine().AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"{g.Key}: pill ÷ base averages {(defined.Length == 0 ? "n/a" : defined.Average(e => e.Ratio).ToString("0.00", CultureInfo.InvariantCulture))} over the {defined.Length} of {g.Count()} defences where the base attack raises the error beyond its spread over seeds (mean > std)."));
            }
        }
        return sb.ToString();
    }

    /// <summary>One attack × defence: its rows without and with the pill, their error increases over no attack (means over
    /// seeds) and pill ÷ base, NaN where the base attack does not raise the error (a ratio of noise).</summary>
    private sealed record PillRow(Row Off, Row On)
    {
        public double Base => Off.Increase.Mean;
        public double Pill => On.Increase.Mean;
        public double Ratio => Base > 0 ? Pill / Base : double.NaN;
    }

    /// <summary>Each attack × defence with both a pill-off and a pill-on row whose increases are known.</summary>
    private static List<PillRow> PillEffect(List<Row> rows) =>
        rows.Where(r => r.Attack != "none" && r.Pill == "off")
            .Select(off => (off, on: rows.SingleOrDefault(r => (r.Attack, r.Defence, r.Pill) == (off.Attack, off.Defence, "on"))))
            .Where(x => x.on is not null && !double.IsNaN(x.off.Increase.Mean) && !double.IsNaN(x.on.Increase.Mean))
            .Select(x => new PillRow(x.off, x.on!))
            .ToList();

    private static void Print(List<Row> rows)
    {
        var t = new Table().AddColumns("attack", "defence", "pill", "final acc %", "error %", "increase %", "FPR %", "FNR %", "exact from");
        foreach (var r in rows) t.AddRow(r.Attack, r.Defence, r.Pill, r.Final.Pct(), r.Error.Pct(), r.Increase.Pct(), r.Fpr.Pct(), r.Fnr.Pct(), r.ExactFrom);
        AnsiConsole.Write(t);
    }

    private static void Heatmap(string path, List<Row> rows, string[] attacks, string[] defences, string[] pills)
    {
        var values = new double[attacks.Length * pills.Length, defences.Length];
        for (int a = 0; a < attacks.Length; a++)
            for (int p = 0; p < pills.Length; p++)
                for (int d = 0; d < defences.Length; d++)
                    values[a * pills.Length + p, d] = (rows.SingleOrDefault(r => r.Attack == attacks[a] && r.Pill == pills[p] && r.Defence == defences[d])?.Error.Mean ?? double.NaN) * 100; // NaN: every seed failed
        if (!values.Cast<double>().Any(double.IsFinite)) return; // no finished cell yet (a budget spent within the first): nothing to draw
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
