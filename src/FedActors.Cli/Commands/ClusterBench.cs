using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using FedActors.Cli.Output;
using FedActors.Runtime.Settings;
using FedActors.Runtime.State;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors bench cluster --nodes 1,2,3</c>: the same experiment run by 1, 2, 3… OS processes on loopback, as a user
/// starts them (<c>fedactors run --port</c> and <c>fedactors node --join</c>), sharing one PostgreSQL store (a throwaway
/// local server unless <c>--connection</c> names one). Per node count: median round time (round 1, which warms up, left
/// out), client updates per second over the rounds, the bytes of models and updates the nodes sent each other (counted by
/// <see cref="Runtime.Protocol.PayloadSerializer"/>) and all loopback traffic (remoting, PostgreSQL, everything else on
/// the machine) per round. On a machine with fewer cores than nodes × a worker's threads this measures overhead, not
/// speed-up.
/// </summary>
public static class ClusterBench
{
    public const string DefaultConfig = "hocon/experiments/bench-cluster.conf";

    private sealed record Row(int Nodes, int Rounds, double MedianRoundS, double UpdatesPerS, double PayloadMbPerRound, double LoopbackMbPerRound,
        string TasksPerNode, double WallS);

    public static async Task<int> RunAsync(string configPath, IReadOnlyList<string> overrides, string nodesList, string? connection, string outRoot,
        CancellationToken cancel)
    {
        int[] counts;
        try
        {
            counts = nodesList.Split(',', StringSplitOptions.TrimEntries).Select(x => int.Parse(x, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
            if (counts.Length == 0 || counts.Any(n => n is < 1 or > 16)) throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            return ExperimentLoader.Report(new ConfigurationError("--nodes", nodesList, "a comma-separated list of node counts in 1–16, e.g. 1,2,3"));
        }
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        var s = loaded.Settings;
        loaded.Experiment.Dispose();
        string dir;
        try { dir = RunFolder.Create(outRoot, "bench-cluster"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        LocalPostgresServer? local = null;
        if (connection is null)
        {
            AnsiConsole.MarkupLine("starting a throwaway PostgreSQL server on loopback (--connection names another)");
            try { local = new LocalPostgresServer(); }
            catch (InvalidOperationException e) { return ExperimentLoader.Report(new ConfigurationError("--connection", "(none)", "a PostgreSQL connection string, or Debian's postgresql installed", e.Message)); }
            connection = local.ConnectionString;
        }
        AnsiConsole.MarkupLineInterpolated($"[bold]bench cluster[/]: {s.Rounds} rounds × {s.Clients.SampledPerRound} clients, model {s.Model}, nodes {string.Join(", ", counts)}, {Environment.ProcessorCount} cores");
        var rows = new List<Row>();
        var scratch = Directory.CreateTempSubdirectory("fedactors-bench-cluster-").FullName;
        try
        {
            foreach (var n in counts)
            {
                var row = await MeasureAsync(configPath, overrides, n, connection, Path.Combine(scratch, $"n{n}"), cancel);
                if (row is null) return ExitCodes.Failed;
                rows.Add(row);
                AnsiConsole.MarkupLineInterpolated($"  {n} node(s): median round {row.MedianRoundS:0.00} s, {row.UpdatesPerS:0.0} updates/s, {row.PayloadMbPerRound:0.0} MB payload a round");
            }
        }
        finally
        {
            local?.Dispose();
            try { Directory.Delete(scratch, true); } catch (IOException) { }
        }

        var table = new Table().AddColumns("nodes", "rounds", "median round s", "updates/s", "payload MB/round", "loopback MB/round", "client tasks per node", "wall s");
        foreach (var r in rows)
            table.AddRow(Inv($"{r.Nodes}"), Inv($"{r.Rounds}"), Inv($"{r.MedianRoundS:0.000}"), Inv($"{r.UpdatesPerS:0.0}"), Inv($"{r.PayloadMbPerRound:0.00}"),
                Inv($"{r.LoopbackMbPerRound:0.00}"), r.TasksPerNode, Inv($"{r.WallS:0.0}"));
        AnsiConsole.Write(table);
        var csv = new StringBuilder("nodes,rounds,median_round_s,updates_per_s,payload_mb_per_round,loopback_mb_per_round,client_tasks_per_node,wall_s\n");
        foreach (var r in rows)
            csv.AppendLine(Inv($"{r.Nodes},{r.Rounds},{r.MedianRoundS:0.000},{r.UpdatesPerS:0.0},{r.PayloadMbPerRound:0.00},{r.LoopbackMbPerRound:0.00},{r.TasksPerNode.Replace(' ', ';')},{r.WallS:0.0}"));
        await File.WriteAllTextAsync(Path.Combine(dir, "cluster.csv"), csv.ToString(), cancel);
        var md = new StringBuilder(Inv($"# bench cluster\n\n{s.Rounds} rounds × {s.Clients.SampledPerRound} clients, model {s.Model}, batch {s.Train.BatchSize}, PostgreSQL store, loopback, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}\n\n"));
        md.AppendLine("| nodes | median round s | updates/s | payload MB/round | loopback MB/round | client tasks per node |").AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine(Inv($"| {r.Nodes} | {r.MedianRoundS:0.000} | {r.UpdatesPerS:0.0} | {r.PayloadMbPerRound:0.00} | {r.LoopbackMbPerRound:0.00} | {r.TasksPerNode} |"));
        md.AppendLine().AppendLine("Payload: models and updates the nodes sent each other. Loopback: every byte on `lo` during the run (remoting, PostgreSQL, anything else).");
        await File.WriteAllTextAsync(Path.Combine(dir, "cluster.md"), md.ToString(), cancel);
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        return ExitCodes.Ok;
    }

    private static async Task<Row?> MeasureAsync(string configPath, IReadOnlyList<string> overrides, int nodes, string connection, string outDir,
        CancellationToken cancel)
    {
        int port = FreePort();
        // one experiment name per node count: the store holds each experiment once
        var sets = overrides.Concat([$"fedactors.name=bench-cluster-n{nodes}", "fedactors.state.store=postgres",
            $"fedactors.state.connection=\"{connection}\""]).SelectMany(x => new[] { "--set", x }).ToArray();
        long loopbackBefore = LoopbackBytes();
        var clock = Stopwatch.StartNew();
        using var run = new ChildRun(["run", configPath, .. sets, "--set", $"fedactors.cluster.min-nodes={nodes}", "--out", outDir, "--port", $"{port}"]);
        var clients = Enumerable.Range(1, nodes - 1).Select(_ => new ChildRun(["node", configPath, .. sets, "--join", $"127.0.0.1:{port}"])).ToList();
        try
        {
            var all = clients.Prepend(run).ToList();
            await Task.WhenAll(all.Select(p => p.Process.WaitForExitAsync(cancel))).WaitAsync(TimeSpan.FromMinutes(60), cancel);
            clock.Stop();
            long loopback = LoopbackBytes() - loopbackBefore;
            foreach (var p in all)
                if (p.Process.ExitCode != 0)
                {
                    AnsiConsole.MarkupLineInterpolated($"[red]{nodes} nodes: a process exited {p.Process.ExitCode}[/]");
                    AnsiConsole.WriteLine(p.Output);
                    return null;
                }
            var runDir = Directory.GetDirectories(outDir).Single();
            var lines = File.ReadAllLines(Path.Combine(runDir, "rounds.csv"));
            var header = lines[0].Split(',');
            int ms = Array.IndexOf(header, "round_ms"), responded = Array.IndexOf(header, "responded");
            var rounds = lines.Skip(1).Select(l => l.Split(',')).Select(f => (Ms: double.Parse(f[ms], CultureInfo.InvariantCulture), Responded: int.Parse(f[responded], CultureInfo.InvariantCulture))).ToList();
            var timed = rounds.Count > 1 ? rounds.Skip(1).ToList() : rounds;
            var sorted = timed.Select(r => r.Ms / 1000).Order().ToList();
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")));
            long payload = summary.RootElement.GetProperty("payload_bytes_sent").GetInt64();
            var tasks = new List<int>();
            foreach (var c in clients)
            {
                var m = Regex.Match(c.Output, @"after (\d+) client tasks\s+on\s+this\s+node\s+\((\d+)\s+payload\s+bytes\s+sent\)");
                tasks.Add(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                payload += long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            }
            int total = rounds.Sum(r => r.Responded);
            tasks.Insert(0, total - tasks.Sum());
            return new Row(nodes, rounds.Count, sorted[sorted.Count / 2], timed.Sum(r => r.Responded) / timed.Sum(r => r.Ms / 1000),
                payload / 1e6 / rounds.Count, loopback / 1e6 / rounds.Count, string.Join(" ", tasks), clock.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Bytes received on the loopback interface so far (every byte sent on it is received on it).</summary>
    private static long LoopbackBytes()
    {
        if (!File.Exists("/proc/net/dev")) return 0;
        foreach (var line in File.ReadLines("/proc/net/dev"))
        {
            var t = line.Trim();
            if (t.StartsWith("lo:", StringComparison.Ordinal))
                return long.Parse(t[3..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
        }
        return 0;
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
