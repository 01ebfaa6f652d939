using System.Diagnostics;
using System.Globalization;
using System.Text;
using FedActors.Cli.Output;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Runtime.Settings;
using Spectre.Console;
using TorchSharp;

namespace FedActors.Cli.Commands;

/// <summary>
/// <c>fedactors bench device [--device cpu] [--clients 1,8,32,64]</c>: training samples per second for the same K clients
/// trained one after another (<see cref="LocalTrainer"/>, what a worker does today) and all together
/// (<see cref="BatchedTrainer"/>), by K, on one worker thread; the ratio is the number that says whether batching pays on
/// this device. The clients are the config's first K (the scale bench's cross-device MLP clients by default).
/// </summary>
public static class DeviceBench
{
    /// <param name="MaxDifference">max |Δ_sequential − Δ_batched| over the K clients' updates: the batched kernels' agreement.</param>
    /// <param name="CpuDifference">max |Δ_sequential on the device − Δ_sequential on the CPU| over the first
    /// <see cref="CpuClients"/> of them: the device's arithmetic against the CPU's (0 on the CPU: the same bits).</param>
    /// <param name="Busy">the share of a batched call's K × steps places that train a client: Σ steps ÷ (K · max steps); the
    /// rest are the padded places of clients whose batches ran out, which every step still computes.</param>
    private sealed record Row(int Clients, int Samples, double SequentialPerS, double BatchedPerS, double MaxDifference, double Busy, double CpuDifference)
    {
        public double Ratio => BatchedPerS / SequentialPerS;
        /// <summary>The ratio per busy place: what batching gives where no place is idle (clients of equal step counts).</summary>
        public double BusyRatio => Ratio / Busy;
    }

    /// <summary>How many clients' sequential updates are also trained on the CPU, for <see cref="Row.CpuDifference"/>.</summary>
    private const int CpuClients = 8;

