using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary>Drives <c>./run.sh</c> as a user does (set-up skipped: this build is the one under test).</summary>
[Collection("Cli")]
public class RunScriptTests
{
    internal static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "FedActors.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    private static readonly System.Collections.Concurrent.ConcurrentBag<Process> Started = [];

    /// <summary>Kills what <see cref="Start"/> started and is still running: a test that failed midway leaves no node behind.</summary>
    internal static void KillLeftovers()
    {
        foreach (var p in Started)
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { } // disposed or never started
    }

    /// <summary>Starts <c>./run.sh ARGS</c> (which execs the CLI, so killing this process kills the run).</summary>
    internal static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Root, "run.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FEDACTORS_SKIP_SETUP"] = "1";
        psi.Environment["FEDACTORS_CLI"] = Path.Combine(AppContext.BaseDirectory, "fedactors.dll");
        var p = Process.Start(psi)!;
        Started.Add(p);
        var printed = Printed.GetOrCreateValue(p); // drained, so a full pipe never blocks the run, and kept for failure messages
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (printed) printed.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (printed) printed.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Text.StringBuilder> Printed = new();

    /// <summary>What a process from <see cref="Start"/> has printed so far (stdout and stderr interleaved; the last 20,000 characters).</summary>
    internal static string Output(Process p)
    {
        // the asynchronous readers reach the end of both pipes (bounded: a leftover child could hold a pipe open)
        if (p.HasExited) Task.Run(p.WaitForExit).Wait(TimeSpan.FromSeconds(10));
        if (!Printed.TryGetValue(p, out var printed)) return "";
        lock (printed) return printed.Length <= 20_000 ? printed.ToString() : printed.ToString(printed.Length - 20_000, 20_000);
    }

    internal static (int Code, string Out, string Err) RunScript(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Root, "run.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FEDACTORS_SKIP_SETUP"] = "1";
        psi.Environment["FEDACTORS_CLI"] = Path.Combine(AppContext.BaseDirectory, "fedactors.dll");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("run.sh did not finish in 5 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    internal static string TempDir() => Directory.CreateTempSubdirectory("fedactors-cli-").FullName;

    /// <summary>A run (or matrix cell) folder made to look as a FedActors without <c>fedactors.device.batch-wait</c> left
    /// it: config.conf without the key, and the checkpoint of <paramref name="round"/> carrying that version's hash (the
    /// hash of every key its config.conf names). Returns that config.conf's text.</summary>
    internal static string MadeBeforeBatchWait(string folder, int round)
    {
        var configPath = Path.Combine(folder, "config.conf");
        var older = string.Join('\n', File.ReadAllLines(configPath).Where(l => !l.Contains("batch-wait")));
        Assert.NotEqual(File.ReadAllText(configPath).TrimEnd(), older.TrimEnd());
        File.WriteAllText(configPath, older);
        var olderHash = Runtime.Settings.HoconText.ExperimentHash(Akka.Configuration.ConfigurationFactory.ParseString(older));
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(folder, "client-state.db")};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT data FROM checkpoints WHERE round = $round";
        cmd.Parameters.AddWithValue("$round", round);
        var checkpoint = Core.Simulation.RunCheckpoint.FromBytes((byte[])cmd.ExecuteScalar()!) with { ConfigHash = olderHash };
        cmd.CommandText = "UPDATE checkpoints SET data = $data WHERE round = $round";
        cmd.Parameters.AddWithValue("$data", checkpoint.ToBytes());
        Assert.Equal(1, cmd.ExecuteNonQuery());
        return older;
    }

    [Fact]
    public void The_quickstart_should_run_end_to_end_on_a_small_slice_and_write_the_run_folder()
    {
        // arrange: the real quickstart file, shrunk to 3 rounds on 5,000 samples
        var outDir = TempDir();
        // act
        var (code, stdout, stderr) = RunScript("run", "hocon/experiments/quickstart.conf", "--out", outDir,
            "--set", "fedactors.rounds=3", "--set", "fedactors.data.limit=5000", "--set", "fedactors.clients.count=20");
        // assert
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var run = Assert.Single(Directory.GetDirectories(outDir));
        Assert.StartsWith("quickstart-", Path.GetFileName(run));
        foreach (var f in new[] { "config.conf", "rounds.csv", "summary.json", "events.clef", "accuracy.png", "loss.png", "partition.json", "client-state.db" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"{f} missing");
        var csv = File.ReadAllLines(Path.Combine(run, "rounds.csv"));
        Assert.Equal(4, csv.Length);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        Assert.Equal(3, summary.RootElement.GetProperty("rounds").GetInt32());
        Assert.InRange(summary.RootElement.GetProperty("final_accuracy").GetDouble(), 0.3, 1.0);
        var clef = File.ReadAllLines(Path.Combine(run, "events.clef"));
        Assert.Equal(3, clef.Count(l => l.Contains("\"Event\":\"RoundCompleted\"")));
        Assert.Contains(clef, l => l.Contains("\"Event\":\"RunStarted\""));
        Assert.Contains(clef, l => l.Contains("\"Event\":\"RunCompleted\""));
        Assert.Contains("final accuracy", stdout);
        var png = File.ReadAllBytes(Path.Combine(run, "accuracy.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }

    [Fact]
    public async Task A_run_should_execute_a_snapshot_of_the_build_that_a_later_build_cannot_rewrite()
    {
        // arrange: run.sh as a user starts it (no FEDACTORS_CLI), on the build in this checkout, snapshots in a temp folder
        var snapshots = TempDir();
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(Root, "run.sh"), "run", "hocon/experiments/quickstart.conf", "--out", TempDir(), "--set", "fedactors.rounds=1",
                     "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10" }) psi.ArgumentList.Add(a);
        psi.Environment["FEDACTORS_SKIP_SETUP"] = "1";
        psi.Environment.Remove("FEDACTORS_CLI");
        psi.Environment["FEDACTORS_SNAPSHOTS"] = snapshots;

        // act
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "the run did not finish");

        // assert: it ran, from a snapshot whose own assemblies are copies (one link), not hard links into bin/ and obj/
        Assert.True(p.ExitCode == 0, await output + await error);
        var snap = Assert.Single(Directory.GetDirectories(snapshots, "cli-*"));
        Assert.True(File.Exists(Path.Combine(snap, "fedactors.dll")));
        var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%h", Path.Combine(snap, "FedActors.Core.dll")]) { RedirectStandardOutput = true })!;
        stat.WaitForExit();
        Assert.Equal("1", stat.StandardOutput.ReadToEnd().Trim());
    }

    [Fact]
    public void A_diverging_run_should_exit_non_zero_naming_the_round_and_keep_the_round_in_rounds_csv()
    {
        // arrange: a learning rate of 1000 makes every client's update non-finite in round 1
        var outDir = TempDir();
        // act
        var (code, stdout, stderr) = RunScript("run", "hocon/experiments/quickstart.conf", "--out", outDir,
            "--set", "fedactors.rounds=3", "--set", "fedactors.data.limit=3000", "--set", "fedactors.clients.count=10",
            "--set", "fedactors.train.learning-rate=1000");
        // assert
        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("round 1 failed its health check", stdout);
        var csv = File.ReadAllLines(Path.Combine(Directory.GetDirectories(outDir).Single(), "rounds.csv"));
        Assert.Equal(2, csv.Length);
        var health = Array.IndexOf(csv[0].Split(','), "health");
        Assert.Contains("rejected", csv[1].Split(',')[health]);
    }

    [Fact]
    public void A_run_repeated_from_its_config_conf_should_give_an_identical_rounds_csv_timing_aside()
    {
        (string Folder, string[] Rounds) Run(params string[] args)
        {
            var outDir = TempDir();
            var (code, o, e) = RunScript(["run", .. args, "--out", outDir]);
            Assert.True(code == 0, o + e);
            var folder = Directory.GetDirectories(outDir).Single();
            var lines = File.ReadAllLines(Path.Combine(folder, "rounds.csv"));
            var header = lines[0].Split(',');
            var keep = Enumerable.Range(0, header.Length).Where(i => header[i] is not ("round_ms" or "compute_ms")).ToArray();
            return (folder, lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i]))).ToArray());
        }

        // the experiment file plus overrides, then nothing but the config.conf the first run wrote
        var first = Run("hocon/experiments/quickstart.conf",
            "--set", "fedactors.rounds=3", "--set", "fedactors.data.limit=4000", "--set", "fedactors.clients.count=20", "--set", "fedactors.seed=7");
        var again = Run(Path.Combine(first.Folder, "config.conf"));

        Assert.Equal(first.Rounds, again.Rounds);
        Assert.Equal(4, again.Rounds.Length);
        Assert.Equal(7, Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(again.Folder, "config.conf"))).GetInt("fedactors.seed"));
    }

    [Fact]
    public void A_personalised_run_should_report_each_clients_accuracy_and_compare_should_chart_it_against_FedAvg()
    {
        // arrange: the PFLlib experiment file on a small synthetic stand-in (6 clients, MLP, 3 rounds)
        var outDir = TempDir();
        string Run(string method)
        {
            var dir = Path.Combine(outDir, method);
            var (code, o, e) = RunScript("run", "hocon/experiments/pfl-fmnist-dir01.conf", "--out", dir,
                "--set", "fedactors.data.dataset=synthetic", "--set", "fedactors.data.synthetic-samples=1500", "--set", "fedactors.model.kind=mlp",
                "--set", "fedactors.clients.count=6", "--set", "fedactors.rounds=3", "--set", $"fedactors.personalization.method={method}");
            Assert.True(code == 0, $"exit {code}\n{o}\n{e}");
            return Directory.GetDirectories(dir).Single();
        }

        // act
        var fedala = Run("fedala");
        var fedavg = Run("none");
        var (compareCode, compareOut, compareErr) = RunScript("compare", fedala, fedavg, "--out", Path.Combine(outDir, "cmp"));

        // assert: every round evaluates all 6 clients' own models, with their spread
        var csv = File.ReadAllLines(Path.Combine(fedala, "rounds.csv"));
        var header = csv[0].Split(',');
        Assert.Equal(4, csv.Length);
        foreach (var line in csv.Skip(1))
        {
            var f = line.Split(',');
            Assert.Equal("6", f[Array.IndexOf(header, "evaluated_clients")]);
            double min = double.Parse(f[Array.IndexOf(header, "client_accuracy_min")], System.Globalization.CultureInfo.InvariantCulture);
            double max = double.Parse(f[Array.IndexOf(header, "client_accuracy_max")], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(min, 0, max);
        }
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(fedala, "summary.json")));
        Assert.Equal("fedala", summary.RootElement.GetProperty("personalization").GetString());
        // compare: one row per run, labelled by method, and the chart
        Assert.True(compareCode == 0, compareOut + compareErr);
        var md = File.ReadAllText(Path.Combine(outDir, "cmp", "compare.md"));
        Assert.Contains("| fedala | 3 |", md);
        Assert.Contains("| fedavg | 3 |", md);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(outDir, "cmp", "compare.png"))[..4]);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(outDir, "cmp", "compare-top.png"))[..4]);
    }

    [Fact]
    public void A_personalised_run_under_attack_should_write_each_clients_accuracy_per_round_to_clients_csv()
    {
        // arrange: FedALA on the synthetic stand-in, 6 clients of which 1 and 4 flip their signs, every client evaluated
        string[] Args(string dir, params string[] more) =>
        [
            "run", "hocon/experiments/pfl-fmnist-dir01.conf", "--out", dir, "--set", "fedactors.data.dataset=synthetic",
            "--set", "fedactors.data.synthetic-samples=1500", "--set", "fedactors.model.kind=mlp", "--set", "fedactors.clients.count=6",
            "--set", "fedactors.rounds=2", "--set", "fedactors.personalization.method=fedala", "--set", "fedactors.attack.kind=sign-flip",
            "--set", "fedactors.attack.ids=[1,4]", "--set", "fedactors.personalization.evaluate=all", .. more,
        ];
        var outDir = TempDir();
        var off = TempDir();

        // act
        var (code, o, e) = RunScript(Args(outDir));
        var (offCode, offOut, offErr) = RunScript(Args(off, "--set", "fedactors.rounds=1", "--set", "fedactors.monitoring.clients-csv=off"));

        // assert: a row per client per round, whose pooled accuracy and spread are rounds.csv's, malicious where attacked
        Assert.True(code == 0, o + e);
        var run = Directory.GetDirectories(outDir).Single();
        var rows = File.ReadAllLines(Path.Combine(run, "clients.csv"));
        Assert.Equal("round,client,malicious,test_samples,correct,accuracy,loss,attack_success", rows[0]);
        var cells = rows.Skip(1).Select(r => r.Split(',')).ToArray();
        Assert.Equal(12, cells.Length);
        var rounds = File.ReadAllLines(Path.Combine(run, "rounds.csv"));
        var header = rounds[0].Split(',');
        double Col(string[] f, string name) => double.Parse(f[Array.IndexOf(header, name)], System.Globalization.CultureInfo.InvariantCulture);
        foreach (var line in rounds.Skip(1))
        {
            var f = line.Split(',');
            var mine = cells.Where(c => c[0] == f[0]).ToArray();
            Assert.Equal(["0", "1", "2", "3", "4", "5"], mine.Select(c => c[1]));
            Assert.Equal(["0", "1", "0", "0", "1", "0"], mine.Select(c => c[2]));
            Assert.Equal(Col(f, "accuracy"), (double)mine.Sum(c => long.Parse(c[4])) / mine.Sum(c => long.Parse(c[3])));
            var accuracies = mine.Select(c => double.Parse(c[5], System.Globalization.CultureInfo.InvariantCulture)).Order().ToArray();
            Assert.Equal(Col(f, "client_accuracy_min"), accuracies[0]);
            Assert.Equal(Col(f, "client_accuracy_median"), (accuracies[2] + accuracies[3]) / 2);
            Assert.Equal(Col(f, "client_accuracy_max"), accuracies[^1]);
            Assert.All(mine, c => Assert.Equal((double)long.Parse(c[4]) / long.Parse(c[3]), double.Parse(c[5], System.Globalization.CultureInfo.InvariantCulture)));
        }
        Assert.True(offCode == 0, offOut + offErr);
        Assert.False(File.Exists(Path.Combine(Directory.GetDirectories(off).Single(), "clients.csv")));
    }

    [Theory]
    [InlineData("fedactors.rounds=ten", "fedactors.rounds")]
    [InlineData("fedactors.rounds=0", "fedactors.rounds")]
    [InlineData("fedactors.clients.cont=10", "fedactors.clients.cont")]
    [InlineData("fedactors.clients.per-round=500", "fedactors.clients.per-round")]
    [InlineData("fedactors.data.directory=/nonexistent", "fedactors.data.directory")]
    [InlineData("fedactors.defence.rule=krum2", "fedactors.defence.rule")]
    [InlineData("fedactors.state.store=redis", "fedactors.state.store")]
    [InlineData("fedactors.personalization.method=fedavg2", "fedactors.personalization.method")]
    [InlineData("fedactors.personalization.fedala.sample-percent=120", "fedactors.personalization.fedala.sample-percent")]
    public void Invalid_input_should_exit_2_naming_the_key_and_write_nothing(string set, string key)
    {
        var outDir = TempDir();
        var (code, stdout, stderr) = RunScript("run", "hocon/experiments/quickstart.conf", "--out", outDir, "--set", set);
        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains(key, stderr);
        Assert.StartsWith("error: ", stderr);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void A_missing_config_file_should_exit_2()
    {
        var outDir = TempDir();
        var (code, _, stderr) = RunScript("run", "hocon/experiments/nope.conf", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("nope.conf", stderr);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Help_should_list_the_verbs()
    {
        var (code, stdout, _) = RunScript("--help");
        Assert.Equal(0, code);
        // each verb on its own line of the Commands section, with its description ("run.sh" in the usage line does not count)
        var commands = stdout[stdout.IndexOf("Commands:", StringComparison.Ordinal)..].Split('\n').Select(l => l.Trim()).ToArray();
        foreach (var verb in new[] { "run", "node", "matrix", "bench", "compare", "inject", "status" })
            Assert.Contains(commands, l => System.Text.RegularExpressions.Regex.IsMatch(l, $"^{verb}( <[^>]+>)?\\s{{2,}}\\S"));
    }
}

[CollectionDefinition("Cli", DisableParallelization = true)]
public sealed class CliCollection;

[Collection("Cli")]
public class MatrixCommandTests
{
    [Fact]
    public async Task A_small_matrix_should_write_its_table_csv_and_heatmap_with_one_row_per_cell()
    {
        // arrange: a synthetic grid of 2 attacks × 2 defences over 2 seeds
        var conf = Path.Combine(Path.GetTempPath(), $"matrix-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(conf, """
            fedactors {
              name = "mini"
              rounds = 2
              data { dataset = synthetic, synthetic-samples = 1200 }
              clients { count = 10, per-round = 10 }
              train.learning-rate = 0.05
              attack { fraction = 0.2, sign-flip.scale = 4 }
              defence.krum.f = 2
            }
            """);
        var outDir = Directory.CreateTempSubdirectory("fedactors-matrix-").FullName;
        // act
        int code = await Commands.MatrixCommand.ExecuteAsync(conf, ["none", "sign-flip"], ["fedavg", "krum"], ["off"], ["1", "2"], [], outDir, CancellationToken.None);
        // assert
        Assert.Equal(0, code);
        var dir = Assert.Single(Directory.GetDirectories(outDir));
        var csv = await File.ReadAllLinesAsync(Path.Combine(dir, "matrix.csv"));
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("attack,defence,pill,seeds,final_accuracy_mean", csv[0]);
        Assert.Contains(csv, l => l.StartsWith("sign-flip,krum,off,2,"));
        Assert.True(File.Exists(Path.Combine(dir, "heatmap.png")));
        Assert.Contains("| sign-flip | fedavg | off | 2 |", await File.ReadAllTextAsync(Path.Combine(dir, "matrix.md")));
        Assert.Equal(8, Directory.GetDirectories(dir).Length); // one run folder per cell and seed
        // the row's statistics are its seeds' own numbers: mean and sample std (n − 1) of their summary.json
        var row = csv.Single(l => l.StartsWith("sign-flip,krum,off,2,")).Split(',');
        var header = csv[0].Split(',');
        double Column(string name) => double.Parse(row[Array.IndexOf(header, name)], System.Globalization.CultureInfo.InvariantCulture);
        var seeds = new[] { 1, 2 }.Select(seed => Output.RunReport.ReadSummaryJson(Path.Combine(dir, $"sign-flip-krum-pill-off-seed-{seed}", "summary.json"))!).ToArray();
        double a = seeds[0].FinalAccuracy, b = seeds[1].FinalAccuracy;
        Assert.Equal((a + b) / 2, Column("final_accuracy_mean"), 12);
        Assert.Equal(Math.Abs(a - b) / Math.Sqrt(2), Column("final_accuracy_std"), 12);
        Assert.Equal(seeds.Average(x => x.FalseNegativeRate), Column("fnr_mean"), 12);
        Assert.Equal(seeds.Average(x => x.FalsePositiveRate), Column("fpr_mean"), 12);
        // the worst-served tenth of the benign clients: of 8 benign (2 of 10 malicious), the 1 lowest at the last round
        double Worst(int seed)
        {
            var rows = File.ReadAllLines(Path.Combine(dir, $"sign-flip-krum-pill-off-seed-{seed}", "clients.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
            var last = rows.Where(r => r[0] == "2" && r[2] == "0").ToArray();
            Assert.Equal(8, last.Length);
            return last.Min(r => double.Parse(r[5], System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal((Worst(1) + Worst(2)) / 2, Column("worst_tenth_mean"), 12);
        Assert.Contains("worst 10 % of benign clients", await File.ReadAllTextAsync(Path.Combine(dir, "matrix.md")));
    }

    [Fact]
    public async Task A_matrix_with_an_unknown_defence_should_stop_before_any_run()
    {
        var conf = Path.Combine(Path.GetTempPath(), $"matrix-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(conf, "fedactors.data { dataset = synthetic }");
        var outDir = Directory.CreateTempSubdirectory("fedactors-matrix-").FullName;
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        int code;
        try { code = await Commands.MatrixCommand.ExecuteAsync(conf, ["none"], ["krumm"], ["off"], [], [], outDir, CancellationToken.None); }
        finally { Console.SetError(saved); }
        Assert.Equal(2, code);
        Assert.Contains("fedactors.defence.rule", error.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }
}
