using FedActors.Core.Personalisation;
using Microsoft.Data.Sqlite;

namespace FedActors.Runtime.State;

/// <summary>
/// Client state in an embedded SQLite file (DESIGN: the default store of a single-host run), one row per client (the
/// personal state as a blob, <see cref="PersonalState.ToBytes"/>), so a
/// passivated entity — or a later run resuming from the same file — continues exactly where it stopped. Thread-safe:
/// each call opens a pooled connection; WAL mode lets readers and the writer overlap.
/// </summary>
public sealed class SqliteClientStateStore : IClientStateStore
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
            CREATE TABLE IF NOT EXISTS client_state (
                client_id INTEGER PRIMARY KEY,
                rounds_trained INTEGER NOT NULL,
                last_round INTEGER NOT NULL,
                personal BLOB NULL);
            """;
        cmd.ExecuteNonQuery();
        // A file written before personal state existed: add the column.
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('client_state') WHERE name = 'personal'";
        if (Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            cmd.CommandText = "ALTER TABLE client_state ADD COLUMN personal BLOB NULL";
            cmd.ExecuteNonQuery();
        }
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
        cmd.CommandText = "SELECT rounds_trained, last_round, personal FROM client_state WHERE client_id = $id";
        cmd.Parameters.AddWithValue("$id", clientId);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var personal = r.IsDBNull(2) ? null : PersonalState.FromBytes((byte[])r.GetValue(2));
        return new ClientState(clientId, r.GetInt32(0), r.GetInt32(1), personal);
    }

    public void Save(ClientState state)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO client_state (client_id, rounds_trained, last_round, personal) VALUES ($id, $trained, $last, $personal)
            ON CONFLICT(client_id) DO UPDATE SET rounds_trained = excluded.rounds_trained, last_round = excluded.last_round,
                personal = excluded.personal
            """;
        cmd.Parameters.AddWithValue("$id", state.ClientId);
        cmd.Parameters.AddWithValue("$trained", state.RoundsTrained);
        cmd.Parameters.AddWithValue("$last", state.LastRound);
        cmd.Parameters.AddWithValue("$personal", state.Personal is null ? DBNull.Value : state.Personal.ToBytes());
        cmd.ExecuteNonQuery();
    }
}
