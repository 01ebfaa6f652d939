using Akka.Configuration;
using FedActors.Core.Simulation;
using FedActors.Runtime.Settings;

namespace FedActors.Runtime.State;

/// <summary>Builds the client state store that <c>fedactors.state</c> names.</summary>
public static class StateStores
{
    public static readonly string[] Kinds = ["memory", "postgres", "sqlite"];

    /// <summary>Checks <c>fedactors.state</c> without creating anything.</summary>
    public static void Validate(Config c)
    {
        var kind = c.GetString("fedactors.state.store");
        if (!Kinds.Contains(kind))
            throw new ConfigurationError("fedactors.state.store", $"\"{kind}\"", string.Join(", ", Kinds));
        int keepEvery;
        try { keepEvery = c.GetInt("fedactors.state.keep-every"); }
        catch (Exception e) when (e is FormatException or OverflowException) { keepEvery = -1; }
        if (keepEvery < 0)
            throw new ConfigurationError("fedactors.state.keep-every", $"\"{c.GetString("fedactors.state.keep-every")}\"", "an integer ≥ 0 (0 = keep only the last round)");
        if (kind == "postgres" && string.IsNullOrWhiteSpace(c.GetString("fedactors.state.connection")))
            throw new ConfigurationError("fedactors.state.connection", "\"\"", "an Npgsql connection string (Host=…;Database=…;Username=…) with store = postgres");
    }

    /// <summary>The state file a run folder's run used (<c>state.path</c>, or the folder's <c>client-state.db</c>).</summary>
    public static string SqlitePath(Config c, string runDir)
    {
        var path = c.GetString("fedactors.state.path");
        return string.IsNullOrEmpty(path) ? Path.Combine(runDir, "client-state.db") : path;
    }

    /// <summary>The checkpoint a resumed run continues from, checked before anything starts: the run kept its state in a
    /// file or database, there is a committed round, and it was made with this configuration.</summary>
    /// <param name="recordedConfig">The run folder's config.conf as written (null: none to compare): a run made by an earlier
    /// FedActors lacks the settings added since, and its checkpoint's hash covers only those it named. Such a checkpoint is
    /// taken — the new settings at their defaults, listed in <paramref name="adopted"/> — and committed again under today's
    /// hash, so that the run goes on as today's; the caller then rewrites config.conf (<paramref name="adopted"/> lists the
    /// settings config.conf lacks whenever the run goes on, so a rewrite a kill prevented is made the next time).</param>
    public static RunCheckpoint LastCheckpoint(Config c, string runDir, string configHash, string? recordedConfig,
        out IReadOnlyList<(string Key, string Value)> adopted) =>
        LastCheckpoint(c, runDir, configHash, recordedConfig, allowNone: false, out adopted)!;

    /// <summary>As <see cref="LastCheckpoint(Config, string, string, string?, out IReadOnlyList{ValueTuple{string, string}})"/>,
    /// but null for a run folder whose state file has no checkpoint: a run stopped inside its first round, which then starts
    /// again (a database's missing checkpoint is still refused: there it can also mean an edited config.conf).</summary>
    public static RunCheckpoint? LastCheckpointOrNone(Config c, string runDir, string configHash, string? recordedConfig,
        out IReadOnlyList<(string Key, string Value)> adopted) =>
        LastCheckpoint(c, runDir, configHash, recordedConfig, allowNone: true, out adopted);

