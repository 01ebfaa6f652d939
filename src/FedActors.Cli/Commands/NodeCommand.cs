using System.CommandLine;
using System.Globalization;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Settings;
using Serilog;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary><c>fedactors node &lt;config&gt; --join HOST:PORT [--port P]</c>: a clients node that joins the run started by
/// <c>fedactors run &lt;config&gt; --port PORT</c>, hosts its share of the client entities and trains them on its own device
/// worker, and exits when the run ends.</summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "The run's HOCON experiment file (the same experiment as the run node's)" };
        var join = new Option<string>("--join") { Description = "HOST:PORT of the run node", Required = true };
        var port = new Option<int>("--port") { Description = "TCP port of this node (0 = any free one)", DefaultValueFactory = _ => 0 };
        var set = new Option<string[]>("--set") { Description = "Override a key, as the run node does (repeatable)", AllowMultipleArgumentsPerToken = false };
        var command = new Command("node", "Join a run as a clients node") { config, join, port, set };
        command.SetAction((parse, cancel) =>
            ExecuteAsync(parse.GetValue(config)!, parse.GetValue(join)!, parse.GetValue(port), parse.GetValue(set) ?? [], cancel));
        return command;
    }

    public static async Task<int> ExecuteAsync(string configPath, string join, int port, IReadOnlyList<string> sets, CancellationToken cancel)
    {
        var parts = join.Split(':');
        if (parts.Length != 2 || parts[0].Length == 0 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int joinPort) || joinPort is < 1 or > 65535)
            return ExperimentLoader.Report(new ConfigurationError("--join", join, "HOST:PORT of the run node, e.g. 127.0.0.1:4053"));
        // the transport's scheme: with the throttler for fault injection, addresses read akka.trttl.tcp://
        string scheme;
        try { scheme = FedActorsSettings.Load(configPath, sets).GetBoolean("fedactors.cluster.fault-injection") ? "akka.trttl.tcp" : "akka.tcp"; }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        var overrides = sets.Concat([$"fedactors.cluster.port={port}", $"fedactors.cluster.seed-nodes=[\"{scheme}://{ActorNames.System}@{parts[0]}:{joinPort}\"]"]).ToList();
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides, clientsNode: true); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        using var experiment = loaded.Experiment;
        var c = loaded.Config;
        Runtime.State.IClientStateStore store;
        try { store = Runtime.State.StateStores.Create(c, "", HoconText.ExperimentHash(c), fresh: false); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        using var _ = store as IDisposable;
        // events of a clients node: console (warnings) and Seq when configured; the run node keeps the run's files
        var targets = loaded.Monitoring.TargetsFor(null);
        using var logger = RunLogging.Create(targets, loaded.Settings.Name, $"node-{join}");
        Log.Logger = logger;
        try
        {
            AnsiConsole.MarkupLineInterpolated($"joining [bold]{join}[/] as a clients node");
            var exit = await SimulationRunner.RunNodeAsync(experiment, c, new RunEvents(logger), store, cancel);
            var busy = experiment.Occupancy.Share is { } share ? string.Create(CultureInfo.InvariantCulture, $", its batched calls {share:P0} busy") : "";
            if (exit.Code == 0) AnsiConsole.MarkupLineInterpolated($"the run ended after {exit.ClientTasks} client tasks on this node ({exit.PayloadBytesSent} payload bytes sent){busy}; it left the cluster");
            else AnsiConsole.MarkupLineInterpolated($"[red]node stopped:[/] {exit.Reason}");
            return exit.Code;
        }
        finally { Log.Logger = Serilog.Core.Logger.None; }
    }
}
