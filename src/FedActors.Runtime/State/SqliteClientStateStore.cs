using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using Microsoft.Data.Sqlite;

namespace FedActors.Runtime.State;

/// <summary>
/// Client state and the run's checkpoints in an embedded SQLite file (DESIGN: the default store of a single-host run).
/// Client state is one row per client and version (the round whose work made it; the personal state as a blob,
/// <see cref="PersonalState.ToBytes"/>), so a passivated entity continues exactly where it stopped, and a resumed run
/// takes every client back to the committed round. Thread-safe: each call opens a pooled connection; WAL mode lets
/// readers and the writer overlap.
/// </summary>
public sealed class SqliteClientStateStore : IClientStateStore, ICheckpointStore
{
    private readonly string _connectionString;

    public SqliteClientStateStore(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS client_states (
                client_id INTEGER NOT NULL,
                version INTEGER NOT NULL,
                rounds_trained INTEGER NOT NULL,
                last_round INTEGER NOT NULL,
                personal BLOB NULL,
                PRIMARY KEY (client_id, version));
            CREATE TABLE IF NOT EXISTS checkpoints (
                round INTEGER PRIMARY KEY,
                data BLOB NOT NULL);
            """;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Whether no run has written here yet (no client state, no checkpoint).</summary>
    public bool IsEmpty()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT (SELECT COUNT(*) FROM client_states) + (SELECT COUNT(*) FROM checkpoints)";
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0;
    }

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    public ClientState? Load(int clientId)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT rounds_trained, last_round, personal, version FROM client_states WHERE client_id = $id ORDER BY version DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$id", clientId);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var personal = r.IsDBNull(2) ? null : PersonalState.FromBytes((byte[])r.GetValue(2));
        return new ClientState(clientId, r.GetInt32(0), r.GetInt32(1), personal, r.GetInt32(3));
    }

    public void Save(ClientState state) => SaveAll([state]);

    /// <summary>One transaction, one prepared statement for all rows: a commit per row would cost a WAL sync each.</summary>
    public void SaveAll(IReadOnlyCollection<ClientState> states)
    {
        if (states.Count == 0) return;
        using var c = Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO client_states (client_id, version, rounds_trained, last_round, personal) VALUES ($id, $version, $trained, $last, $personal)
            ON CONFLICT(client_id, version) DO UPDATE SET rounds_trained = excluded.rounds_trained, last_round = excluded.last_round,
                personal = excluded.personal
            """;
        var id = cmd.Parameters.Add("$id", SqliteType.Integer);
        var version = cmd.Parameters.Add("$version", SqliteType.Integer);
        var trained = cmd.Parameters.Add("$trained", SqliteType.Integer);
        var last = cmd.Parameters.Add("$last", SqliteType.Integer);
        var personal = cmd.Parameters.Add("$personal", SqliteType.Blob);
        foreach (var state in states)
        {
            id.Value = state.ClientId;
            version.Value = state.Version;
            trained.Value = state.RoundsTrained;
            last.Value = state.LastRound;
            personal.Value = state.Personal is null ? DBNull.Value : state.Personal.ToBytes();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    public void Commit(RunCheckpoint checkpoint, int keepEvery = 0)
    {
        using var c = Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        // a client version is dropped when a newer one up to this round exists and no kept checkpoint falls between them
        cmd.CommandText = """
            INSERT OR REPLACE INTO checkpoints (round, data) VALUES ($round, $data);
            DELETE FROM checkpoints WHERE round <> $round AND NOT ($every > 0 AND round % $every = 0);
            DELETE FROM client_states WHERE version < (
                    SELECT MAX(n.version) FROM client_states n WHERE n.client_id = client_states.client_id AND n.version <= $round)
                AND NOT EXISTS (SELECT 1 FROM checkpoints k WHERE k.round >= client_states.version AND k.round < (
                    SELECT MIN(n.version) FROM client_states n WHERE n.client_id = client_states.client_id AND n.version > client_states.version));
            """;
        cmd.Parameters.AddWithValue("$round", checkpoint.Round);
        cmd.Parameters.AddWithValue("$every", keepEvery);
        cmd.Parameters.AddWithValue("$data", checkpoint.ToBytes());
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    public RunCheckpoint? At(int round)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT data FROM checkpoints WHERE round = $round";
        cmd.Parameters.AddWithValue("$round", round);
        return cmd.ExecuteScalar() is byte[] data ? RunCheckpoint.FromBytes(data) : null;
    }

    public IReadOnlyList<int> KeptRounds()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT round FROM checkpoints ORDER BY round";
        using var r = cmd.ExecuteReader();
        var rounds = new List<int>();
        while (r.Read()) rounds.Add(r.GetInt32(0));
        return rounds;
    }

    public IReadOnlyList<ClientState> StatesAt(int round)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT s.client_id, s.rounds_trained, s.last_round, s.personal, s.version FROM client_states s
            WHERE s.version = (SELECT MAX(n.version) FROM client_states n WHERE n.client_id = s.client_id AND n.version <= $round)
            ORDER BY s.client_id
            """;
        cmd.Parameters.AddWithValue("$round", round);
        using var r = cmd.ExecuteReader();
        return ClientStateRows.ReadAll(r);
    }

    public RunCheckpoint? Last()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT data FROM checkpoints ORDER BY round DESC LIMIT 1";
        return cmd.ExecuteScalar() is byte[] data ? RunCheckpoint.FromBytes(data) : null;
    }

    public void RollBack(int round)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM client_states WHERE version > $round; DELETE FROM checkpoints WHERE round > $round";
        cmd.Parameters.AddWithValue("$round", round);
        cmd.ExecuteNonQuery();
    }
}
