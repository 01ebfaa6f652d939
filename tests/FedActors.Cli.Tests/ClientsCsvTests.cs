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

    [Fact]
    public void Rows_should_be_appended_per_round_in_client_order_and_cut_back_to_a_checkpoint()
    {
        // arrange
        var dir = Directory.CreateTempSubdirectory("clients-csv").FullName;
        var path = Path.Combine(dir, ClientsCsv.FileName);

        // act: three rounds (the second with a backdoor measured), then a resumption after round 1, then a fork's copy
        ClientsCsv.Append(path, Round(1, (7, new(3, 2.0, 4)), (2, new(1, 1.0, 2))), id => id == 7);
        ClientsCsv.Append(path, Round(2, (2, new(2, 0.5, 2, 1, 4))), _ => false);
        ClientsCsv.Append(path, new RoundSummary(3, 3, 3, 0, 0, 0, 0, 0, double.NaN, double.NaN, 1, 1, 0, 0), _ => false); // not evaluated
        var written = File.ReadAllLines(path);
        ClientsCsv.CopyThrough(path, Path.Combine(dir, "fork.csv"), 1);
        ClientsCsv.KeepThrough(path, 1);

        // assert: sorted by client, accuracy = correct / samples, loss = mean, empty attack success without a backdoor
        Assert.Equal(
        [
            ClientsCsv.Header,
            "1,2,0,2,1,0.5,0.5,",
            "1,7,1,4,3,0.75,0.5,",
            "2,2,0,2,2,1,0.25,0.25",
        ], written);
        Assert.Equal(written[..3], File.ReadAllLines(path));
        Assert.Equal(written[..3], File.ReadAllLines(Path.Combine(dir, "fork.csv")));
        ClientsCsv.KeepThrough(path, 0);
        Assert.False(File.Exists(path)); // a restart from round 1 keeps no row
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
