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
    public void The_top_chart_should_span_3_points_under_the_best_final_accuracy_to_half_a_point_over_the_best_reached()
    {
        // finals 62 % (climbing) and 90 % (flat); best reached 90 %
        var (low, high) = TopLimits([Climbing, Flat])!.Value;
        Assert.Equal(87.0, low, 10);
        Assert.Equal(90.5, high, 10);
        Assert.Null(TopLimits([new Curve("empty", "e", [], 0, 0)]));
    }

    [Fact]
    public void Compare_should_tabulate_and_chart_each_runs_clients_at_its_last_evaluated_round()
    {
        // arrange: a run with clients.csv — round 1; round 2 with 4 benign clients, a malicious one and one without test
        // samples; round 3 still being written (2 of its 5 rows) — and a run without one
        var root = Directory.CreateTempSubdirectory("fedactors-compare-").FullName;
        string Folder(string name, bool clients)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
            File.WriteAllLines(Path.Combine(dir, "rounds.csv"), ["round,accuracy,evaluated_clients,round_ms", "1,0.6,2,1000", "2,0.8,6,1000", "3,0.8,5,1000"]);
            if (clients)
                File.WriteAllLines(Path.Combine(dir, "clients.csv"),
                [
                    Output.ClientsCsv.Header, "1,0,0,10,1,0.1,2,", "1,1,0,10,2,0.2,2,",
                    "2,0,0,10,9,0.9,0.3,", "2,1,1,10,5,0.5,1,", "2,2,0,0,0,,,", "2,3,0,10,10,1,0.1,", "2,4,0,10,7,0.7,0.5,", "2,5,0,10,5,0.5,1,",
                    "3,0,0,10,1,0.1,2,", "3,1,1,10,1,0.1,2,",
                ]);
            return dir;
        }
        var with = Folder("with", clients: true);
        var without = Folder("without", clients: false);
        var outDir = Path.Combine(root, "cmp");

        // act
        int code = Execute([with, without], outDir, "t");

        // assert: round 2's benign accuracies 0.5, 0.7, 0.9, 1 — mean 77.5 %, population std √0.036875 = 19.20 pt, worst
        // tenth (1 client) 50 %
        Assert.Equal(0, code);
        var md = File.ReadAllText(Path.Combine(outDir, "compare.md"));
        Assert.Contains("| with | 2 | 4 | 77.50 % | 19.20 pt | 50.00 % |", md);
        Assert.DoesNotContain("| without | 2 |", md.Split("clients at round")[1]);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(outDir, "compare-clients.png"))[..4]);
        Assert.Null(ClientSpread.Read(without));
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

    // Local-like: flat at 55 % on rounds 2, 4, 6, 8
    private static readonly Curve Baseline = new("local", "c",
        new[] { 2, 4, 6, 8 }.Select(r => new Point(r, 0.55, 0.5, 0.55, 0.6, r * 0.25)).ToArray(), 8, 2.0);

    [Fact]
    public void Against_a_baseline_a_run_should_be_above_from_the_first_round_of_its_last_unbroken_lead_with_the_mean_gap_of_the_shared_rounds()
    {
        // climbing: 52, 54, 56, 58 % at the shared rounds 2, 4, 6, 8 against 55 %: above from round 6; gaps −3, −1, +1, +3 pt
        var (from, gap) = Versus(Climbing, Baseline);
        Assert.Equal(6, from);
        Assert.Equal(0.0, gap, 10);
        Assert.Equal(0.02, Versus(Climbing, Baseline, window: 2).Gap, 10);   // rounds 6 and 8 only

        // a lead broken at round 6 counts from round 8; a run under it at the last shared round is not above it
        var dips = new Curve("dips", "d", [new(2, 0.6, 0, 0, 0, 1), new(4, 0.6, 0, 0, 0, 2), new(6, 0.5, 0, 0, 0, 3), new(8, 0.6, 0, 0, 0, 4)], 8, 4);
        Assert.Equal(8, Versus(dips, Baseline).AboveFrom);
        Assert.Null(Versus(Flat with { Points = [.. Flat.Points.Select(p => p with { Accuracy = 0.5 })] }, Baseline).AboveFrom);
        // nothing shared (round 3 only): no verdict
        var odd = new Curve("odd", "e", [new(3, 0.9, 0, 0, 0, 1)], 3, 1);
        Assert.Equal((null, double.NaN), Versus(odd, Baseline));
    }

    [Fact]
    public void The_table_with_a_baseline_should_give_each_run_its_lead_and_gap_and_the_baseline_dashes()
    {
        var md = Markdown([Climbing, Baseline], "t", Baseline);

        Assert.Contains("| above local from round | gap to local, pt (last 10 shared rounds) |", md);
        Assert.EndsWith("| 30.0 | 6 | +0.00 |", md.Split('\n')[4]);   // climbing
        Assert.EndsWith("| 15.0 | – | – |", md.Split('\n')[5]);       // the baseline itself
    }

    [Fact]
    public void Runs_of_the_same_method_should_be_told_apart_by_their_parent_folder_and_a_baseline_that_matches_none_refused()
    {
        var root = Directory.CreateTempSubdirectory("fedactors-compare-").FullName;
        string Run(string parent, string method)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, parent, "run")).FullName;
            File.WriteAllLines(Path.Combine(dir, "rounds.csv"), ["round,accuracy,round_ms", "1,0.5,1000", "2,0.6,1000"]);
            File.WriteAllText(Path.Combine(dir, "config.conf"), $"fedactors.personalization.method = {method}");
            return dir;
        }
        string a = Run("gpfl", "gpfl"), b = Run("pfl-gpfl-pfllib", "gpfl"), local = Run("local", "local");

        var labels = Distinct([Read(a, Path.Combine(a, "rounds.csv")), Read(b, Path.Combine(b, "rounds.csv")), Read(local, Path.Combine(local, "rounds.csv"))])
            .Select(c => c.Label);

        Assert.Equal(["gpfl (gpfl)", "gpfl (pfl-gpfl-pfllib)", "local"], labels);
        // two runs side by side in one folder (runs/<name>-<stamp>): their own folder names tell them apart
        var side = new[] { "pfl-1", "pfl-2" }.Select(n => new Curve("gpfl", Path.Combine(root, "runs", n), [], 0, 0)).ToArray();
        Assert.Equal(["gpfl (pfl-1)", "gpfl (pfl-2)"], Distinct(side).Select(c => c.Label));
        var outDir = Path.Combine(root, "out");
        Assert.Equal(ExitCodes.Ok, Execute([a, b, local], outDir, "t", "local"));
        Assert.Contains("| above local from round |", File.ReadAllText(Path.Combine(outDir, "compare.md")));
        Assert.Equal(ExitCodes.Ok, Execute([a, b, local], outDir, "t", b));          // a folder names it too
        Assert.Equal(ExitCodes.InvalidInput, Execute([a, b, local], outDir, "t", "gpfl"));   // two runs are gpfl
        Assert.Equal(ExitCodes.InvalidInput, Execute([a, b, local], outDir, "t", "fedala"));
    }
}
