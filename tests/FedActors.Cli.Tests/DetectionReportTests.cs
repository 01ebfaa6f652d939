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
        // round 2's DefenceMeasured was logged twice (redone after a resume): its last values count
        var clef = Path.Combine(dir, "events.clef");
        File.WriteAllLines(clef, [
            """{"@t":"2026-11-30T05:00:00Z","@mt":"x","Round":1,"Rule":"skymask","Measured":"…","Separation":7.5,"Split":1,"Event":"DefenceMeasured"}""",
            """{"@t":"2026-11-30T05:00:01Z","@mt":"x","Round":2,"Responded":9,"Event":"RoundCompleted"}""",
            """{"@t":"2026-11-30T05:00:02Z","@mt":"x","Round":2,"Rule":"skymask","Measured":"…","Separation":2,"Split":0,"Event":"DefenceMeasured"}""",
            """{"@t":"2026-11-30T05:00:03Z","@mt":"x","Round":2,"Rule":"skymask","Measured":"…","Separation":3,"Split":0,"Event":"DefenceMeasured"}""",
            """{"@t":"2026-11-30T05:00:04Z","Round":3,"Event":"Defence""", // cut by a kill
        ]);
        Assert.Equal("cell,round,responded,malicious,true_positives,false_positives,fpr,fnr,separation,split\n" +
            "c,1,9,2,2,1,0.14285714285714285,0,7.5,1\nc,2,9,2,2,0,0,0,3,0\nd,1,9,2,2,1,0.14285714285714285,0,,\nd,2,9,2,2,0,0,0,,\n",
            DetectionReport.Csv([("c", DetectionReport.Read(csv), DetectionReport.Measured(clef)),
                ("d", DetectionReport.Read(csv), DetectionReport.Measured(Path.Combine(dir, "none.clef")))]).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void The_pills_crafting_should_be_averaged_over_colluders_and_rounds_from_its_events()
    {
        // two crafting rounds of three colluders, round 2 logged twice (redone after a resume: the last counts), a cut line
        var clef = Path.Combine(RunScriptTests.TempDir(), "events.clef");
        File.WriteAllLines(clef, [
            """{"@t":"2026-11-30T05:00:00Z","@mt":"x","Round":1,"Beta":[1,0.5,0],"PillDeviation":[0.1,0.2,0.3],"ZeroBetaShare":0.333,"Event":"PillCrafted"}""",
            """{"@t":"2026-11-30T05:00:01Z","@mt":"x","Round":2,"Beta":[0,0,0],"PillDeviation":[9,9,9],"ZeroBetaShare":1,"Event":"PillCrafted"}""",
            """{"@t":"2026-11-30T05:00:02Z","@mt":"x","Round":2,"Beta":[1,1,0.5],"PillDeviation":[0.4,0.5,0.6],"ZeroBetaShare":0,"Event":"PillCrafted"}""",
            """{"@t":"2026-11-30T05:00:03Z","Round":3,"Beta":[1,""", // cut by a kill
        ]);

        var crafted = DetectionReport.Crafted(clef);

        // β over (1, 0.5, 0, 1, 1, 0.5) = 4/6; one of six at 0; deviation over 0.1 … 0.6 = 0.35
        Assert.NotNull(crafted);
        Assert.Equal((2, 6), (crafted.Rounds, crafted.Pills));
        Assert.Equal(4.0 / 6, crafted.MeanBeta, 12);
        Assert.Equal(1.0 / 6, crafted.ZeroBetaShare, 12);
        Assert.Equal(0.35, crafted.MeanDeviation, 12);
        Assert.Null(DetectionReport.Crafted(Path.Combine(RunScriptTests.TempDir(), "none.clef")));
    }
}