    private static RunCheckpoint? LastCheckpoint(Config c, string runDir, string configHash, string? recordedConfig, bool allowNone,
        out IReadOnlyList<(string Key, string Value)> adopted)
    {
        adopted = [];
        Validate(c);
        var kind = c.GetString("fedactors.state.store");
        if (kind == "memory")
            throw new ConfigurationError("--resume", runDir, "a run whose state was kept in a file or database (fedactors.state.store = sqlite or postgres)");
        if (kind == "sqlite" && !File.Exists(SqlitePath(c, runDir)))
            throw new ConfigurationError("--resume", runDir, "a run folder with its state file", $"{SqlitePath(c, runDir)} does not exist");
        var recorded = recordedConfig is null ? null : HoconText.AsRecorded(c, recordedConfig);
        // whenever the run goes on, the settings its config.conf lacks (also after a kill between the re-commit below and
        // the caller's rewrite of config.conf, or a restart inside round 1): the caller rewrites config.conf
        adopted = recorded?.Added ?? [];
        var store = (ICheckpointStore)Create(c, runDir, configHash, fresh: false);
        try
        {
            var last = store.Last();
            if (last is null && allowNone && kind == "sqlite") return null;
            var checkpoint = last
                ?? throw new ConfigurationError("--resume", runDir, "a run with at least one committed round",
                    kind == "sqlite" ? $"{SqlitePath(c, runDir)} has no checkpoint: the run stopped before its first round ended"
                        : "the database has no checkpoint of this run: it stopped before its first round ended, or its config.conf was edited"
                          + (recorded is { Added.Count: > 0 }
                              ? $", or it was made by a FedActors without {string.Join(", ", recorded.Added.Select(p => p.Key))} (a database keys a run by its experiment: resume it with that version)"
                              : ""));
            if (checkpoint.ConfigHash == configHash) return checkpoint;
            // made by an earlier FedActors: one without some of today's settings, or one that keyed a GPU run by its index
            bool earlier = recorded is not null
                && ((recorded.Added.Count > 0 && checkpoint.ConfigHash == recorded.Hash) || checkpoint.ConfigHash == recorded.IndexedGpuHash);
            if (!earlier)
                throw new ConfigurationError("--resume", runDir, "the configuration the checkpoint was made with", "config.conf differs from the run's own configuration");
            // made by an earlier FedActors, unchanged since: from now on today's run (a kill before config.conf is rewritten
            // leaves a checkpoint under today's hash, which config.conf over today's defaults still gives)
            checkpoint = checkpoint with { ConfigHash = configHash };
            store.Commit(checkpoint, c.GetInt("fedactors.state.keep-every"));
            return checkpoint;
        }
        finally { (store as IDisposable)?.Dispose(); }
    }

    /// <param name="runKey">The run's key in a shared database: the effective configuration's hash.</param>
    /// <param name="fresh">A new run: forget whatever a database holds under this key (an earlier run of the same
    /// configuration). False when resuming.</param>
    public static IClientStateStore Create(Config c, string runDir, string runKey = "", bool fresh = true)
    {
        Validate(c);
        switch (c.GetString("fedactors.state.store"))
        {
            case "memory": return new InMemoryClientStateStore();
            case "postgres":
                var connection = c.GetString("fedactors.state.connection");
                PostgresClientStateStore? store = null;
                try
                {
                    store = new PostgresClientStateStore(connection, runKey);
                    // a new run never clears another: the same experiment already in the database is resumed, or renamed
                    if (fresh && store.Last() is { } other)
                        throw new ConfigurationError("fedactors.name", $"\"{c.GetString("fedactors.name")}\"",
                            "an experiment this database does not hold yet",
                            $"it holds a run of this very experiment, committed up to round {other.Round}: resume it with --resume <its folder>, or give the new run another fedactors.name");
                    var ready = new GroupCommitStateStore(store);
                    store = null;
                    return ready;
                }
                catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or ArgumentException)
                {
                    throw new ConfigurationError("fedactors.state.connection", PostgresClientStateStore.Describe(connection),
                        "a reachable PostgreSQL server", e.GetBaseException().Message);
                }
                finally { store?.Dispose(); }
            default:
                var path = SqlitePath(c, runDir);
                if (Directory.Exists(path))
                    throw new ConfigurationError("fedactors.state.path", $"\"{path}\"", "an SQLite file (or \"\": the run folder's client-state.db)", "it is a folder");
                try
                {
                    var sqlite = new SqliteClientStateStore(path);
                    // a new run never writes into another run's state: that would mix their clients and checkpoints
                    if (fresh && !sqlite.IsEmpty())
                        throw new ConfigurationError("fedactors.state.path", $"\"{path}\"", "a state file no run holds yet",
                            sqlite.Last() is { } held ? $"it holds a run committed up to round {held.Round}: resume it with --resume <its folder>, or choose another state.path"
                                : "it holds another run's client states: choose another state.path");
                    return new GroupCommitStateStore(sqlite);
                }
                catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    throw new ConfigurationError("fedactors.state.path", $"\"{path}\"", "an SQLite state file FedActors can open and write", e.GetBaseException().Message);
                }
        }
    }
}
