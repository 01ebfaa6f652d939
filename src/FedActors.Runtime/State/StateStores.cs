using Akka.Configuration;
using FedActors.Runtime.Settings;

namespace FedActors.Runtime.State;

/// <summary>Builds the client state store that <c>fedactors.state</c> names.</summary>
public static class StateStores
{
    /// <summary>Checks <c>fedactors.state</c> without creating anything.</summary>
    public static void Validate(Config c)
    {
        var kind = c.GetString("fedactors.state.store");
        if (kind is not ("sqlite" or "memory"))
            throw new ConfigurationError("fedactors.state.store", $"\"{kind}\"", "sqlite or memory");
    }

    /// <summary>The state file a run folder's run used (<c>state.path</c>, or the folder's <c>client-state.db</c>).</summary>
    public static string SqlitePath(Config c, string runDir)
    {
        var path = c.GetString("fedactors.state.path");
        return string.IsNullOrEmpty(path) ? Path.Combine(runDir, "client-state.db") : path;
    }

    /// <summary>The checkpoint a resumed run continues from, checked before anything starts: the run kept its state in a
    /// file, the file has a committed round, and that round was made with this configuration.</summary>
    public static Core.Simulation.RunCheckpoint LastCheckpoint(Config c, string runDir, string configHash)
    {
        Validate(c);
        if (c.GetString("fedactors.state.store") != "sqlite")
            throw new ConfigurationError("--resume", runDir, "a run whose state was kept in a file (fedactors.state.store = sqlite)");
        var path = SqlitePath(c, runDir);
        if (!File.Exists(path))
            throw new ConfigurationError("--resume", runDir, "a run folder with its state file", $"{path} does not exist");
        var checkpoint = new SqliteClientStateStore(path).Last()
            ?? throw new ConfigurationError("--resume", runDir, "a run with at least one committed round", $"{path} has no checkpoint: the run stopped before its first round ended");
        if (checkpoint.ConfigHash != configHash)
            throw new ConfigurationError("--resume", runDir, "the configuration the checkpoint was made with", "config.conf differs from the run's own configuration");
        return checkpoint;
    }

    public static IClientStateStore Create(Config c, string runDir)
    {
        Validate(c);
        if (c.GetString("fedactors.state.store") == "memory") return new InMemoryClientStateStore();
        return new SqliteClientStateStore(SqlitePath(c, runDir));
    }
}