    public static int Run(string configPath, IReadOnlyList<string> overrides, string device, string clientCounts, string outRoot, CancellationToken cancel)
    {
        TorchSharp.torch.Device on;
        try { on = FedActorsSettings.ParseDevice(device, "--device"); DeviceSetup.Prepare(on); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        int[] ks;
        try
        {
            ks = clientCounts.Split(',', StringSplitOptions.TrimEntries).Select(x => int.Parse(x, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
            if (ks.Length == 0 || ks.Any(k => k < 1)) throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            return ExperimentLoader.Report(new ConfigurationError("--clients", clientCounts, "a comma-separated list of client counts ≥ 1, e.g. 1,8,32"));
        }
        LoadedExperiment loaded;
        try { loaded = ExperimentLoader.Load(configPath, overrides); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }
        using var experiment = loaded.Experiment;
        if (ks.Max() > experiment.Partition.NumClients)
            return ExperimentLoader.Report(new ConfigurationError("--clients", clientCounts, $"at most the config's {experiment.Partition.NumClients} clients"));
        string dir;
        try { dir = RunFolder.Create(outRoot, "bench-device"); }
        catch (ConfigurationError e) { return ExperimentLoader.Report(e); }

        // the model copies and the data live on the device; updates come back to the host as every run's do
        using var pool = new TorchWorkerPool(1, 1, () => { var m = experiment.CreateModel(); m.to(on); return m; }, "bench-device");
        using var onDevice = on.type == TorchSharp.DeviceType.CPU ? null : experiment.Data.To(on);
        var data = onDevice ?? experiment.Data;
        if (pool.Run(slot => BatchedTrainer.WhyNot(slot.Model)).GetAwaiter().GetResult() is { } why)
            return ExperimentLoader.Report(new ConfigurationError("fedactors.model.kind", loaded.Settings.Model, "a model batched training takes (every registered one: mlp, cnn, skymask-cnn)", why));
        AnsiConsole.MarkupLineInterpolated($"[bold]bench device[/]: {device}, model {loaded.Settings.Model}, batch {loaded.Settings.Train.BatchSize}, one worker thread");
        var global = experiment.InitialWeights();
        var options = loaded.Settings.Train;
        Rng Shuffle(int c) => SeedStream.Rng(experiment.Seed, 1, c, Purpose.Shuffle);
        // the reference: the first clients trained one after another on the CPU, from the host's data
        TrainOutcome[] onCpu;
        using (var cpuPool = new TorchWorkerPool(1, 1, () => ModelRegistry.Create(loaded.Settings.Model, experiment.Data.SampleShape, experiment.Data.NumClasses, torch.CPU), "bench-device-cpu"))
            onCpu = cpuPool.Run(slot => Enumerable.Range(0, Math.Min(CpuClients, ks.Max()))
                .Select(c => LocalTrainer.Train(slot.Model, global, experiment.Data, experiment.Partition.Clients[c].Train, options, Shuffle(c))).ToArray()).GetAwaiter().GetResult();
        var rows = new List<Row>();
        foreach (var k in ks)
        {
            cancel.ThrowIfCancellationRequested();
            var clients = Enumerable.Range(0, k).ToArray();
            int samples = clients.Sum(c => experiment.Partition.Clients[c].Train.Length) * options.Epochs;
            double busy = ClientBatching.BusyShare([.. clients.Select(c => options.StepsFor(experiment.Partition.Clients[c].Train.Length))]);
            TrainOutcome[] Sequential(WorkerSlot slot) =>
                [.. clients.Select(c => LocalTrainer.Train(slot.Model, global, data, experiment.Partition.Clients[c].Train, options, Shuffle(c)))];
            TrainOutcome[] Batched(WorkerSlot slot) =>
                BatchedTrainer.Train(slot.Model, global, data, [.. clients.Select(c => new BatchedClient(experiment.Partition.Clients[c].Train, Shuffle(c)))], options);
            var (alone, together) = pool.Run(slot => (Sequential(slot), Batched(slot))).GetAwaiter().GetResult();
            double difference = MaxDifference(alone.Zip(together));
            double cpuDifference = MaxDifference(alone.Zip(onCpu));
            double sequential = Median(pool, slot => Sequential(slot));
            double batched = Median(pool, slot => Batched(slot));
            var row = new Row(k, samples, samples / sequential, samples / batched, difference, busy, cpuDifference);
            rows.Add(row);
            AnsiConsole.WriteLine(Inv($"  K = {k}: sequential {row.SequentialPerS:0} samples/s, batched {row.BatchedPerS:0} samples/s, ×{row.Ratio:0.00} (busy places {row.Busy:P0}: ×{row.BusyRatio:0.00} a busy place), max |Δ| {row.MaxDifference:0.0e0}, against the CPU {row.CpuDifference:0.0e0}"));
        }

        var table = new Table().AddColumns("clients K", "samples", "sequential samples/s", "batched samples/s", "batched ÷ sequential", "busy places", "÷ a busy place", "max |Δ| batched vs sequential", "max |Δ| vs the CPU");
        foreach (var r in rows)
            table.AddRow(Inv($"{r.Clients}"), Inv($"{r.Samples}"), Inv($"{r.SequentialPerS:0}"), Inv($"{r.BatchedPerS:0}"), Inv($"{r.Ratio:0.00}"),
                Inv($"{r.Busy:P0}"), Inv($"{r.BusyRatio:0.00}"), Inv($"{r.MaxDifference:0.0e0}"), Inv($"{r.CpuDifference:0.0e0}"));
        AnsiConsole.Write(table);
        var csv = new StringBuilder("device,model,batch_size,clients,samples,sequential_samples_per_s,batched_samples_per_s,ratio,busy_share,ratio_per_busy_place,max_abs_difference,cpu_max_abs_difference\n");
        foreach (var r in rows)
            csv.AppendLine(Inv($"{device},{loaded.Settings.Model},{options.BatchSize},{r.Clients},{r.Samples},{r.SequentialPerS:0.0},{r.BatchedPerS:0.0},{r.Ratio:R},{r.Busy:R},{r.BusyRatio:R},{r.MaxDifference:R},{r.CpuDifference:R}"));
        File.WriteAllText(Path.Combine(dir, "device.csv"), csv.ToString());
        var md = new StringBuilder(Inv($"# bench device\n\n{device}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}, config {configPath}, model {loaded.Settings.Model}, batch {options.BatchSize}, one worker thread\n\n"));
        md.AppendLine("| clients K | samples | sequential samples/s | batched samples/s | batched ÷ sequential | busy places | ÷ a busy place | max \\|Δ\\| batched vs sequential | max \\|Δ\\| vs the CPU |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine(Inv($"| {r.Clients} | {r.Samples} | {r.SequentialPerS:0} | {r.BatchedPerS:0} | {r.Ratio:0.00} | {r.Busy:P0} | {r.BusyRatio:0.00} | {r.MaxDifference:0.0e0} | {r.CpuDifference:0.0e0} |"));
        md.AppendLine().AppendLine("Sequential: the K clients trained one after another, as a worker does today. Batched: the same clients' steps in one " +
            "set of kernels (BatchedTrainer). Busy places: the share of the call's K × steps places that train a client (Σ steps ÷ K · max steps); " +
            "every step computes the rest too, for the clients whose batches ran out. ÷ a busy place: the ratio over that share, what batching " +
            "gives clients of equal step counts. Vs the CPU: the device's sequential updates of the first " + CpuClients + " clients (or K) against " +
            "the same clients trained on the CPU from the host's data (0 on the CPU: the same bits). Medians of repeats of at least a second.");
        File.WriteAllText(Path.Combine(dir, "device.md"), md.ToString());
        AnsiConsole.MarkupLineInterpolated($"written to [bold]{dir}[/]");
        return ExitCodes.Ok;
    }

    /// <summary>max |a − b| over the pairs' updates, element by element.</summary>
    private static double MaxDifference(IEnumerable<(TrainOutcome First, TrainOutcome Second)> pairs) =>
        pairs.Max(p => p.First.Delta.Values.Zip(p.Second.Delta.Values).Max(v => (double)Math.Abs(v.First - v.Second)));

    /// <summary>Median seconds of <paramref name="work"/> on the pool's thread, repeated (after one warm-up) until a second
    /// has passed and at least three times.</summary>
    private static double Median(TorchWorkerPool pool, Action<WorkerSlot> work) => pool.Run(slot =>
    {
        work(slot);
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || total.Elapsed.TotalSeconds < 1)
        {
            var clock = Stopwatch.StartNew();
            work(slot);
            times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }).GetAwaiter().GetResult();

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
