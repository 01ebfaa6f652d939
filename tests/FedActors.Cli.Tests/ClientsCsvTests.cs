using FedActors.Cli.Output;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using Xunit;

namespace FedActors.Cli.Tests;

public class ClientsCsvTests
{
    private static RoundSummary Round(int round, params (int Id, EvalOutcome Outcome)[] clients) =>
        new RoundSummary(round, 3, 3, 0, 0, 0, 0, 0, 0.5, 1, 1, 1, 0, 0)
            .WithEvaluation(double.NaN, ClientEvaluation.Of(clients.ToDictionary(c => c.Id, c => c.Outcome)));

    private static readonly RoundSummary Unevaluated = new(3, 3, 3, 0, 0, 0, 0, 0, double.NaN, double.NaN, 1, 1, 0, 0);

    [Fact]
    public void Rows_should_be_appended_per_round_in_client_order_and_cut_back_to_the_committed_rounds()
    {
        // arrange: rounds 1 and 2 evaluated (the second with a backdoor measured), round 3 not, round 4 evaluated
        var dir = Directory.CreateTempSubdirectory("clients-csv").FullName;
        var path = Path.Combine(dir, ClientsCsv.FileName);
        RoundSummary[] rounds = [Round(1, (7, new(3, 2.0, 4)), (2, new(1, 1.0, 2))), Round(2, (2, new(2, 0.5, 2, 1, 4))), Unevaluated, Round(4, (2, new(1, 0.5, 2)))];

        // act: all four written; a resumption after round 2, a fork's copy of rounds up to 1, a restart from round 1
        foreach (var r in rounds) ClientsCsv.Append(path, r, id => id == 7);
        var written = File.ReadAllLines(path);
        var forkMissing = ClientsCsv.CopyCommitted(path, Path.Combine(dir, "fork.csv"), rounds[..1]);
        var resumeMissing = ClientsCsv.KeepCommitted(path, rounds[..3]);
        var kept = File.ReadAllLines(path);
        ClientsCsv.KeepCommitted(path, []);

        // assert: sorted by client, accuracy = correct / samples, loss = mean, empty attack success without a backdoor
        Assert.Equal(
        [
            ClientsCsv.Header,
            "1,2,0,2,1,0.5,0.5,",
            "1,7,1,4,3,0.75,0.5,",
            "2,2,0,2,2,1,0.25,0.25",
            "4,2,0,2,1,0.5,0.25,",
        ], written);
        Assert.Equal(written[..4], kept);
        Assert.Equal(written[..3], File.ReadAllLines(Path.Combine(dir, "fork.csv")));
        Assert.Empty(forkMissing);
        Assert.Empty(resumeMissing);
        Assert.False(File.Exists(path)); // a restart from round 1 keeps no row
    }

    [Fact]
    public void A_round_whose_rows_a_kill_cut_short_should_be_dropped_whole_and_named()
    {
        // arrange: round 1 complete; round 2's second row cut off mid-number (no newline), as a kill inside the append leaves it
        var dir = Directory.CreateTempSubdirectory("clients-csv").FullName;
        var path = Path.Combine(dir, ClientsCsv.FileName);
        RoundSummary[] rounds = [Round(1, (0, new(1, 1.0, 2)), (1, new(2, 1.0, 2))), Round(2, (0, new(2, 1.0, 2)), (1, new(1, 3.0, 4)))];
        foreach (var r in rounds) ClientsCsv.Append(path, r, _ => false);
        var whole = File.ReadAllText(path);
        File.WriteAllText(path, whole[..^4]); // "2,1,0,4,1,0.25,0.75,\n" loses ".75,\n"

        // act: round 2 is committed (its rows come after the commit)
        var missing = ClientsCsv.KeepCommitted(path, rounds);

        // assert: round 1 kept, round 2 dropped and reported; a malformed line is not a row
        Assert.Equal([2], missing);
        Assert.Equal([ClientsCsv.Header, "1,0,0,2,1,0.5,0.5,", "1,1,0,2,2,1,0.5,"], File.ReadAllLines(path));
        File.AppendAllText(path, "2,0,0,2,2,1\n2,1,0,4,1,0.3,0.75,\n");
        Assert.Equal([1, 1], ClientsCsv.Rows(path).Select(r => r.Round));
    }

    [Fact]
    public void Per_client_outcomes_should_compare_by_value_so_identical_runs_give_equal_rounds()
    {
        var a = Round(1, (1, new(1, 1.0, 2)), (0, new(2, 1.0, 2)));
        var b = Round(1, (0, new(2, 1.0, 2)), (1, new(1, 1.0, 2)));
        var c = Round(1, (0, new(2, 1.0, 2)), (1, new(2, 1.0, 2)));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal([0, 1], a.PerClient.Clients);
        Assert.Equal(a with { PerClient = c.PerClient }, c with { ClientAccuracyMin = a.ClientAccuracyMin, ClientAccuracyMedian = a.ClientAccuracyMedian }); // only the rows differ
        Assert.Equal(0, a.WithoutClients().PerClient.Count);
    }
}
