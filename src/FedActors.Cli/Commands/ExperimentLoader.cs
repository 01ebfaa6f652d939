using Akka.Configuration;
using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Simulation;
using FedActors.Runtime.Settings;

namespace FedActors.Cli.Commands;

/// <summary>Everything a verb needs before any work: the effective config, the typed settings and the loaded data.
/// All input errors surface here as <see cref="ConfigurationError"/>.</summary>
public sealed record LoadedExperiment(Config Config, ExperimentSettings Settings, MonitoringSettings Monitoring, Experiment Experiment);

public static class ExperimentLoader
{
    /// <param name="clientsNode">Loading for <c>fedactors node</c> (a node joining another's run).</param>
    public static LoadedExperiment Load(string path, IEnumerable<string> overrides, bool clientsNode = false)
    {
        var config = FedActorsSettings.Load(path, overrides);
        var settings = FedActorsSettings.Read(config);
        var monitoring = MonitoringSettings.Read(config);
        Runtime.State.StateStores.Validate(config);
        ClusterSettings.Validate(config, clientsNode);
        ControlSettings.Read(config);
        if (ClusterSettings.ListensBeyondLoopback(config))
            Console.Error.WriteLine($"warning: fedactors.cluster.hostname = {config.GetString("fedactors.cluster.hostname")} listens beyond this machine; " +
                "remoting has no TLS or authentication unless configured, so anyone who reaches it can join the cluster");
        Experiment experiment;
        try { experiment = Experiment.Load(settings); }
        catch (PartitionFileException e) { throw new ConfigurationError("fedactors.data.partition.path", $"\"{e.Path}\"", "a valid partition file", e.Message); }
        catch (InvalidDataException e) { throw new ConfigurationError("fedactors.data.directory", $"\"{settings.Data.Directory}\"", "readable IDX files", e.Message); }
        catch (ArgumentException e) { throw new ConfigurationError("fedactors.data.partition", settings.Data.Partition.Kind, "a partition the data allows", e.Message); }
        catch (InvalidOperationException e) { throw new ConfigurationError("fedactors.data.partition", settings.Data.Partition.Kind, "a partition the data allows", e.Message); }
        return new LoadedExperiment(config, settings, monitoring, experiment);
    }

    /// <summary>Prints an input error the way every verb does, and gives the exit code.</summary>
    public static int Report(ConfigurationError e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return ExitCodes.InvalidInput;
    }
}
