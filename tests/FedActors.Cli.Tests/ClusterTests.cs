using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary>Runs over several OS processes on loopback, as a user starts them: <c>fedactors run --port</c> and
/// <c>fedactors node --join</c>, sharing a real (throwaway) PostgreSQL server. Nothing is mocked.</summary>
[Collection("Cli")]
public class ClusterTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IDisposable
{
    public void Dispose() => RunScriptTests.KillLeftovers();

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private string[] Shared(int rounds, params string[] more) =>
    [
        "--set", $"fedactors.rounds={rounds}", "--set", "fedactors.data.limit=3000", "--set", "fedactors.clients.count=12",
        "--set", "fedactors.clients.per-round=8", "--set", "fedactors.clients.dropout.probability=0", "--set", "fedactors.clients.dropout.flaky-fraction=0", "--set", "fedactors.round.deadline-seconds=0",
        "--set", "fedactors.state.store=postgres", "--set", $"fedactors.state.connection=\"{postgres.ConnectionString}\"", .. more,
    ];

    private static string[] Rounds(string runsRoot)
    {
        var lines = File.ReadAllLines(Path.Combine(Directory.GetDirectories(runsRoot).Single(), "rounds.csv"));
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length).Where(i => header[i] is not ("round_ms" or "compute_ms")).ToArray();
        return lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i]))).ToArray();
    }

    [Theory]
    [InlineData(1, "none")]
    [InlineData(4, "none")] // client-batched: each node's worker batches the tasks it gets; a client's update does not depend on its company
    [InlineData(4, "fedala")] // batched personal training: each client's own model from PostgreSQL, ALA one at a time around the batch
    public async Task Three_nodes_should_share_the_clients_and_give_the_rounds_of_one_node(int batchClients, string personalisation)
    {
        // arrange: the one-node run (SQLite)
        var one = RunScriptTests.TempDir();
        string[] experiment = ["hocon/experiments/quickstart.conf", "--set", "fedactors.rounds=3", "--set", "fedactors.data.limit=3000",
            "--set", "fedactors.clients.count=12", "--set", "fedactors.clients.per-round=8", "--set", $"fedactors.device.batch-clients={batchClients}",
            "--set", $"fedactors.personalization.method={personalisation}"];
        var (code, o, e) = RunScriptTests.RunScript(["run", .. experiment, "--out", one]);
        Assert.True(code == 0, o + e);
        if (batchClients > 1)
        {
            Assert.Contains($"batched, {batchClients} clients a call", System.Text.RegularExpressions.Regex.Replace(o, @"\s+", " "));
            // how full its calls were, in summary.json and on the console (the share depends on which tasks arrived together)
            using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory.GetDirectories(one).Single(), "summary.json")));
            double busy = summary.RootElement.GetProperty("batched_busy_share").GetDouble();
            Assert.Contains($"{busy.ToString("P0", System.Globalization.CultureInfo.InvariantCulture)} of their places busy",
                System.Text.RegularExpressions.Regex.Replace(o, @"[\s│]+", " ")); // the summary table may wrap the line
        }

        // act: the same experiment on a run node that waits for two clients nodes (PostgreSQL)
        int port = FreePort();
        var three = RunScriptTests.TempDir();
        string[] pg = ["--set", "fedactors.state.store=postgres", "--set", $"fedactors.state.connection=\"{postgres.ConnectionString}\""];
        using var run = RunScriptTests.Start(["run", .. experiment, .. pg, "--out", three, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=3"]);
        var nodes = Enumerable.Range(0, 2).Select(_ => Task.Run(() => RunScriptTests.RunScript(["node", .. experiment, .. pg, "--join", $"127.0.0.1:{port}"]))).ToArray();
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(4)), "the run node did not finish");
        run.WaitForExit();
        var results = await Task.WhenAll(nodes).WaitAsync(TimeSpan.FromMinutes(1));

        // assert: all ended well, each clients node trained some of the clients, and the rounds are the one-node rounds
        Assert.True(run.ExitCode == 0, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        int trained = 0;
        foreach (var (nodeCode, nodeOut, nodeErr) in results)
        {
            Assert.True(nodeCode == 0, nodeOut + nodeErr);
            var tasks = int.Parse(System.Text.RegularExpressions.Regex.Match(nodeOut, @"after (\d+) client tasks").Groups[1].Value);
            Assert.True(tasks > 0, nodeOut);
            trained += tasks;
        }
        // the run node ran the rest: 3 rounds of 8 training tasks, and with personalisation each of the 12 clients' own evaluation a round
        Assert.InRange(trained, 2, 3 * 8 + (personalisation == "none" ? 0 : 3 * 12) - 1);
        Assert.Equal(Rounds(one), Rounds(three));
    }

    [Fact]
    public void A_clients_node_killed_mid_run_should_cost_only_its_clients_rounds_and_the_run_should_complete()
    {
        // arrange: a run node and two clients nodes, FedALA (personal state in PostgreSQL), a short safety timeout and downing
        int port = FreePort();
        var runs = RunScriptTests.TempDir();
        string[] experiment = ["hocon/experiments/quickstart.conf", .. Shared(9, "--set", "fedactors.personalization.method=fedala",
            "--set", "fedactors.round.timeout=3s", "--set", "akka.cluster.split-brain-resolver.stable-after=3s")];
        using var run = RunScriptTests.Start(["run", .. experiment, "--out", runs, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=3"]);
        using var survivor = RunScriptTests.Start(["node", .. experiment, "--join", $"127.0.0.1:{port}"]);
        using var victim = RunScriptTests.Start(["node", .. experiment, "--join", $"127.0.0.1:{port}"]);

        // act: SIGKILL one clients node once round 1 is committed
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3) && !run.HasExited && RoundsWritten(runs) < 1) Thread.Sleep(50);
        Assert.False(run.HasExited, "the run ended before the kill");
        victim.Kill(entireProcessTree: true);

        // assert: the run completes; some round lost the victim's clients as timed out; the last round has every client again
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(4)), "the run did not finish after the kill");
        run.WaitForExit();
        Assert.True(run.ExitCode == 0, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        Assert.True(survivor.WaitForExit(TimeSpan.FromMinutes(1)), "the surviving node did not leave");
        Assert.True(survivor.ExitCode == 0, $"surviving node exit {survivor.ExitCode}:\n{RunScriptTests.Output(survivor)}");
        var lines = File.ReadAllLines(Path.Combine(Directory.GetDirectories(runs).Single(), "rounds.csv"));
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(9, rows.Length);
        Assert.Contains(rows, r => int.Parse(r[Col("timed_out")]) > 0);
        Assert.Equal(("8", "0"), (rows[^1][Col("responded")], rows[^1][Col("timed_out")]));
    }

    [Fact]
    public async Task The_run_node_killed_mid_run_should_take_its_clients_nodes_down_and_resume_to_the_uninterrupted_rounds()
    {
        // arrange: the uninterrupted rounds (one node), FedALA
        string[] experiment = ["hocon/experiments/quickstart.conf", "--set", "fedactors.rounds=4", "--set", "fedactors.data.limit=3000",
            "--set", "fedactors.clients.count=12", "--set", "fedactors.clients.per-round=8", "--set", "fedactors.personalization.method=fedala"];
        var one = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. experiment, "--out", one]);
        Assert.True(code == 0, o + e);

        // act: three nodes; SIGKILL the run node (coordinator, seed) once round 1 is committed
        string[] cluster = [.. experiment, "--set", "fedactors.state.store=postgres", "--set", $"fedactors.state.connection=\"{postgres.ConnectionString}\"",
            "--set", "akka.cluster.split-brain-resolver.stable-after=3s", "--set", "fedactors.round.timeout=5s"];
        int port = FreePort();
        var runs = RunScriptTests.TempDir();
        Task<(int Code, string Out, string Err)>[] Nodes(int at) =>
            [.. Enumerable.Range(0, 2).Select(_ => Task.Run(() => RunScriptTests.RunScript(["node", .. cluster, "--join", $"127.0.0.1:{at}"])))];
        using (var run = RunScriptTests.Start(["run", .. cluster, "--out", runs, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=3"]))
        {
            var orphans = Nodes(port);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMinutes(3) && !run.HasExited && RoundsWritten(runs) < 1) Thread.Sleep(50);
            Assert.False(run.HasExited, "the run ended before the kill");
            run.Kill(entireProcessTree: true);
            // the clients nodes lose their seed: the split-brain resolver downs them and they exit (1)
            var left = await Task.WhenAll(orphans).WaitAsync(TimeSpan.FromMinutes(2));
            Assert.All(left, r => Assert.True(r.Code == 1, r.Out + r.Err));
        }
        var folder = Directory.GetDirectories(runs).Single();
        int resumePort = FreePort();
        using var resumed = RunScriptTests.Start(["run", "--resume", folder, "--port", $"{resumePort}"]);
        var again = Nodes(resumePort);
        Assert.True(resumed.WaitForExit(TimeSpan.FromMinutes(4)), "the resumed run did not finish");
        resumed.WaitForExit();
        var after = await Task.WhenAll(again).WaitAsync(TimeSpan.FromMinutes(1));

        // assert
        Assert.True(resumed.ExitCode == 0, $"resumed exit {resumed.ExitCode}:\n{RunScriptTests.Output(resumed)}");
        Assert.All(after, r => Assert.True(r.Code == 0, r.Out + r.Err));
        Assert.Equal(Rounds(one), Rounds(runs));
    }

    /// <summary>Rounds in the run folder's rounds.csv (each written after its round was committed).</summary>
    private static int RoundsWritten(string runsRoot)
    {
        var folder = Directory.GetDirectories(runsRoot).SingleOrDefault();
        var csv = folder is null ? null : Path.Combine(folder, "rounds.csv");
        try { return csv is not null && File.Exists(csv) ? File.ReadAllLines(csv).Length - 1 : 0; }
        catch (IOException) { return 0; }
    }

    [Fact]
    public void A_node_with_another_experiment_should_be_refused_naming_the_first_differing_key()
    {
        int port = FreePort();
        var runs = RunScriptTests.TempDir();
        string[] experiment = ["hocon/experiments/quickstart.conf", .. Shared(2)];
        using var run = RunScriptTests.Start(["run", .. experiment, "--out", runs, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=2",
            "--set", "fedactors.cluster.join-timeout=20s"]);
        var (code, o, e) = RunScriptTests.RunScript(["node", .. experiment, "--set", "fedactors.seed=43", "--join", $"127.0.0.1:{port}"]);
        Assert.True(code == 2, o + e);
        Assert.Contains("fedactors.seed", o + e);
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(1)));
        run.WaitForExit();
        Assert.True(run.ExitCode == 1, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}"); // it never got its second node
    }

    [Fact]
    public void Bad_cluster_input_should_stop_before_any_work_with_a_clear_message()
    {
        // an unreachable --join: a bounded wait, then exit 2
        var (code, o, e) = RunScriptTests.RunScript(["node", "hocon/experiments/quickstart.conf", .. Shared(2), "--set", "fedactors.cluster.join-timeout=3s",
            "--join", $"127.0.0.1:{FreePort()}"]);
        Assert.True(code == 2, o + e);
        Assert.Contains("could not join", o + e);
        // more than one node on a store only one node reaches
        (code, _, e) = RunScriptTests.RunScript("run", "hocon/experiments/quickstart.conf", "--out", RunScriptTests.TempDir(), "--set", "fedactors.cluster.min-nodes=2");
        Assert.Equal(2, code);
        Assert.Contains("postgres when more than one node", e);
        (code, _, e) = RunScriptTests.RunScript("node", "hocon/experiments/quickstart.conf", "--join", "127.0.0.1:1");
        Assert.Equal(2, code);
        Assert.Contains("fedactors node joins another node's run", e);
        (code, _, e) = RunScriptTests.RunScript("node", "hocon/experiments/quickstart.conf", "--join", "nowhere");
        Assert.Equal(2, code);
        Assert.Contains("HOST:PORT", e);
    }

    [Fact]
    public void Bench_cluster_should_measure_each_node_count_and_count_the_payload_that_crossed_nodes()
    {
        // arrange: a small MLP experiment on 1 and 2 nodes, on the fixture's PostgreSQL server
        var outDir = RunScriptTests.TempDir();

        // act
        var (code, o, e) = RunScriptTests.RunScript("bench", "cluster", "--nodes", "1,2", "--connection", postgres.ConnectionString, "--out", outDir,
            "--set", "fedactors.model.kind=mlp", "--set", "fedactors.rounds=3", "--set", "fedactors.data.limit=3000", "--set", "fedactors.clients.count=12",
            "--set", "fedactors.clients.per-round=6");

        // assert: a row per node count; one node sends nothing, two send at least one MLP update (199,210 floats) a round
        Assert.True(code == 0, o + e);
        var dir = Assert.Single(Directory.GetDirectories(outDir, "bench-cluster-*"));
        Assert.True(File.Exists(Path.Combine(dir, "cluster.md")));
        var rows = File.ReadAllLines(Path.Combine(dir, "cluster.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(["1", "2"], rows.Select(r => r[0]));
        Assert.All(rows, r => Assert.Equal("3", r[1]));
        Assert.Equal(0.0, double.Parse(rows[0][4], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(double.Parse(rows[1][4], System.Globalization.CultureInfo.InvariantCulture) >= 199_210 * 4 / 1e6, rows[1][4]);
        var tasks = rows[1][6].Split(';').Select(int.Parse).ToArray();
        Assert.Equal(2, tasks.Length);
        Assert.Equal(18, tasks.Sum());
    }

    [Fact]
    public void Bench_cluster_should_refuse_a_bad_node_list()
    {
        var (code, o, e) = RunScriptTests.RunScript("bench", "cluster", "--nodes", "1,zero", "--out", RunScriptTests.TempDir());
        Assert.Equal(2, code);
        Assert.Contains("--nodes", o + e);
    }

    [Fact]
    public void Node_faults_should_slow_and_then_kill_a_clients_node_and_the_run_should_complete_without_it()
    {
        // arrange: a run node and a clients node on a known port; the script slows that node for rounds 1-2 and kills it in round 3
        int port = FreePort(), nodePort = FreePort();
        var runs = RunScriptTests.TempDir();
        string[] experiment = ["hocon/experiments/quickstart.conf", .. Shared(9, "--set", "fedactors.round.timeout=3s",
            "--set", "akka.cluster.split-brain-resolver.stable-after=3s", "--set",
            $"fedactors.faults=[{{kind=slow-node,round=1,rounds=2,factor=3,node=\"127.0.0.1:{nodePort}\"}},{{kind=kill-node,round=3,node=\"127.0.0.1:{nodePort}\"}}]")];
        using var run = RunScriptTests.Start(["run", .. experiment, "--out", runs, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=2"]);
        using var node = RunScriptTests.Start(["node", .. experiment, "--join", $"127.0.0.1:{port}", "--port", $"{nodePort}"]);

        // act
        Assert.True(node.WaitForExit(TimeSpan.FromMinutes(3)), "the clients node was not killed");
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(4)), "the run did not finish");
        run.WaitForExit();

        // assert: the node died as by SIGKILL; the run completed all rounds and counted the node faults
        Assert.True(node.ExitCode == 137, $"node exit {node.ExitCode}:\n{RunScriptTests.Output(node)}");
        Assert.True(run.ExitCode == 0, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        Assert.Contains("works 3× as slowly", RunScriptTests.Output(node)); // the slow-node fault reached that node's worker
        var runDir = Directory.GetDirectories(runs).Single();
        var lines = File.ReadAllLines(Path.Combine(runDir, "rounds.csv"));
        Assert.Equal(10, lines.Length);
        int col = Array.IndexOf(lines[0].Split(','), "node_faults"), responded = Array.IndexOf(lines[0].Split(','), "responded");
        Assert.Equal(["1", "1", "1", "0", "0", "0", "0", "0", "0"], lines.Skip(1).Select(l => l.Split(',')[col]));
        Assert.Equal("8", lines[9].Split(',')[responded]); // once the node is downed, its clients answer from the run node
        var faults = File.ReadAllLines(Path.Combine(runDir, "faults.jsonl"));
        Assert.Contains(faults, f => f.Contains("\"kind\":\"kill-node\",\"round\":3", StringComparison.Ordinal));
    }

    [Fact]
    public void A_partitioned_clients_node_should_lose_its_updates_while_cut_off_and_rejoin_the_run()
    {
        // arrange: two nodes with the throttler in their transports; the clients node is cut off for 2 s as round 2 starts
        int port = FreePort(), nodePort = FreePort();
        var runs = RunScriptTests.TempDir();
        string[] experiment = ["hocon/experiments/quickstart.conf", .. Shared(5, "--set", "fedactors.round.timeout=3s", "--set", "fedactors.cluster.fault-injection=on",
            "--set", $"fedactors.faults=[{{kind=partition-node,round=2,seconds=2,node=\"127.0.0.1:{nodePort}\"}}]")];
        using var run = RunScriptTests.Start(["run", .. experiment, "--out", runs, "--port", $"{port}", "--set", "fedactors.cluster.min-nodes=2"]);
        using var node = RunScriptTests.Start(["node", .. experiment, "--join", $"127.0.0.1:{port}", "--port", $"{nodePort}"]);

        // act
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(4)), "the run did not finish");
        run.WaitForExit();
        Assert.True(node.WaitForExit(TimeSpan.FromMinutes(1)), "the clients node did not leave");

        // assert: both ended well; round 2 lost the cut-off node's answers to the safety timeout; later rounds are whole again
        Assert.True(run.ExitCode == 0, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        Assert.True(node.ExitCode == 0, $"node exit {node.ExitCode}:\n{RunScriptTests.Output(node)}");
        var lines = File.ReadAllLines(Path.Combine(Directory.GetDirectories(runs).Single(), "rounds.csv"));
        var header = lines[0].Split(',');
        string Cell(int round, string name) => lines[round].Split(',')[Array.IndexOf(header, name)];
        Assert.Equal("1", Cell(2, "node_faults"));
        Assert.True(int.Parse(Cell(2, "timed_out")) > 0, string.Join('\n', lines));
        Assert.Equal("0", Cell(1, "timed_out"));
        Assert.Equal("8", Cell(5, "responded"));
    }
}