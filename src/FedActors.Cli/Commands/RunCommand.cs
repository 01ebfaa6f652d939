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
        var command = new Command("run", "Run a federated experiment and write runs/<experiment>-<timestamp>/") { config, set, seq, output, budget };
        command.SetAction((parse, cancel) =>
        {
            var overrides = (parse.GetValue(set) ?? []).ToList();
            if (parse.GetValue(seq) is { Length: > 0 } url) overrides.Add($"fedactors.monitoring.seq.url=\"{url}\"");
            return ExecuteAsync(parse.GetValue(config)!, overrides, parse.GetValue(output)!, cancel, TimeSpan.FromMinutes(parse.GetValue(budget)));
        });
        return command;
    }

    /// <param name="budget">Wall-clock budget (zero: none); when it runs out the run stops after the current round.</param>
    public static async Task<int> ExecuteAsync(string configPath, IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel,
        TimeSpan budget = default)
    {
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        using var experiment = loaded.Experiment;
        var settings = loaded.Settings;
        var runDir = RunFolder.Create(outRoot, settings.Name);
        var runId = Path.GetFileName(runDir);
        var c = loaded.Config;
        using var logger = RunLogging.Create(loaded.Monitoring.TargetsFor(runDir), settings.Name, runId);
        Log.Logger = logger; // Akka's own log events reach the run's sinks through Akka.Logger.Serilog.
        try
        {
            var effective = HoconText.Render(c, "fedactors");
            logger.ForContext("Event", "Configuration").Information("Effective configuration {Configuration}", effective);
            RunFolder.WriteConfig(runDir, effective);
            PartitionFile.Write(Path.Combine(runDir, "partition.json"), experiment.Partition, settings.Data.Dataset, settings.Data.Pool, experiment.Data.NumClasses);
            var events = new RunEvents(logger);
            var clock = Stopwatch.StartNew();
            var store = Runtime.State.StateStores.Create(c, runDir);
            var rounds = new List<RoundSummary>();
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
                }, store, stop.Token));
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
