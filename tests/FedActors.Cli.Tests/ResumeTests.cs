using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary><c>fedactors run --resume</c>: a run killed with SIGKILL in the middle of a round continues after its last
/// committed round and gives the rounds an uninterrupted run gives.</summary>
[Collection("Cli")]
public class ResumeTests : IDisposable
{
    public void Dispose() => RunScriptTests.KillLeftovers();

    private static readonly string Root = RunScriptTests.Root;

    /// <summary>FedALA (personal state that matters), 4 rounds of 5 of 10 clients on a slice.</summary>
    private static readonly string[] Experiment =
    [
        "hocon/experiments/quickstart.conf", "--set", "fedactors.rounds=4", "--set", "fedactors.data.limit=3000", "--set", "fedactors.clients.count=10",
        "--set", "fedactors.clients.per-round=5", "--set", "fedactors.personalization.method=fedala",
    ];

    private static string[] Rounds(string folder)
    {
        var lines = File.ReadAllLines(Path.Combine(folder, "rounds.csv"));
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length).Where(i => header[i] is not ("round_ms" or "compute_ms")).ToArray();
        return lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i]))).ToArray();
    }

    private static long Scalar(string db, string sql)
    {
        try
        {
            using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            return cmd.ExecuteScalar() is long v ? v : -1;
        }
        catch (SqliteException) { return -1; } // the run has made the file but not its tables yet
    }

    [Fact]
    public void A_run_killed_mid_round_and_resumed_should_give_the_rounds_of_an_uninterrupted_run()
    {
        // arrange: the uninterrupted run
        var full = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Experiment, "--out", full]);
        Assert.True(code == 0, o + e);
        var expected = Rounds(Directory.GetDirectories(full).Single());

        // act: the same run, killed (SIGKILL) once round 2 is committed and a client of round 3 has saved its state
        var killedRoot = RunScriptTests.TempDir();
        using var p = RunScriptTests.Start(["run", .. Experiment, "--out", killedRoot]);
        string? folder = null;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3) && !p.HasExited)
        {
            folder ??= Directory.GetDirectories(killedRoot).SingleOrDefault();
            var db = folder is null ? null : Path.Combine(folder, "client-state.db");
            if (db is not null && File.Exists(db)
                && Scalar(db, "SELECT MAX(round) FROM checkpoints") == 2 && Scalar(db, "SELECT MAX(version) FROM client_states") == 3)
                break;
            Thread.Sleep(20);
        }
        Assert.False(p.HasExited, "the run ended before it could be killed in round 3");
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
        Assert.True(File.ReadAllLines(Path.Combine(folder!, "rounds.csv")).Length <= 3, "round 3 finished before the kill");
        (code, o, e) = RunScriptTests.RunScript("run", "--resume", folder!);

        // assert
        Assert.True(code == 0, o + e);
        Assert.Contains("resuming", o);
        Assert.Equal(expected, Rounds(folder!));
        Assert.Equal(File.ReadAllText(Path.Combine(Directory.GetDirectories(full).Single(), "clients.csv")), File.ReadAllText(Path.Combine(folder!, "clients.csv")));
    }

    [Fact]
    public void A_run_stopped_inside_its_first_round_should_start_again_when_resumed()
    {
        // arrange: a FedALA run of 2 rounds, then its folder as a kill inside round 1 leaves it — client states saved, no
        // round committed, no rounds.csv
        var runs = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Experiment, "--set", "fedactors.rounds=2", "--out", runs]);
        Assert.True(code == 0, o + e);
        var run = Directory.GetDirectories(runs).Single();
        var uninterrupted = Rounds(run);
        using (var db = new SqliteConnection($"Data Source={Path.Combine(run, "client-state.db")};Pooling=False"))
        {
            db.Open();
            using var forget = db.CreateCommand();
            forget.CommandText = "DELETE FROM checkpoints";
            Assert.True(forget.ExecuteNonQuery() > 0);
        }
        File.Delete(Path.Combine(run, "rounds.csv"));

        // act
        (code, o, e) = RunScriptTests.RunScript("run", "--resume", run);

        // assert: it says so and runs from round 1 to the uninterrupted rounds (before: refused, "at least one committed round")
        Assert.True(code == 0, o + e);
        Assert.Contains("starting it again from round 1", o);
        Assert.Equal(uninterrupted, Rounds(run));
    }

    [Fact]
    public void A_run_made_before_a_setting_existed_should_resume_with_that_settings_default()
    {
        // arrange: a run of 3 rounds keeping every checkpoint, taken back to round 2 as a kill there leaves it, and made to look
        // as a FedActors without fedactors.device.batch-wait left it: config.conf without the key, and the round-2 checkpoint
        // carrying that version's hash (the hash of every key its config.conf names)
        var runs = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Experiment, "--set", "fedactors.rounds=3", "--set", "fedactors.state.keep-every=1", "--out", runs]);
        Assert.True(code == 0, o + e);
        var run = Directory.GetDirectories(runs).Single();
        var uninterrupted = Rounds(run);
        var configPath = Path.Combine(run, "config.conf");
        using (var db = new SqliteConnection($"Data Source={Path.Combine(run, "client-state.db")};Pooling=False"))
        {
            db.Open();
            using var forget = db.CreateCommand();
            forget.CommandText = "DELETE FROM checkpoints WHERE round = 3";
            Assert.Equal(1, forget.ExecuteNonQuery());
        }
        var older = RunScriptTests.MadeBeforeBatchWait(run, 2);
        File.WriteAllLines(Path.Combine(run, "rounds.csv"), File.ReadAllLines(Path.Combine(run, "rounds.csv")).Take(3));

        // act: first with a value of the older config.conf edited (refused), then as it was
        File.WriteAllText(configPath, older.Replace("seed = \"42\"", "seed = \"43\""));
        (code, _, e) = RunScriptTests.RunScript("run", "--resume", run);
        Assert.Equal(2, code);
        Assert.Contains("config.conf differs", e);
        File.WriteAllText(configPath, older);
        (code, o, e) = RunScriptTests.RunScript("run", "--resume", run);

        // assert: resumed after round 2 with the setting's default, the uninterrupted rounds; config.conf names the setting
        // again and the checkpoint carries today's hash (before: refused, "config.conf differs")
        Assert.True(code == 0, o + e);
        Assert.Contains("resuming", o);
        // (the console wraps long lines at word breaks when it is not a terminal)
        Assert.Contains("fedactors.device.batch-wait = \"20ms\"", string.Join(' ', o.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(uninterrupted, Rounds(run));
        var today = File.ReadAllText(configPath);
        Assert.Contains("batch-wait", today);
        (code, o, e) = RunScriptTests.RunScript("run", "--resume", run);
        Assert.True(code == 0, o + e);
        Assert.DoesNotContain("earlier FedActors", o);
        Assert.Equal(uninterrupted, Rounds(run));

        // a kill between the checkpoint's re-commit and config.conf's rewrite leaves today's hash with the older file: the
        // next resume takes it and rewrites the file
        File.WriteAllText(configPath, older);
        (code, o, e) = RunScriptTests.RunScript("run", "--resume", run);
        Assert.True(code == 0, o + e);
        Assert.Contains("batch-wait", File.ReadAllText(configPath));
    }

    [Fact]
    public void Resume_should_refuse_a_folder_without_a_committed_round_a_changed_config_and_overrides()
    {
        // a folder with only a config.conf: no state file
        var dir = RunScriptTests.TempDir();
        File.Copy(Path.Combine(Root, "hocon/experiments/quickstart.conf"), Path.Combine(dir, "config.conf"));
        var (code, _, err) = RunScriptTests.RunScript("run", "--resume", dir);
        Assert.Equal(2, code);
        Assert.Contains("client-state.db does not exist", err);

        // a finished run whose config.conf was edited afterwards
        var runs = RunScriptTests.TempDir();
        (code, var o, err) = RunScriptTests.RunScript("run", "hocon/experiments/quickstart.conf", "--out", runs, "--set", "fedactors.rounds=1",
            "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10");
        Assert.True(code == 0, o + err);
        var run = Directory.GetDirectories(runs).Single();
        var config = Path.Combine(run, "config.conf");
        File.WriteAllText(config, File.ReadAllText(config).Replace("seed = \"42\"", "seed = \"43\""));
        Assert.Contains("seed = \"43\"", File.ReadAllText(config));
        (code, _, err) = RunScriptTests.RunScript("run", "--resume", run);
        Assert.Equal(2, code);
        Assert.Contains("config.conf differs", err);

        // overrides are not a resume
        (code, _, err) = RunScriptTests.RunScript("run", "--resume", run, "--set", "fedactors.rounds=3");
        Assert.Equal(2, code);
        Assert.Contains("no config file and no --set", err);
    }

    [Fact]
    public void A_run_should_keep_its_checkpoints_in_PostgreSQL_and_resume_from_there()
    {
        using var postgres = new TestSupport.PostgresServer();
        // (the throwaway server trusts its user: the password is there to show that it is never written out)
        string[] run = ["hocon/experiments/quickstart.conf", "--set", "fedactors.rounds=2", "--set", "fedactors.data.limit=2000",
            "--set", "fedactors.clients.count=10", "--set", "fedactors.state.store=postgres",
            "--set", $"fedactors.state.connection=\"{postgres.ConnectionString};Password=s3cret\""];
        var runs = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. run, "--out", runs]);
        Assert.True(code == 0, o + e);
        var folder = Directory.GetDirectories(runs).Single();
        Assert.False(File.Exists(Path.Combine(folder, "client-state.db")));

        foreach (var file in Directory.GetFiles(folder)) Assert.DoesNotContain("s3cret", File.ReadAllText(file));

        (code, o, e) = RunScriptTests.RunScript("run", "--resume", folder);
        Assert.True(code == 0, o + e);
        Assert.Contains("after round 2 of 2", o);

        // the same experiment again would clear that run's checkpoints: refused
        (code, _, e) = RunScriptTests.RunScript(["run", .. run, "--out", RunScriptTests.TempDir()]);
        Assert.Equal(2, code);
        Assert.Contains("another fedactors.name", e);
    }

    [Fact]
    public void An_unreachable_PostgreSQL_should_stop_the_run_before_it_starts_naming_the_server_but_not_the_password()
    {
        var runs = RunScriptTests.TempDir();
        var (code, _, err) = RunScriptTests.RunScript("run", "hocon/experiments/quickstart.conf", "--out", runs, "--set", "fedactors.state.store=postgres",
            "--set", "fedactors.state.connection=\"Host=127.0.0.1;Port=1;Database=fl;Username=u;Password=s3cret;Timeout=3\"");
        Assert.Equal(2, code);
        Assert.Contains("host 127.0.0.1:1, database fl", err);
        Assert.DoesNotContain("s3cret", err);
        Assert.Empty(Directory.GetDirectories(runs));
    }

    [Fact]
    public void A_fork_from_a_kept_round_should_replay_the_original_unchanged_or_go_its_own_way_with_overrides()
    {
        // arrange: the original run, keeping every second round
        var original = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Experiment, "--set", "fedactors.state.keep-every=2", "--out", original]);
        Assert.True(code == 0, o + e);
        var folder = Directory.GetDirectories(original).Single();
        var before = File.ReadAllText(Path.Combine(folder, "rounds.csv"));
        using (var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json"))))
        {
            Assert.Equal([2, 4], summary.RootElement.GetProperty("kept_rounds").EnumerateArray().Select(r => r.GetInt32()));
            Assert.True(summary.RootElement.GetProperty("state_bytes").GetInt64() > 0);
        }

        // act: a fork from round 2 with nothing changed, one with another learning rate, one from a round not kept
        string Fork(params string[] sets)
        {
            var dir = RunScriptTests.TempDir();
            var (c, fo, fe) = RunScriptTests.RunScript(["run", "--resume", folder, "--from-round", "2", "--out", dir, .. sets]);
            Assert.True(c == 0, fo + fe);
            Assert.Contains("forked", fo);
            return Directory.GetDirectories(dir).Single();
        }
        var same = Fork();
        var other = Fork("--set", "fedactors.train.learning-rate=0.01");
        (code, _, e) = RunScriptTests.RunScript("run", "--resume", folder, "--from-round", "1", "--out", RunScriptTests.TempDir());

        // assert
        Assert.Equal(Rounds(folder), Rounds(same));
        var clients = File.ReadAllLines(Path.Combine(folder, "clients.csv"));
        Assert.Equal(clients, File.ReadAllLines(Path.Combine(same, "clients.csv")));  // rounds 1–2 copied, 3–4 run again
        Assert.Equal(clients.Where(l => l[0] is 'r' or '1' or '2'), File.ReadAllLines(Path.Combine(other, "clients.csv")).Where(l => l[0] is 'r' or '1' or '2'));
        Assert.NotEqual(clients, File.ReadAllLines(Path.Combine(other, "clients.csv")));
        Assert.Equal(Rounds(folder)[..3], Rounds(other)[..3]);       // header and rounds 1–2 are the original's
        Assert.NotEqual(Rounds(folder)[3..], Rounds(other)[3..]);    // rounds 3–4 went another way
        Assert.Equal(2, code);
        Assert.Contains("kept: 2, 4", e);
        Assert.Equal(before, File.ReadAllText(Path.Combine(folder, "rounds.csv"))); // the original is only read
        Assert.Contains("learning-rate = \"0.01\"", File.ReadAllText(Path.Combine(other, "config.conf")));
    }
}
