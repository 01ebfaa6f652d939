using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using Npgsql;

namespace FedActors.Runtime.State;

/// <summary>
/// Client state and the run's checkpoints in PostgreSQL (<c>fedactors.state.store = postgres</c>): the store a
/// multi-node run needs, since every node reaches it. Same tables and semantics as <see cref="SqliteClientStateStore"/>,
/// with every row keyed by the run (<paramref name="run"/>: the effective configuration's hash, which every node of a run
/// shares), so several runs can share one database. The schema is created on first use. Thread-safe: Npgsql pools
/// connections.
/// </summary>
public sealed class PostgresClientStateStore : IClientStateStore, ICheckpointStore, IDisposable
{
    private readonly NpgsqlDataSource _db;
    private readonly string _run;

    /// <param name="connection">An Npgsql connection string (<c>Host=…;Port=…;Database=…;Username=…;Password=…</c>).</param>
    /// <param name="run">The run's key in the shared tables.</param>
    public PostgresClientStateStore(string connection, string run)
    {
        _run = run;
        _db = NpgsqlDataSource.Create(connection);
        try { CreateSchema(); }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
        {
            CreateSchema(); // another node made the tables at the same moment (IF NOT EXISTS is not atomic): they exist now
        }
        catch
        {
            _db.Dispose();
            throw;
        }
    }

    private void CreateSchema() =>
        Execute("""
            CREATE TABLE IF NOT EXISTS fedactors_client_states (
                run TEXT NOT NULL,
                client_id INTEGER NOT NULL,
                version INTEGER NOT NULL,
                rounds_trained INTEGER NOT NULL,
                last_round INTEGER NOT NULL,
                personal BYTEA NULL,
                PRIMARY KEY (run, client_id, version));
            CREATE TABLE IF NOT EXISTS fedactors_checkpoints (
                run TEXT NOT NULL,
                round INTEGER NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (run, round));
            """);

