using System.CommandLine;
using System.Diagnostics;
using FedActors.Cli.Output;
using FedActors.Core.Data;
using FedActors.Core.Simulation;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Settings;
using Serilog;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary><c>fedactors run &lt;config&gt;</c>: one experiment on an embedded single-process cluster.</summary>
public static class RunCommand
{
    public const string DefaultConfig = "hocon/experiments/quickstart.conf";

    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "HOCON experiment file", DefaultValueFactory = _ => DefaultConfig };
        var set = new Option<string[]>("--set") { Description = "Override a key: --set fedactors.rounds=5 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seq = new Option<string?>("--seq") { Description = "Send events to this Seq server (sets fedactors.monitoring.seq.url)" };
        var output = new Option<string>("--out") { Description = "Folder under which the run folder is made", DefaultValueFactory = _ => "runs" };
        var budget = new Option<double>("--max-minutes")
        {
            Description = "Wall-clock budget: stop after the round during which it runs out and report the rounds done (0 = none)",
            DefaultValueFactory = _ => 0,
        };
        var port = new Option<int?>("--port") { Description = "TCP port of this node, for clients nodes to --join (sets fedactors.cluster.port)" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in this run folder after its last committed round (a run stopped, killed or out of budget)",
        };
        var command = new Command("run", "Run a federated experiment and write runs/<experiment>-<timestamp>/") { config, set, seq, output, budget, resume, port };
        command.SetAction((parse, cancel) =>
        {
            var overrides = (parse.GetValue(set) ?? []).ToList();
            if (parse.GetValue(seq) is { Length: > 0 } url) overrides.Add($"fedactors.monitoring.seq.url=\"{url}\"");
            if (parse.GetValue(port) is { } p) overrides.Add($"fedactors.cluster.port={p}");
            var budgetSpan = TimeSpan.FromMinutes(parse.GetValue(budget));
            if (parse.GetValue(resume) is { } folder)
            {
                if (parse.GetResult(config) is { Implicit: false } || (parse.GetValue(set) ?? []).Length > 0)
                    return Task.FromResult(ExperimentLoader.Report(new Runtime.Settings.ConfigurationError("--resume", folder,
                        "no config file and no --set: a resumed run runs its own config.conf unchanged")));
                return ResumeAsync(folder, cancel, budgetSpan, overrides);
            }
            return ExecuteAsync(parse.GetValue(config)!, overrides, parse.GetValue(output)!, cancel, budgetSpan);
        });
        return command;
    }

    /// <summary><c>--resume FOLDER</c>: the folder's own config.conf, its state file's last checkpoint, the same run folder.</summary>
    /// <param name="nodeLocal">Overrides of this node only (its port, where its events go), which a resumption may change.</param>
    public static Task<int> ResumeAsync(string runDir, CancellationToken cancel, TimeSpan budget = default, IReadOnlyList<string>? nodeLocal = null)
    {
        var configPath = Path.Combine(runDir, "config.conf");
        if (!File.Exists(configPath))
            return Task.FromResult(ExperimentLoader.Report(new Runtime.Settings.ConfigurationError("--resume", runDir, "a run folder with its config.conf")));
        return ExecuteAsync(configPath, nodeLocal ?? [], Path.GetDirectoryName(Path.GetFullPath(runDir))!, cancel, budget, Path.GetFullPath(runDir));
    }

    /// <param name="budget">Wall-clock budget (zero: none); when it runs out the run stops after the current round.</param>
    /// <param name="resumeDir">The run folder to continue (its last committed round); null starts a new run folder.</param>
    public static async Task<int> ExecuteAsync(string configPath, IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel,
        TimeSpan budget = default, string? resumeDir = null)
    {
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        using var experiment = loaded.Experiment;
        var settings = loaded.Settings;
        var c = loaded.Config;
        var effective = HoconText.Render(c, "fedactors");
        var configHash = HoconText.ExperimentHash(c); // cluster and monitoring may change between a run and its resumption
        RunCheckpoint? resumed = null;
        if (resumeDir is not null)
        {
            try { resumed = Runtime.State.StateStores.LastCheckpoint(c, resumeDir, configHash); }
            catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        }
        var runDir = resumeDir ?? RunFolder.Create(outRoot, settings.Name);
        var runId = Path.GetFileName(runDir);
        Runtime.State.IClientStateStore store;
        try { store = Runtime.State.StateStores.Create(c, runDir, configHash, fresh: resumed is null); }
        catch (ConfigurationError e)
        {
            if (resumeDir is null) Directory.Delete(runDir, recursive: true); // nothing half-written
            return ExperimentLoader.Report(e);
        }
        using var _ = store as IDisposable;
        using var logger = RunLogging.Create(loaded.Monitoring.TargetsFor(runDir), settings.Name, runId);
        Log.Logger = logger; // Akka's own log events reach the run's sinks through Akka.Logger.Serilog.
        try
        {
            logger.ForContext("Event", "Configuration").Information("Effective configuration {Configuration}", effective);
            if (resumed is null)
            {
                RunFolder.WriteConfig(runDir, effective);
                PartitionFile.Write(Path.Combine(runDir, "partition.json"), experiment.Partition, settings.Data.Dataset, settings.Data.Pool, experiment.Data.NumClasses);
            }
            else AnsiConsole.MarkupLineInterpolated($"resuming [bold]{runDir}[/] after round {resumed.Round} of {settings.Rounds}");
            var events = new RunEvents(logger);
            var clock = Stopwatch.StartNew();
            var rounds = new List<RoundSummary>(resumed?.Rounds ?? []);
            var csv = Path.Combine(runDir, "rounds.csv");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            bool outOfBudget = false;
            try
            {
                await LiveProgress.RunAsync(settings.Rounds, onRound => SimulationRunner.RunAsync(experiment, c, events, r =>
                {
                    onRound(r);
                    rounds.Add(r);
                    RunReport.WriteRoundsCsv(csv, rounds); // after every round, so a long run killed midway keeps its rounds
                    if (budget > TimeSpan.Zero && clock.Elapsed >= budget && r.Round < settings.Rounds && !outOfBudget)
                    {
                        outOfBudget = true;
                        stop.Cancel();
                    }
                }, store, stop.Token, resume: resumed is not null));
            }
            catch (OperationCanceledException) when (outOfBudget && !cancel.IsCancellationRequested)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]budget of {budget.TotalMinutes:0.#} min used: stopped after round {rounds.Count} of {settings.Rounds}[/]");
            }
            clock.Stop();

            RunReport.WriteRoundsCsv(csv, rounds);
            var summary = RunReport.Summarise(settings, rounds, clock.Elapsed, runDir);
            RunReport.WriteSummaryJson(Path.Combine(runDir, "summary.json"), summary);
            Plots.WriteAccuracyAndLoss(runDir, rounds, settings.PersonalisationOrNone.Enabled);
            RunReport.PrintSummary(summary);
            return ExitCodes.Ok;
        }
        catch (Runtime.Actors.RunAbortedException e)
        {
            // the run's own verdict (RunAborted is already in the log): the reason, no stack trace
            AnsiConsole.MarkupLineInterpolated($"[red]run failed:[/] {e.Message}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.Error(e, "Run failed");
            AnsiConsole.MarkupLineInterpolated($"[red]run failed:[/] {e.Message}");
            return ExitCodes.Failed;
        }
        finally
        {
            Log.Logger = Serilog.Core.Logger.None;
        }
    }
}
