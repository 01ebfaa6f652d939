using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using FedActors.Cli.Output;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Hosting;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Settings;
using Spectre.Console;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors bench overhead</c>: the framework's cost. The same client work (same clients, data, epochs, batch,
/// seed) is done (a) by the bare Core loop with no actors (<see cref="PlainSimulation"/>) and (b) by the full
/// simulation (cluster, sharded clients, singleton coordinator, device worker). The bare loop runs with the
/// simulation's thread settings and with every (concurrent clients × torch threads) setting that fits the cores; the
/// ratio is reported against both, as medians over repeats measured in this one process.
/// </summary>
public static class BenchCommand
{
    public const string DefaultConfig = "hocon/experiments/bench-overhead.conf";

    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "HOCON experiment file", DefaultValueFactory = _ => DefaultConfig };
        var repeats = new Option<int>("--repeats") { Description = "Measurements per variant (the median is reported)", DefaultValueFactory = _ => 3 };
        var set = new Option<string[]>("--set") { Description = "Override a key (repeatable)" };
        var output = new Option<string>("--out") { Description = "Folder under which the results folder is made", DefaultValueFactory = _ => "runs" };
        var overhead = new Command("overhead", "Simulation vs. a bare TorchSharp loop on the same client work") { config, repeats, set, output };
        overhead.SetAction((parse, cancel) => OverheadAsync(parse.GetValue(config)!, parse.GetValue(set) ?? [], parse.GetValue(repeats), parse.GetValue(output)!, cancel));
        var clusterConfig = new Argument<string>("config") { Description = "HOCON experiment file", DefaultValueFactory = _ => ClusterBench.DefaultConfig };
        var nodes = new Option<string>("--nodes") { Description = "Node counts to measure, comma-separated", DefaultValueFactory = _ => "1,2,3" };
        var connection = new Option<string?>("--connection") { Description = "PostgreSQL connection string (default: a throwaway local server)" };
        var cluster = new Command("cluster", "The same run on 1, 2, 3… processes on loopback: round time, updates/s, bytes sent") { clusterConfig, nodes, connection, set, output };
        cluster.SetAction((parse, cancel) => ClusterBench.RunAsync(parse.GetValue(clusterConfig)!, parse.GetValue(set) ?? [], parse.GetValue(nodes)!,
            parse.GetValue(connection), parse.GetValue(output)!, cancel));
        var scaleConfig = new Argument<string>("config") { Description = "HOCON experiment file", DefaultValueFactory = _ => ScaleBench.DefaultConfig };
        var sizes = new Option<string>("--clients") { Description = "Population sizes, comma-separated", DefaultValueFactory = _ => "1000,10000,100000" };
        var perRound = new Option<int?>("--per-round") { Description = "Clients sampled per round (default: the config's)" };
        var method = new Option<string?>("--method") { Description = "A personalisation method (default: the config's)" };
        var scale = new Command("scale", "Round time, updates/s, peak RSS and the bare-loop ratio by population size") { scaleConfig, sizes, perRound, method, set, output };
        scale.SetAction((parse, cancel) => ScaleBench.RunAsync(parse.GetValue(scaleConfig)!, parse.GetValue(set) ?? [], parse.GetValue(sizes)!,
            parse.GetValue(perRound), parse.GetValue(method), parse.GetValue(output)!, cancel));
        var deviceConfig = new Argument<string>("config") { Description = "HOCON experiment file", DefaultValueFactory = _ => ScaleBench.DefaultConfig };
        var deviceKind = new Option<string>("--device") { Description = "cpu, cuda or cuda:N (a TorchSharp that finds a CUDA libtorch: deploy/bundle.sh --libtorch host on a GPU node)", DefaultValueFactory = _ => "cpu" };
        var clientCounts = new Option<string>("--clients") { Description = "Clients trained together (K), comma-separated", DefaultValueFactory = _ => "1,8,32,64" };
        var device = new Command("device", "Training samples/s: K clients one after another vs. in one batched step") { deviceConfig, deviceKind, clientCounts, set, output };
        // a population of 1,000 unless --set says otherwise: the bench trains the first K clients only
        device.SetAction((parse, cancel) => Task.FromResult(DeviceBench.Run(parse.GetValue(deviceConfig)!, ["fedactors.clients.count=1000", .. parse.GetValue(set) ?? []],
            parse.GetValue(deviceKind)!, parse.GetValue(clientCounts)!, parse.GetValue(output)!, cancel)));
        return new Command("bench", "Benchmarks; results are printed as a table and written to a file") { overhead, cluster, scale, device };
    }

    private sealed record Measurement(string Variant, int Workers, int Threads, double[] Seconds, double[] ComputeSeconds)
    {
        public double Median => Seconds.Order().ElementAt(Seconds.Length / 2);
    }

    public static async Task<int> OverheadAsync(string configPath, IReadOnlyList<string> overrides, int repeats, string outRoot, CancellationToken cancel)
    {
        if (repeats < 1) return ExperimentLoader.Report(new ConfigurationError("--repeats", repeats.ToString(CultureInfo.InvariantCulture), "at least 1"));
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        using var baseExperiment = loaded.Experiment;
        var s = loaded.Settings;
        string dir;
        try { dir = RunFolder.Create(outRoot, "bench-overhead"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        int cores = Environment.ProcessorCount;
        int simWorkers = s.Device.EffectiveWorkers, simThreads = s.Device.ThreadsPerWorker;
        AnsiConsole.MarkupLineInterpolated($"[bold]bench overhead[/]: {s.Rounds} rounds × {s.Clients.SampledPerRound} clients, model {s.Model}, {repeats} repeats, {cores} cores");

        // The bare loop: every setting of concurrent clients × torch threads that fits the cores.
        var bare = new List<Measurement>();
        var settingsToTry = (from w in Enumerable.Range(1, cores) from t in Enumerable.Range(1, cores) where w * t <= cores select (w, t)).ToList();
        if (!settingsToTry.Contains((simWorkers, simThreads))) settingsToTry.Insert(0, (simWorkers, simThreads));
        foreach (var (w, t) in settingsToTry)
        {
            var times = new double[repeats];
            var computeTimes = new double[repeats];
            for (int i = 0; i < repeats; i++)
            {
                using var pool = new TorchWorkerPool(w, t, baseExperiment.CreateModel);
                var clock = Stopwatch.StartNew();
                computeTimes[i] = new PlainSimulation(baseExperiment, pool).Run().Sum(r => r.ComputeMs) / 1000.0;
                times[i] = clock.Elapsed.TotalSeconds;
            }
            bare.Add(new Measurement("bare loop", w, t, times, computeTimes));
            AnsiConsole.MarkupLineInterpolated($"  bare loop  {w} client(s) × {t} thread(s): median {bare[^1].Median:0.00} s");
        }

        // The full simulation, with its own settings; start-up and shutdown of the node measured apart.
        var simRun = new double[repeats];
        var simTotal = new double[repeats];
        var compute = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var total = Stopwatch.StartNew();
            var result = await SimulationRunner.RunAsync(baseExperiment, loaded.Config, new RunEvents(Serilog.Core.Logger.None), cancel: cancel);
            total.Stop();
            simRun[i] = result.Rounds.Sum(r => r.RoundMs) / 1000.0;
            simTotal[i] = total.Elapsed.TotalSeconds;
            compute[i] = result.Rounds.Sum(r => r.ComputeMs) / 1000.0;
        }
        var sim = new Measurement("simulation (rounds)", simWorkers, simThreads, simRun, compute);
        var simWithStartup = new Measurement("simulation (incl. node start/stop)", simWorkers, simThreads, simTotal, compute);

        var sameThreads = bare.First(b => b.Workers == simWorkers && b.Threads == simThreads);
        var fastest = bare.MinBy(b => b.Median)!;
        var table = new Table().AddColumns("variant", "clients × threads", "median s", "runs (s)", "sim ÷ this");
        void Row(Measurement m, bool ratio) => table.AddRow(Markup.Escape(m.Variant), $"{m.Workers} × {m.Threads}", m.Median.ToString("0.000", CultureInfo.InvariantCulture),
            string.Join(" ", m.Seconds.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture))), ratio ? (sim.Median / m.Median).ToString("0.000", CultureInfo.InvariantCulture) : "");
        foreach (var b in bare) Row(b, true);
        Row(sim, false);
        Row(simWithStartup, false);
        AnsiConsole.Write(table);
        double computeMedian = compute.Order().ElementAt(repeats / 2);
        double bareComputeMedian = sameThreads.ComputeSeconds.Order().ElementAt(repeats / 2);
        var lines = new[]
        {
            $"ratio vs. the bare loop with the simulation's threads ({sameThreads.Workers} × {sameThreads.Threads}): {sim.Median / sameThreads.Median:0.000}",
            $"ratio vs. the fastest bare loop ({fastest.Workers} × {fastest.Threads}): {sim.Median / fastest.Median:0.000}",
            $"node start + stop: {simWithStartup.Median - sim.Median:0.00} s per run (outside the rounds)",
            $"client training, summed over clients: {computeMedian:0.00} s in the simulation vs {bareComputeMedian:0.00} s in the bare loop ({sameThreads.Workers} × {sameThreads.Threads}); per worker {computeMedian / simWorkers:0.00} s of the simulation's {sim.Median:0.00} s of rounds",
        };
        foreach (var l in lines) AnsiConsole.WriteLine(l);

        var csv = new StringBuilder("variant,workers,threads,median_s,runs_s\n");
        foreach (var m in bare.Append(sim).Append(simWithStartup))
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{m.Variant},{m.Workers},{m.Threads},{m.Median:0.000},{string.Join(' ', m.Seconds.Select(x => x.ToString("0.000", CultureInfo.InvariantCulture)))}"));
        await File.WriteAllTextAsync(Path.Combine(dir, "overhead.csv"), csv.ToString(), cancel);
        var md = new StringBuilder($"# bench overhead\n\n{s.Rounds} rounds × {s.Clients.SampledPerRound} clients, model {s.Model}, batch {s.Train.BatchSize}, {s.Train.Epochs} epoch(s), {repeats} repeats, {cores} cores, {DateTime.UtcNow:u}\n\n");
        md.AppendLine("| variant | clients × threads | median s | runs (s) |").AppendLine("|---|---|---|---|");
        foreach (var m in bare.Append(sim).Append(simWithStartup))
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {m.Variant} | {m.Workers} × {m.Threads} | {m.Median:0.000} | {string.Join(" ", m.Seconds.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))} |"));
        md.AppendLine().AppendJoin('\n', lines.Select(l => "- " + l)).AppendLine();
        await File.WriteAllTextAsync(Path.Combine(dir, "overhead.md"), md.ToString(), cancel);
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        return ExitCodes.Ok;
    }
}