    /// <summary>Where a connection string points, without its password: for error messages.</summary>
    public static string Describe(string connection)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(connection);
            return $"host {b.Host}:{b.Port}, database {b.Database}, user {b.Username}";
        }
        catch (ArgumentException) { return "an unreadable connection string"; }
    }

    private void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = _db.CreateCommand(sql);
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        cmd.ExecuteNonQuery();
    }

    public ClientState? Load(int clientId)
    {
        using var cmd = _db.CreateCommand(
            "SELECT rounds_trained, last_round, personal, version FROM fedactors_client_states WHERE run = @run AND client_id = @id ORDER BY version DESC LIMIT 1");
        cmd.Parameters.AddWithValue("run", _run);
        cmd.Parameters.AddWithValue("id", clientId);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var personal = r.IsDBNull(2) ? null : PersonalState.FromBytes((byte[])r.GetValue(2));
        return new ClientState(clientId, r.GetInt32(0), r.GetInt32(1), personal, r.GetInt32(3));
    }

    public void Save(ClientState state) => SaveAll([state]);

    /// <summary>One transaction, the rows sent as one batch (one round trip).</summary>
    public void SaveAll(IReadOnlyCollection<ClientState> states)
    {
        if (states.Count == 0) return;
        using var c = _db.OpenConnection();
        using var tx = c.BeginTransaction();
        using var batch = new NpgsqlBatch(c, tx);
        foreach (var state in states)
        {
            var cmd = new NpgsqlBatchCommand("""
                INSERT INTO fedactors_client_states (run, client_id, version, rounds_trained, last_round, personal)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (run, client_id, version) DO UPDATE SET rounds_trained = excluded.rounds_trained,
                    last_round = excluded.last_round, personal = excluded.personal
                """);
            cmd.Parameters.Add(new NpgsqlParameter { Value = _run });
            cmd.Parameters.Add(new NpgsqlParameter { Value = state.ClientId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = state.Version });
            cmd.Parameters.Add(new NpgsqlParameter { Value = state.RoundsTrained });
            cmd.Parameters.Add(new NpgsqlParameter { Value = state.LastRound });
            cmd.Parameters.Add(new NpgsqlParameter { Value = state.Personal is null ? DBNull.Value : state.Personal.ToBytes(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea });
            batch.BatchCommands.Add(cmd);
        }
        batch.ExecuteNonQuery();
        tx.Commit();
    }

    public void Commit(RunCheckpoint checkpoint, int keepEvery = 0)
    {
        using var c = _db.OpenConnection();
        using var tx = c.BeginTransaction();
        // as in SqliteClientStateStore: a version goes when a newer one up to this round exists and no kept round needs it
        using var cmd = new NpgsqlCommand("""
            INSERT INTO fedactors_checkpoints (run, round, data) VALUES (@run, @round, @data)
                ON CONFLICT (run, round) DO UPDATE SET data = excluded.data;
            DELETE FROM fedactors_checkpoints WHERE run = @run AND round <> @round AND NOT (@every > 0 AND round % @every = 0);
            DELETE FROM fedactors_client_states s WHERE s.run = @run AND s.version < (
                    SELECT MAX(n.version) FROM fedactors_client_states n WHERE n.run = @run AND n.client_id = s.client_id AND n.version <= @round)
                AND NOT EXISTS (SELECT 1 FROM fedactors_checkpoints k WHERE k.run = @run AND k.round >= s.version AND k.round < (
                    SELECT MIN(n.version) FROM fedactors_client_states n WHERE n.run = @run AND n.client_id = s.client_id AND n.version > s.version));
            """, c, tx);
        cmd.Parameters.AddWithValue("run", _run);
        cmd.Parameters.AddWithValue("every", keepEvery);
        cmd.Parameters.AddWithValue("round", checkpoint.Round);
        cmd.Parameters.AddWithValue("data", checkpoint.ToBytes());
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    public RunCheckpoint? Last()
    {
        using var cmd = _db.CreateCommand("SELECT data FROM fedactors_checkpoints WHERE run = @run ORDER BY round DESC LIMIT 1");
        cmd.Parameters.AddWithValue("run", _run);
        return cmd.ExecuteScalar() is byte[] data ? RunCheckpoint.FromBytes(data) : null;
    }

    public RunCheckpoint? At(int round)
    {
        using var cmd = _db.CreateCommand("SELECT data FROM fedactors_checkpoints WHERE run = @run AND round = @round");
        cmd.Parameters.AddWithValue("run", _run);
        cmd.Parameters.AddWithValue("round", round);
        return cmd.ExecuteScalar() is byte[] data ? RunCheckpoint.FromBytes(data) : null;
    }

    public IReadOnlyList<int> KeptRounds()
    {
        using var cmd = _db.CreateCommand("SELECT round FROM fedactors_checkpoints WHERE run = @run ORDER BY round");
        cmd.Parameters.AddWithValue("run", _run);
        using var r = cmd.ExecuteReader();
        var rounds = new List<int>();
        while (r.Read()) rounds.Add(r.GetInt32(0));
        return rounds;
    }

    public IReadOnlyList<ClientState> StatesAt(int round)
    {
        using var cmd = _db.CreateCommand("""
            SELECT s.client_id, s.rounds_trained, s.last_round, s.personal, s.version FROM fedactors_client_states s
            WHERE s.run = @run AND s.version = (
                SELECT MAX(n.version) FROM fedactors_client_states n WHERE n.run = @run AND n.client_id = s.client_id AND n.version <= @round)
            ORDER BY s.client_id
            """);
        cmd.Parameters.AddWithValue("run", _run);
        cmd.Parameters.AddWithValue("round", round);
        using var r = cmd.ExecuteReader();
        return ClientStateRows.ReadAll(r);
    }

    public void RollBack(int round) =>
        Execute("DELETE FROM fedactors_client_states WHERE run = @run AND version > @round; DELETE FROM fedactors_checkpoints WHERE run = @run AND round > @round",
            ("run", _run), ("round", round));

    /// <summary>Forgets everything of this run.</summary>
    public void Clear() =>
        Execute("DELETE FROM fedactors_client_states WHERE run = @run; DELETE FROM fedactors_checkpoints WHERE run = @run", ("run", _run));

    public void Dispose() => _db.Dispose();
}
