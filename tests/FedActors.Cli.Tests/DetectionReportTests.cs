using FedActors.Cli.Output;
using Xunit;

namespace FedActors.Cli.Tests;

public class DetectionReportTests
{
    [Fact]
    public void Detection_should_be_exact_from_the_first_round_after_which_no_round_misses_or_drops_anyone()
    {
        // 10 updates a round, 2 malicious: round 1 misses one, round 2 is exact, round 3 drops a benign one, 4 and 5 exact
        DetectionRound[] rounds = [new(1, 10, 2, 1, 0), new(2, 10, 2, 2, 0), new(3, 10, 2, 2, 1), new(4, 10, 2, 2, 0), new(5, 10, 2, 2, 0)];
        Assert.Equal(4, DetectionReport.ExactFrom(rounds));
        Assert.Null(DetectionReport.ExactFrom([.. rounds, new(6, 10, 2, 1, 0)])); // the last round missed one
        Assert.Equal(1, DetectionReport.ExactFrom([new(1, 10, 0, 0, 0), new(2, 10, 0, 0, 0)])); // no attack, nobody dropped
        Assert.Null(DetectionReport.ExactFrom([]));
        Assert.Equal((0.5, 0.0), (rounds[0].FalseNegativeRate, rounds[0].FalsePositiveRate));
        Assert.Equal(0.125, rounds[2].FalsePositiveRate);
        Assert.True(double.IsNaN(new DetectionRound(1, 10, 0, 0, 0).FalseNegativeRate));
    }

    [Fact]
    public void Rounds_csv_should_be_read_back_by_its_column_names()
    {
        var dir = RunScriptTests.TempDir();
        var csv = Path.Combine(dir, "rounds.csv");
        var rounds = new[] { 1, 2 }.Select(r => new Core.Simulation.RoundSummary(r, 10, 9, 1, 0, 0, 0, 0, double.NaN, double.NaN, 0.5, 1, 10, 8,
            Malicious: 2, Flagged: 4 - r, TruePositives: 2, FalsePositives: 2 - r)).ToList();
        RunReport.WriteRoundsCsv(csv, rounds);
        Assert.Equal([new DetectionRound(1, 9, 2, 2, 1), new DetectionRound(2, 9, 2, 2, 0)], DetectionReport.Read(csv));
        Assert.Empty(DetectionReport.Read(Path.Combine(dir, "absent.csv")));
        Assert.Equal("cell,round,responded,malicious,true_positives,false_positives,fpr,fnr\nc,1,9,2,2,1,0.14285714285714285,0\nc,2,9,2,2,0,0,0\n",
            DetectionReport.Csv([("c", DetectionReport.Read(csv))]).ReplaceLineEndings("\n"));
    }
}
