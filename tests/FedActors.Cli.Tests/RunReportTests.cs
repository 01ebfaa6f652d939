using FedActors.Cli.Output;
using FedActors.Core.Simulation;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Cli.Tests;

public class RunReportTests
{
    [Theory]
    [InlineData("lie", 0, "auto", "every 1 round(s) and the last, personalised, all 7 benign clients (3 malicious left out)")]
    [InlineData("lie", 4, "auto", "every 1 round(s) and the last, personalised, a seeded 4 of 7 benign clients (3 malicious left out)")]
    [InlineData("none", 0, "auto", "every 1 round(s) and the last, personalised, all 10 clients")]
    [InlineData("none", 0, "benign", "every 1 round(s) and the last, personalised, all 7 clients (3 an attack would make malicious left out)")]
    [InlineData("lie", 0, "all", "every 1 round(s) and the last, personalised, all 10 clients")]
    public void A_personalised_summary_should_say_whose_models_were_evaluated(string attack, int sample, string evaluate, string expected)
    {
        var settings = TestExperiments.Synthetic(rounds: 2, clients: 10).WithPersonalisation("fedala", evaluateClients: sample).WithAttack(attack, fraction: 0.3);
        settings = settings with { Personalisation = settings.Personalisation! with { Evaluate = evaluate } };
        var s = RunReport.Summarise(settings with { Round = settings.Round with { EvaluateEvery = 1 } }, [], TimeSpan.FromSeconds(1), "dir");
        Assert.Equal(expected, s.Evaluation!.ToString());
    }

    [Fact]
    public void Rounds_that_kept_the_model_should_be_counted_apart_and_their_reason_written()
    {
        // round 1 aggregated 7 of 9 (2 flagged); rounds 2 and 3 kept the model (too few updates for the rule)
        // (2 malicious updates each in rounds 1 and 2: round 1 flags both and one benign update, round 2 decides nothing)
        RoundSummary Round(int r, int responded, int flagged, int malicious, int caught, string? why) =>
            new RoundSummary(r, 10, responded, 10 - responded, 0, 0, 0, 0, 0.5, 1, 0.5, 1, 10, 8,
                Malicious: malicious, Flagged: flagged, TruePositives: caught, FalsePositives: flagged - caught) { NotAggregated = why };
        var rounds = new[]
        {
            Round(1, 9, 3, 2, 2, null),
            Round(2, 4, 0, 2, 0, "multi-krum: would select m = n − 2f − 2 = 0 of n = 4 updates (f = 1)"),
            Round(3, 0, 0, 0, 0, ServerStep.NoUpdate),
        };
        var s = RunReport.Summarise(TestExperiments.Synthetic(rounds: 3), rounds, TimeSpan.FromSeconds(1), "dir");

        Assert.Equal((6, 13, 2), (s.UpdatesAggregated, s.TotalResponded, s.RoundsNotAggregated));
        Assert.Equal("round 3: no update to aggregate", s.NotAggregated);
        // the detection rates count the round the rule decided: round 2's colluders were not let through, nor caught
        Assert.Equal((1.0 / 7, 0.0), (s.FalsePositiveRate, s.FalseNegativeRate));
        Assert.Equal(0, rounds[1].FalseNegatives);
        Assert.True(double.IsNaN(rounds[1].FalseNegativeRate));

        // rounds.csv: the last column, commas kept out of the field
        var csv = Path.Combine(RunScriptTests.TempDir(), "rounds.csv");
        RunReport.WriteRoundsCsv(csv, rounds);
        var lines = File.ReadAllLines(csv);
        Assert.EndsWith(",not_aggregated", lines[0]);
        Assert.Equal(lines[0].Split(',').Length, lines[2].Split(',').Length);
        Assert.Equal(["", "multi-krum: would select m = n − 2f − 2 = 0 of n = 4 updates (f = 1)", "no update to aggregate"],
            lines[1..].Select(l => l.Split(',')[^1]));
        // and the detection read back from it is the decided round's
        Assert.Equal([new DetectionRound(1, 9, 2, 2, 1)], DetectionReport.Read(csv));
    }
}
