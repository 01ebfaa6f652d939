using System.Globalization;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary><c>fedactors bench scale</c> on a tiny grid: it measures real run processes and the bare loop.</summary>
[Collection("Cli")]
public class ScaleBenchTests : IDisposable
{
    public void Dispose() => RunScriptTests.KillLeftovers();

    [Fact]
    public void Bench_scale_should_measure_each_population_with_its_peak_memory_and_the_bare_loop_ratio()
    {
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("bench", "scale", "--clients", "60,300", "--per-round", "20", "--out", outDir,
            "--set", "fedactors.rounds=2", "--set", "fedactors.data.limit=3000");
        Assert.True(code == 0, o + e);
        var dir = Assert.Single(Directory.GetDirectories(outDir, "bench-scale-*"));
        Assert.True(File.Exists(Path.Combine(dir, "scale.md")));
        var lines = File.ReadAllLines(Path.Combine(dir, "scale.csv"));
        var header = lines[0].Split(',');
        double Cell(int row, string name) => double.Parse(lines[row].Split(',')[Array.IndexOf(header, name)], CultureInfo.InvariantCulture);
        Assert.Equal(3, lines.Length);
        Assert.Equal([60.0, 300.0], [Cell(1, "clients"), Cell(2, "clients")]);
        for (int row = 1; row <= 2; row++)
        {
            Assert.Equal(20, Cell(row, "per_round"));
            Assert.True(Cell(row, "peak_rss_mb") > 50, lines[row]);
            Assert.True(Cell(row, "updates_per_s") > 0, lines[row]);
            // ÷ bare is the median round over the bare loop's, up to the CSV's rounding of the three to 3 decimals
            double median = Cell(row, "median_round_s"), bare = Cell(row, "bare_round_s"), ratio = Cell(row, "ratio");
            Assert.True(median > 0 && bare > 0, lines[row]);
            Assert.True(Math.Abs(ratio - median / bare) <= ratio * (0.0005 / bare + 0.0005 / median) + 0.0005, lines[row]);
            Assert.True(Cell(row, "store_mb") > 0, lines[row]);
        }
    }

    [Fact]
    public void Bench_scale_with_a_personalisation_method_should_give_no_bare_loop_ratio()
    {
        // the plain loop has no personalisation methods: a ratio against FedAvg's loop would mislead
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("bench", "scale", "--clients", "40", "--per-round", "10", "--method", "fedala", "--out", outDir,
            "--set", "fedactors.rounds=2", "--set", "fedactors.data.limit=3000");
        Assert.True(code == 0, o + e);
        var lines = File.ReadAllLines(Path.Combine(Assert.Single(Directory.GetDirectories(outDir, "bench-scale-*")), "scale.csv"));
        var row = lines[1].Split(',');
        var header = lines[0].Split(',');
        Assert.Equal("fedala", row[Array.IndexOf(header, "method")]);
        Assert.Equal("NaN", row[Array.IndexOf(header, "ratio")]);
        Assert.True(double.Parse(row[Array.IndexOf(header, "peak_rss_mb")], System.Globalization.CultureInfo.InvariantCulture) > 50);
    }

    [Theory]
    [InlineData("--clients", "0,10", "--clients")]
    [InlineData("--clients", "ten", "--clients")]
    [InlineData("--per-round", "5000", "fedactors.clients.per-round")]
    public void Bench_scale_should_refuse_sizes_that_cannot_work(string option, string value, string named)
    {
        var outDir = RunScriptTests.TempDir();
        string[] args = option == "--clients" ? ["bench", "scale", option, value, "--out", outDir] : ["bench", "scale", "--clients", "100", option, value, "--out", outDir];
        var (code, o, e) = RunScriptTests.RunScript(args);
        Assert.True(code == 2, o + e);
        Assert.Contains(named, e);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }
}
