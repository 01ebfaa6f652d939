using System.Globalization;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary><c>fedactors bench device</c> as a user runs it: batched training's agreement with sequential training is part
/// of its output, on the CPU and on a CUDA device where one is found.</summary>
[Collection("Cli")]
public class DeviceBenchTests
{
    private static double[] Column(string outDir, string name)
    {
        var lines = File.ReadAllLines(Path.Combine(Assert.Single(Directory.GetDirectories(outDir)), "device.csv"));
        int at = Array.IndexOf(lines[0].Split(','), name);
        Assert.True(at >= 0, $"no column {name}");
        return [.. lines.Skip(1).Select(l => double.Parse(l.Split(',')[at], CultureInfo.InvariantCulture))];
    }

    private static double[] MaxDifferences(string outDir) => Column(outDir, "max_abs_difference");

    [Fact]
    public void The_device_bench_should_train_FedAvgCNN_batched_as_sequentially_and_say_how_close()
    {
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("bench", "device", "--set", "fedactors.model.kind=cnn", "--clients", "1,3", "--out", outDir);
        Assert.True(code == 0, o + e);
        Assert.All(MaxDifferences(outDir), d => Assert.InRange(d, 0, 1e-5));
        // on the CPU the device's sequential updates are the CPU reference's, bit for bit (a second pool, the host's data)
        Assert.All(Column(outDir, "cpu_max_abs_difference"), d => Assert.Equal(0, d));
        // the per-busy-place ratio is the ratio over the busy share (ClientBatching.BusyShare, tested by hand in Core)
        var (busy, ratio, perBusy) = (Column(outDir, "busy_share"), Column(outDir, "ratio"), Column(outDir, "ratio_per_busy_place"));
        Assert.All(Enumerable.Range(0, 2), i => Assert.Equal(ratio[i] / busy[i], perBusy[i], 1e-9));
    }

    [Fact]
    public void A_CUDA_device_should_be_used_where_one_is_found_and_refused_with_the_reason_where_not()
    {
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("bench", "device", "--device", "cuda", "--set", "fedactors.model.kind=cnn", "--clients", "1,3", "--out", outDir);
        if (TorchSharp.torch.cuda.is_available())
        {
            // a GPU node (a bundle with the node's CUDA libtorch): TF32 convolutions agree to ~1e-3, not 1e-5
            Assert.True(code == 0, o + e);
            Assert.All(MaxDifferences(outDir), d => Assert.InRange(d, 0, 1e-3));
            Assert.All(Column(outDir, "cpu_max_abs_difference"), d => Assert.InRange(d, 0, 1e-3));
        }
        else
        {
            Assert.True(code == 2, o + e);
            Assert.Contains("deploy/bundle.sh --libtorch host", o + e);
            Assert.Empty(Directory.GetDirectories(outDir));
        }
        (code, o, e) = RunScriptTests.RunScript("bench", "device", "--device", "tpu", "--out", outDir);
        Assert.True(code == 2, o + e);
        Assert.Contains("cpu, cuda or cuda:N", o + e);
    }
}
