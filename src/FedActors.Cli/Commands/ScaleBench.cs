using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FedActors.Cli.Output;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Settings;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors bench scale --clients 1000,10000,100000 [--per-round N] [--method M]</c>: the same cross-device
/// experiment at each population size. Each size runs as its own process (<c>fedactors run</c>, so its peak RSS is its
/// own, read from /proc while it runs); the bare Core loop (<see cref="PlainSimulation"/>) then does the same clients'
/// work in this process. Per size: median round time (round 1, which warms up, left out), client updates per second,
/// peak RSS, the state store's size, the share of round time outside client training, and the ratio against the bare
/// loop. Ratios measured in one run are what travel to other machines.
/// </summary>
public static class ScaleBench
{
    public const string DefaultConfig = "hocon/experiments/bench-scale.conf";

    private sealed record Row(int Clients, int PerRound, string Method, int Rounds, double MedianRoundS, double UpdatesPerS, double PeakRssMb,
        double StoreMb, double OutsideTraining, double BareRoundS, double ClientEvalS, double PooledEvalS)
    {
        public double Ratio => MedianRoundS / BareRoundS;
        public double EvalRatio => ClientEvalS / PooledEvalS;
    }

    public static async Task<int> RunAsync(string configPath, IReadOnlyList<string> overrides, string sizes, int? perRound, string? method, string outRoot,
        CancellationToken cancel)
    {
        int[] populations;
        try
        {
            populations = sizes.Split(',', StringSplitOptions.TrimEntries).Select(x => int.Parse(x, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
            if (populations.Length == 0 || populations.Any(n => n < 1)) throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            return ExperimentLoader.Report(new ConfigurationError("--clients", sizes, "a comma-separated list of population sizes ≥ 1, e.g. 1000,10000"));
        }
        if (perRound is < 1) return ExperimentLoader.Report(new ConfigurationError("--per-round", $"{perRound}", "an integer ≥ 1"));
        var common = overrides.ToList();
        if (perRound is { } p) common.Add($"fedactors.clients.per-round={p}");
        // a personalised model is tested on its client's own test split (held-out evaluation is for one global model)
        if (method is not null) common.InsertRange(0, [$"fedactors.personalization.method={method}", "fedactors.data.evaluation=clients"]);
        // every size is checked before any work: a per-round above a population is an error naming the key
        foreach (var n in populations)
        {
            try { FedActorsSettings.Read(FedActorsSettings.Load(configPath, [.. common, $"fedactors.clients.count={n}"])); }
            catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        }
        string dir;
        try { dir = RunFolder.Create(outRoot, "bench-scale"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        AnsiConsole.MarkupLineInterpolated($"[bold]bench scale[/]: populations {sizes}, {Environment.ProcessorCount} cores");
        var rows = new List<Row>();
        var scratch = Directory.CreateTempSubdirectory("fedactors-bench-scale-").FullName;
        try
        {
            foreach (var n in populations)
            {
                string[] sets = [.. common, $"fedactors.clients.count={n}"];
                var row = await MeasureAsync(configPath, sets, Path.Combine(scratch, $"n{n}"), cancel);
                if (row is null) return ExitCodes.Failed;
                rows.Add(row);
                AnsiConsole.WriteLine(Inv($"  {n} clients: round {row.MedianRoundS:0.00} s, {row.UpdatesPerS:0} updates/s, peak RSS {row.PeakRssMb:0} MB, ×{row.Ratio:0.00} the bare loop"));
            }
        }
        finally
        {
            try { Directory.Delete(scratch, true); } catch (IOException) { }
        }

        var table = new Table().AddColumns("clients", "per round", "median round s", "updates/s", "peak RSS MB", "store MB", "outside training", "bare round s", "÷ bare",
            "per-client eval s", "pooled eval s", "÷ pooled");
        foreach (var r in rows)
            table.AddRow(Inv($"{r.Clients}"), Inv($"{r.PerRound}"), Inv($"{r.MedianRoundS:0.000}"), Inv($"{r.UpdatesPerS:0}"), Inv($"{r.PeakRssMb:0}"),
                Inv($"{r.StoreMb:0.0}"), Inv($"{r.OutsideTraining:P0}"), Inv($"{r.BareRoundS:0.000}"), Inv($"{r.Ratio:0.00}"),
                Inv($"{r.ClientEvalS:0.000}"), Inv($"{r.PooledEvalS:0.000}"), Inv($"{r.EvalRatio:0.00}"));
        AnsiConsole.Write(table);
        var csv = new StringBuilder("clients,per_round,method,rounds,median_round_s,updates_per_s,peak_rss_mb,store_mb,outside_training,bare_round_s,ratio,client_eval_s,pooled_eval_s,eval_ratio\n");
        foreach (var r in rows)
            csv.AppendLine(Inv($"{r.Clients},{r.PerRound},{r.Method},{r.Rounds},{r.MedianRoundS:0.000},{r.UpdatesPerS:0.0},{r.PeakRssMb:0},{r.StoreMb:0.0},{r.OutsideTraining:0.000},{r.BareRoundS:0.000},{r.Ratio:0.000},{r.ClientEvalS:0.000},{r.PooledEvalS:0.000},{r.EvalRatio:0.000}"));
        await File.WriteAllTextAsync(Path.Combine(dir, "scale.csv"), csv.ToString(), CancellationToken.None);
        var md = new StringBuilder(Inv($"# bench scale\n\n{Environment.ProcessorCount} cores, {DateTime.UtcNow:u}, config {configPath}\n\n"));
        md.AppendLine("| clients | per round | method | median round s | updates/s | peak RSS MB | store MB | outside training | bare round s | ÷ bare | per-client eval s | pooled eval s | ÷ pooled |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine(Inv($"| {r.Clients} | {r.PerRound} | {r.Method} | {r.MedianRoundS:0.000} | {r.UpdatesPerS:0} | {r.PeakRssMb:0} | {r.StoreMb:0.0} | {r.OutsideTraining:P0} | {r.BareRoundS:0.000} | {r.Ratio:0.00} | {r.ClientEvalS:0.000} | {r.PooledEvalS:0.000} | {r.EvalRatio:0.00} |"));
        md.AppendLine().AppendLine("Round 1 (warm-up) left out of round times. Outside training: 1 − (client training time ÷ workers) ÷ round time. " +
            "Bare: the Core loop doing the same clients' work in the bench's own process, same threads. Per-client eval: the global model " +
            "on every client's test split with each client's accuracy (the `clients` protocol); pooled: the same samples as one test set; " +
            "medians of 3, in the bench's process.");
        await File.WriteAllTextAsync(Path.Combine(dir, "scale.md"), md.ToString(), CancellationToken.None);
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        return ExitCodes.Ok;
    }

    private static async Task<Row?> MeasureAsync(string configPath, string[] sets, string outDir, CancellationToken cancel)
    {
        using var child = new ChildRun(["run", configPath, .. sets.SelectMany(s => new[] { "--set", s }), "--set", "fedactors.control.enabled=off",
            "--set", "fedactors.monitoring.clients-csv=off", "--out", outDir]); // a row per client per evaluated round is not what this measures
        var p = child.Process;
        long peakKb = 0;
        while (!p.HasExited)
        {
            peakKb = Math.Max(peakKb, PeakRssKb(p.Id));
            await Task.Delay(200, cancel);
        }
        await p.WaitForExitAsync(cancel);
        if (p.ExitCode != 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]the run exited {p.ExitCode}[/]");
            AnsiConsole.WriteLine(child.Output);
            return null;
        }
        var runDir = Directory.GetDirectories(outDir).Single();
        var lines = File.ReadAllLines(Path.Combine(runDir, "rounds.csv"));
        var header = lines[0].Split(',');
        int ms = Array.IndexOf(header, "round_ms"), compute = Array.IndexOf(header, "compute_ms"), responded = Array.IndexOf(header, "responded");
        var rounds = lines.Skip(1).Select(l => l.Split(',')).Select(f => (Ms: double.Parse(f[ms], CultureInfo.InvariantCulture),
            Compute: double.Parse(f[compute], CultureInfo.InvariantCulture), Responded: int.Parse(f[responded], CultureInfo.InvariantCulture))).ToList();
        var timed = rounds.Count > 1 ? rounds.Skip(1).ToList() : rounds;
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")));
        double store = summary.RootElement.TryGetProperty("state_bytes", out var sb) && sb.ValueKind == JsonValueKind.Number ? sb.GetInt64() / 1048576.0 : 0;

        // the bare loop: the same experiment's clients trained by Core alone, in this process, with the run's threads (the
        // plain loop has no personalisation methods: with one, there is no bare figure to compare with)
        var loaded = ExperimentLoader.Load(configPath, sets);
        using var experiment = loaded.Experiment;
        var device = loaded.Settings.Device;
        using var pool = new TorchWorkerPool(device.EffectiveWorkers, device.ThreadsPerWorker, experiment.CreateModel);
        var bare = loaded.Settings.PersonalisationOrNone.Enabled ? [] : new PlainSimulation(experiment, pool).Run().Select(r => r.WithoutClients()).ToList();
        var bareTimed = bare.Count > 1 ? bare.Skip(1).ToList() : bare;
        var (clientEval, pooledEval) = MeasureEvaluation(configPath, sets, pool);
        double median = Median(timed.Select(r => r.Ms / 1000));
        double outside = 1 - timed.Sum(r => r.Compute / device.EffectiveWorkers) / timed.Sum(r => r.Ms);
        return new Row(loaded.Settings.Clients.Count, loaded.Settings.Clients.SampledPerRound, loaded.Settings.PersonalisationOrNone.Method, rounds.Count,
            median, timed.Sum(r => r.Responded) / timed.Sum(r => r.Ms / 1000), peakKb / 1024.0, store, Math.Max(0, outside), Median(bareTimed.Select(r => r.RoundMs / 1000.0)),
            clientEval, pooledEval);
    }

    /// <summary>Seconds to evaluate the initial global model on every client's test split with per-client results (the
    /// <c>clients</c> protocol), and on the same samples as one pooled test set: medians of 3, on the pool's threads.</summary>
    private static (double ClientS, double PooledS) MeasureEvaluation(string configPath, string[] sets, TorchWorkerPool pool)
    {
        var loaded = ExperimentLoader.Load(configPath, [.. sets, "fedactors.data.evaluation=clients"]);
        using var experiment = loaded.Experiment;
        var weights = experiment.InitialWeights();
        var perClient = experiment.EvaluationChunks().ToArray();
        var pooled = Enumerable.Range(0, (experiment.TestIndices.Length + 1999) / 2000)
            .Select(i => new EvaluationChunk([-1], [new ArraySegment<int>(experiment.TestIndices, i * 2000, Math.Min(2000, experiment.TestIndices.Length - i * 2000))]))
            .ToArray();
        double Time(EvaluationChunk[] chunks) => Median(Enumerable.Range(0, 3).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            Task.WaitAll([.. chunks.Select(c => pool.Run(slot => experiment.EvaluateChunk(slot, weights, c)))]);
            return clock.Elapsed.TotalSeconds;
        }));
        return (Time(perClient), Time(pooled));
    }

    private static double Median(IEnumerable<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>The process's peak resident set (VmHWM), in kB; 0 when /proc cannot tell.</summary>
    private static long PeakRssKb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
