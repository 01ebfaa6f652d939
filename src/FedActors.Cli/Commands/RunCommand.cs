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
            Description = "Continue the run in this run folder after its last committed round (a run stopped, killed or out of budget; one stopped inside its first round starts again)",
        };
        var fromRound = new Option<int?>("--from-round")
        {
            Description = "With --resume: fork a new run (in --out) from this kept round's checkpoint, with --set overrides; the original stays as it is",
        };
        var faults = new Option<string?>("--faults")
        {
            Description = "Scripted faults from a file of JSON lines (a run's faults.jsonl): replaces fedactors.faults, to replay a run's faults",
        };
        var command = new Command("run", "Run a federated experiment and write runs/<experiment>-<timestamp>/") { config, set, seq, output, budget, resume, port, fromRound, faults };
        command.SetAction((parse, cancel) =>
        {
            var overrides = (parse.GetValue(set) ?? []).ToList();
            if (parse.GetValue(faults) is { } script)
            {
                if (parse.GetValue(resume) is not null && parse.GetValue(fromRound) is null)
                    return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--faults", script, "no fault script with --resume: a resumed run keeps its faults (fork with --from-round to change them)")));
                try { overrides.Add(FaultScript(script)); }
                catch (ConfigurationError e) { return Task.FromResult(ExperimentLoader.Report(e)); }
            }
            if (parse.GetValue(seq) is { Length: > 0 } url) overrides.Add($"fedactors.monitoring.seq.url=\"{url}\"");
            if (parse.GetValue(port) is { } p) overrides.Add($"fedactors.cluster.port={p}");
            double minutes = parse.GetValue(budget);
            if (!double.IsFinite(minutes) || minutes < 0 || minutes > 1e6)
                return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--max-minutes", minutes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "a number of minutes ≥ 0 (0 = no budget)")));
            var budgetSpan = TimeSpan.FromMinutes(minutes);
            if (parse.GetValue(resume) is { } origin && parse.GetValue(fromRound) is { } round)
            {
                if (parse.GetResult(config) is { Implicit: false })
                    return Task.FromResult(ExperimentLoader.Report(new Runtime.Settings.ConfigurationError("--resume", origin,
                        "no config file: a fork runs the original's config.conf with the --set overrides")));
                return ForkAsync(origin, round, overrides, parse.GetValue(output)!, cancel, budgetSpan);
            }
            if (parse.GetValue(fromRound) is not null)
                return Task.FromResult(ExperimentLoader.Report(new Runtime.Settings.ConfigurationError("--from-round", $"{parse.GetValue(fromRound)}", "--resume <run folder> with it")));
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

    /// <summary>A <c>faults.jsonl</c> file as the override <c>fedactors.faults = [ … ]</c> (JSON objects are HOCON); each line is
    /// checked here for its JSON, and with the experiment's rounds and clients when the configuration is read.</summary>
    public static string FaultScript(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationError("--faults", path, "a readable file of JSON lines", e.Message); }
        var objects = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            try { objects.Add(Core.Faults.Fault.FromJson(lines[i]).ToJson()); }
            catch (Core.Faults.FaultError e) { throw new ConfigurationError($"--faults {path}:{i + 1}", e.Value, e.Expected, $"field {e.Field}"); }
        }
        return $"fedactors.faults = [{string.Join(", ", objects)}]";
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

    /// <summary>A new run, in a new folder under <paramref name="outRoot"/>, that starts from round <paramref name="round"/> of the
    /// run in <paramref name="originDir"/> (a kept checkpoint: the last one, or one of <c>state.keep-every</c>) with the
    /// overrides: its model, bookkeeping, attack memory and every client's state as of that round. The original is only read.</summary>
    public static Task<int> ForkAsync(string originDir, int round, IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel,
        TimeSpan budget = default)
    {
        var originConfig = Path.Combine(originDir, "config.conf");
        if (!File.Exists(originConfig))
            return Task.FromResult(ExperimentLoader.Report(new ConfigurationError("--resume", originDir, "a run folder with its config.conf")));
        Fork fork;
        try
        {
            var c = FedActorsSettings.Load(originConfig, []);
            Runtime.State.StateStores.Validate(c);
            if (c.GetString("fedactors.state.store") == "memory")
                throw new ConfigurationError("--resume", originDir, "a run whose state was kept in a file or database");
            // the key the origin's rows have in a database: its hash as the FedActors that made it computed it
            var hash = HoconText.AsRecorded(c, File.ReadAllText(originConfig)).Hash;
            var origin = Runtime.State.StateStores.Create(c, originDir, hash, fresh: false);
            try
            {
                var checkpoints = (Runtime.State.ICheckpointStore)origin;
                var at = checkpoints.At(round) ?? throw new ConfigurationError("--from-round", $"{round}", "a round whose checkpoint was kept",
                    $"kept: {string.Join(", ", checkpoints.KeptRounds())}; fedactors.state.keep-every keeps more");
                fork = new Fork(at, checkpoints.StatesAt(round),
                    c.GetString("fedactors.state.store") == "sqlite" ? Path.GetFullPath(Runtime.State.StateStores.SqlitePath(c, originDir)) : null, originDir);
            }
            finally { (origin as IDisposable)?.Dispose(); }
        }
        catch (ConfigurationError e) { return Task.FromResult(ExperimentLoader.Report(e)); }
        return ExecuteAsync(originConfig, overrides, outRoot, cancel, budget, fork: fork);
    }

    /// <summary>Where a fork starts: a checkpoint and the clients' states that go with it.</summary>
    public sealed record Fork(RunCheckpoint Checkpoint, IReadOnlyList<Runtime.State.ClientState> States, string? OriginStateFile, string OriginDir);

    /// <param name="budget">Wall-clock budget (zero: none); when it runs out the run stops after the current round.</param>
    /// <param name="resumeDir">The run folder to continue (its last committed round); null starts a new run folder.</param>
    public static async Task<int> ExecuteAsync(string configPath, IReadOnlyList<string> overrides, string outRoot, CancellationToken cancel,
        TimeSpan budget = default, string? resumeDir = null, Fork? fork = null)
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
        bool restart = false; // --resume of a run stopped inside its first round: nothing committed, it starts again
        IReadOnlyList<(string Key, string Value)> adopted = []; // settings newer than a resumed run, at their defaults
        if (resumeDir is not null)
        {
            try { resumed = Runtime.State.StateStores.LastCheckpointOrNone(c, resumeDir, configHash, File.ReadAllText(configPath), out adopted); }
            catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
            restart = resumed is null;
        }
        if (fork is not null)
        {
            ConfigurationError? refused = null;
            if (c.GetString("fedactors.state.store") == "postgres" && configHash == fork.Checkpoint.ConfigHash)
                refused = new ConfigurationError("--from-round", $"{fork.Checkpoint.Round}", "--set overrides that change the experiment",
                    "in PostgreSQL a run is keyed by its experiment: an unchanged fork would be the original run; use --resume");
            else if (fork.OriginStateFile is not null && c.GetString("fedactors.state.path") is { Length: > 0 } path && Path.GetFullPath(path) == fork.OriginStateFile)
                refused = new ConfigurationError("fedactors.state.path", $"\"{path}\"", "another state file than the original's (or \"\": the fork's folder)");
            else if (fork.Checkpoint.Round >= settings.Rounds)
                refused = new ConfigurationError("--from-round", $"{fork.Checkpoint.Round}", $"a round before the fork's last (fedactors.rounds = {settings.Rounds})", "raise fedactors.rounds with --set");
            else if (fork.Checkpoint.Global.Length != (settings.CreatePersonalisation()?.InitialGlobal(experiment) ?? experiment.InitialWeights()).Length)
                refused = new ConfigurationError("--from-round", $"{fork.Checkpoint.Round}", "a fork with the original's model", "the overrides change the model's size");
            if (refused is not null) return ExperimentLoader.Report(refused); // before anything is created or cleared
        }
        string runDir;
        try { runDir = resumeDir ?? RunFolder.Create(outRoot, settings.Name); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        var runId = Path.GetFileName(runDir);
        Runtime.State.IClientStateStore store;
        try { store = Runtime.State.StateStores.Create(c, runDir, configHash, fresh: resumeDir is null); }
        catch (ConfigurationError e)
        {
            if (resumeDir is null) Directory.Delete(runDir, recursive: true); // nothing half-written
            return ExperimentLoader.Report(e);
        }
        using var _ = store as IDisposable;
        // the states its clients saved in the unfinished first round are dropped; the run starts again from round 1
        if (restart) (store as Runtime.State.ICheckpointStore)?.RollBack(-1);
        if (fork is not null)
        {
            // the fork's own store starts with the origin's state as of the round, committed under the fork's configuration
            try
            {
                foreach (var state in fork.States) store.Save(state with { Version = fork.Checkpoint.Round });
                resumed = fork.Checkpoint with { ConfigHash = configHash };
                ((Runtime.State.ICheckpointStore)store).Commit(resumed);
            }
            catch (Exception e)
            {
                (store as IDisposable)?.Dispose();
                Directory.Delete(runDir, recursive: true); // nothing half-written
                Console.Error.WriteLine($"error: the fork's state could not be written: {e.GetBaseException().Message}");
                return ExitCodes.Failed;
            }
        }
        using var logger = RunLogging.Create(loaded.Monitoring.TargetsFor(runDir), settings.Name, runId);
        Log.Logger = logger; // Akka's own log events reach the run's sinks through Akka.Logger.Serilog.
        try
        {
            logger.ForContext("Event", "Configuration").Information("Effective configuration {Configuration}", effective);
            if (loaded.Monitoring.SeqUrl is { } seqUrl && await SeqProbe.ProblemAsync(seqUrl, TimeSpan.FromSeconds(3)) is { } seqProblem)
            {
                var kept = loaded.Monitoring.TargetsFor(runDir).SeqBufferPath is { } buffer
                    ? $"kept in {Path.GetDirectoryName(buffer)} and sent when it answers"
                    : "batched in memory and retried while the run lasts (fedactors.monitoring.seq.durable = on keeps them on disk)";
                logger.ForContext("Event", "SeqUnreachable").Warning("Seq at {SeqUrl} does not answer ({Problem}); events are {Kept}", seqUrl, seqProblem, kept);
                if (loaded.Monitoring.ConsoleLevel is null)
                    Console.Error.WriteLine($"warning: Seq at {seqUrl} does not answer ({seqProblem}); events are {kept}");
            }
            if (adopted.Count > 0)
            {
                // made by an earlier FedActors: its checkpoint now carries today's hash, and config.conf names today's settings
                var added = RunFolder.Adopt(runDir, adopted);
                logger.ForContext("Event", "SettingsAdopted").Information("The run was made by an earlier FedActors; settings it did not have take their defaults: {Added}", added);
                AnsiConsole.MarkupLineInterpolated($"[yellow]{runDir} was made by an earlier FedActors; settings it did not have take their defaults: {added}[/]");
            }
            if (resumeDir is null)
            {
                RunFolder.WriteConfig(runDir, effective);
                PartitionFile.Write(Path.Combine(runDir, "partition.json"), experiment.Partition, settings.Data.Dataset, settings.Data.Pool, experiment.Data.NumClasses);
            }
            if (fork is not null) AnsiConsole.MarkupLineInterpolated($"forked [bold]{runDir}[/] from round {fork.Checkpoint.Round}");
            else if (resumed is not null) AnsiConsole.MarkupLineInterpolated($"resuming [bold]{runDir}[/] after round {resumed.Round} of {settings.Rounds}");
            else if (restart) AnsiConsole.MarkupLineInterpolated($"[yellow]{runDir} stopped inside its first round (nothing committed): starting it again from round 1[/]");
            var events = new RunEvents(logger);
            var clock = Stopwatch.StartNew();
            var rounds = new List<RoundSummary>(resumed?.Rounds ?? []);
            var csv = Path.Combine(runDir, "rounds.csv");
            var clientsCsv = Path.Combine(runDir, ClientsCsv.FileName);
            // rows of rounds after the checkpoint are run again; a fork starts with its origin's rows up to its round
            IReadOnlyList<int> missingRows = [];
            if (fork is not null && loaded.Monitoring.ClientsCsv)
                missingRows = ClientsCsv.CopyCommitted(Path.Combine(fork.OriginDir, ClientsCsv.FileName), clientsCsv, fork.Checkpoint.Rounds);
            else if (resumeDir is not null) missingRows = ClientsCsv.KeepCommitted(clientsCsv, resumed?.Rounds ?? []);
            if (missingRows.Count > 0 && loaded.Monitoring.ClientsCsv)
            {
                var which = ClientsCsv.Describe(missingRows);
                logger.ForContext("Event", "ClientRowsMissing").Warning("clients.csv has no complete rows for committed round(s) {Rounds}", which);
                AnsiConsole.MarkupLineInterpolated($"[yellow]warning: clients.csv has no complete rows for committed round(s) {which} (the run stopped between committing them and writing them, or was made before clients.csv existed); rounds.csv has them[/]");
            }
            var malicious = ClientsCsv.MaliciousOf(experiment.Collusion);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            bool outOfBudget = false, interrupted = false;
            long payloadBytes = 0;
            var faultLog = new FaultLog(Path.Combine(runDir, "faults.jsonl"));
            var control = Runtime.Settings.ControlSettings.Read(c);
            Func<Akka.Actor.IActorRef, Task<IAsyncDisposable?>>? startControl = control.Enabled ? async coordinator =>
            {
                var server = await Control.ControlServer.StartAsync(coordinator, control.Host, control.Port, control.Token, runDir);
                if (!System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(control.Host)))
                {
                    AnsiConsole.MarkupLineInterpolated($"[yellow]warning: the control API listens on {control.Host}, reachable from other machines; anyone with the token in control.json can inject faults[/]");
                    logger.Warning("The control API listens on {Host}, not loopback", control.Host);
                }
                // one unwrapped line (a console that is not a terminal would be wrapped at 80 columns by Spectre)
                Console.WriteLine($"control API at {server.Endpoint.Url}: fedactors inject <kind> --run {runDir} (token in control.json)");
                return server;
            } : null;
            try
            {
                var result = await LiveProgress.RunAsync(settings.Rounds, onRound => SimulationRunner.RunAsync(experiment, c, events, r =>
                {
                    onRound(r);
                    rounds.Add(r.WithoutClients());
                    RunReport.WriteRoundsCsv(csv, rounds); // after every round, so a long run killed midway keeps its rounds
                    if (loaded.Monitoring.ClientsCsv) ClientsCsv.Append(clientsCsv, r, malicious);
                    if (budget > TimeSpan.Zero && clock.Elapsed >= budget && r.Round < settings.Rounds && !outOfBudget)
                    {
                        outOfBudget = true;
                        stop.Cancel();
                    }
                }, store, stop.Token, resume: resumed is not null, onFault: faultLog.Append, control: startControl), done: rounds.Count);
                payloadBytes = result.PayloadBytesSent;
            }
            catch (OperationCanceledException) when (outOfBudget && !cancel.IsCancellationRequested)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]budget of {budget.TotalMinutes:0.#} min used: stopped after round {rounds.Count} of {settings.Rounds}[/]");
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // SIGINT/SIGTERM: the rounds done are kept and reported; the last committed round can be resumed
                interrupted = true;
                AnsiConsole.MarkupLineInterpolated($"[yellow]interrupted: stopped after round {(rounds.Count > 0 ? rounds[^1].Round : 0)} of {settings.Rounds}; run --resume {runDir} continues it[/]");
            }
            clock.Stop();
            int lastRound = rounds.Count > 0 ? rounds[^1].Round : 0;

            RunReport.WriteRoundsCsv(csv, rounds);
            var summary = RunReport.Summarise(settings, rounds, clock.Elapsed, runDir, experiment.Batching, experiment.Occupancy) with
            {
                KeptRounds = (store as Runtime.State.ICheckpointStore)?.KeptRounds() ?? [],
                StateBytes = c.GetString("fedactors.state.store") == "sqlite"
                    ? new[] { "", "-wal" }.Select(x => new FileInfo(Runtime.State.StateStores.SqlitePath(c, runDir) + x)).Where(f => f.Exists).Sum(f => f.Length)
                    : null,
                PayloadBytesSent = payloadBytes,
                Faults = faultLog.Faults,
                EndedEarly = interrupted ? "interrupted" : outOfBudget ? "budget" : lastRound < settings.Rounds ? "stopped" : null,
            };
            RunReport.WriteSummaryJson(Path.Combine(runDir, "summary.json"), summary);
            Plots.WriteAccuracyAndLoss(runDir, rounds, settings.PersonalisationOrNone.Enabled);
            RunReport.PrintSummary(summary);
            return interrupted ? ExitCodes.Interrupted : ExitCodes.Ok;
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
