using FedActors.Cli.Commands;
using Xunit;
using static FedActors.Cli.Commands.CompareCommand;

namespace FedActors.Cli.Tests;

/// <summary>The numbers <c>fedactors compare</c> puts side by side, on curves whose answers are known by hand.</summary>
public class CompareTests
{
    // 12 rounds climbing 1 pt per round from 51 %; 8 rounds flat at 90 % evaluated every second round
    private static readonly Curve Climbing = new("climbing", "a",
        Enumerable.Range(1, 12).Select(r => new Point(r, 0.50 + 0.01 * r, 0.4, 0.5, 0.6, r * 0.5)).ToArray(), 12, 6.0);
    private static readonly Curve Flat = new("flat", "b",
        new[] { 2, 4, 6, 8 }.Select(r => new Point(r, 0.90, 0.8, 0.9, 1.0, r * 0.25)).ToArray(), 8, 2.0);

    [Fact]
    public void Climb_should_be_the_least_squares_slope_over_the_last_10_rounds_per_10_rounds()
    {
        Assert.Equal(0.10, Climbing.Climb(), 10);          // rounds 3..12, 1 pt per round
        Assert.Equal(0.0, Flat.Climb(), 10);               // rounds 2, 4, 6, 8 (all within the last 10)
        Assert.True(double.IsNaN(new Curve("short", "c", Climbing.Points[..2], 2, 1).Climb()));
    }

    [Fact]
    public void The_table_should_compare_the_runs_at_the_last_round_all_of_them_reached()
    {
        var md = Markdown([Climbing, Flat], "t");

        Assert.Contains("| at round 8 |", md);
        Assert.Contains("| climbing | 12 | 6.0 | 62.00 % (12) | 58.00 % | 62.00 % | 40.00 % / 50.00 % / 60.00 % | +10.00 | 30.0 |", md);
        Assert.Contains("| flat | 8 | 2.0 | 90.00 % (2) | 90.00 % | 90.00 % | 80.00 % / 90.00 % / 100.00 % | +0.00 | 15.0 |", md);
    }

    [Fact]
    public void Reading_rounds_csv_should_count_the_time_of_rounds_that_were_not_evaluated()
    {
        var dir = Directory.CreateTempSubdirectory("fedactors-compare-").FullName;
        File.WriteAllLines(Path.Combine(dir, "rounds.csv"),
        [
            "round,accuracy,client_accuracy_min,client_accuracy_median,client_accuracy_max,round_ms",
            "1,,,,,30000",
            "2,0.5,0.4,0.5,0.6,30000",
            "3,,,,,30000",
            "4,0.7,0.6,0.7,0.8,30000",
        ]);

        var curve = Read(dir, Path.Combine(dir, "rounds.csv"));

        Assert.Equal(4, curve.Rounds);
        Assert.Equal(2.0, curve.Minutes, 10);
        Assert.Equal([2, 4], curve.Points.Select(p => p.Round));
        Assert.Equal([1.0, 2.0], curve.Points.Select(p => p.Minutes));
        Assert.Equal(0.5, curve.At(3));
    }
}
