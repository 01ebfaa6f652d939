using FedActors.Core.Config;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Hosting;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.Cluster;

/// <summary>Client-batched training in a run (<c>fedactors.device.batch-clients</c>, issue #9).</summary>
[Collection("Node")]
public class BatchedRunSpecs
{
    private static RoundSummary Untimed(RoundSummary r) => r with { RoundMs = 0, ComputeMs = 0 };

    private static ExperimentSettings Batched(ExperimentSettings s, int size) =>
        s with { Device = s.Device with { BatchClients = size, BatchWait = TimeSpan.FromMilliseconds(20) } };

    [Theory]
    [InlineData("mlp", 2)]
    [InlineData("cnn", 1)]
    public async Task A_batched_run_should_repeat_the_plain_loop_bit_for_bit_whatever_order_its_tasks_arrive_in(string model, int workers)
    {
        // arrange: dropouts and label-flipping colluders (who train one at a time inside the batched run); the
        // plain loop batches the clients in selection order, the actor run's worker in the order the tasks reach it
        var settings = Batched(TestExperiments.Synthetic(rounds: 3, clients: 12, perRound: 10, dropout: 0.2, model: model, workers: workers), 4)
            .WithAttack("label-flip", fraction: 0.25);
        using var e = TestExperiments.Load(settings);
        using var sequential = TestExperiments.Load(settings with { Device = settings.Device with { BatchClients = 1 } });
        List<RoundSummary> plain, oneAtATime;
        using (var pool = new TorchWorkerPool(2, 1, e.CreateModel)) plain = new PlainSimulation(e, pool).Run().ToList();
        using (var pool = new TorchWorkerPool(2, 1, sequential.CreateModel)) oneAtATime = new PlainSimulation(sequential, pool).Run().ToList();

        // act
        var result = await SimulationRunner.RunAsync(e, Support.NodeConfig(), Support.Events().Events);

        // assert: batching is on, and the actor run repeats the plain loop's rounds bit for bit
        Assert.Equal(new ClientBatching(4, 4, null), e.Batching);
        Assert.Equal(plain.Select(Untimed), result.Rounds.Select(Untimed));
        Assert.True(result.Rounds.Sum(r => r.Responded) >= 20, "expected most clients to deliver");
        // batched updates are not the one-at-a-time bits (another kernel path), but the same training to float tolerance
        Assert.NotEqual(oneAtATime.Select(r => r.TrainLoss), plain.Select(r => r.TrainLoss));
        foreach (var (b, s) in plain.Zip(oneAtATime))
        {
            Assert.Equal(s.Responded, b.Responded);
            Assert.Equal(s.TrainLoss, b.TrainLoss, 1e-4);
            Assert.Equal(s.Accuracy, b.Accuracy, 0.02);
        }
    }

    [Fact]
    public void A_run_that_cannot_batch_should_train_one_at_a_time_and_say_why()
    {
        var s = Batched(TestExperiments.Synthetic(), 8);
        using (var fedala = TestExperiments.Load(s.WithPersonalisation("fedala")))
        {
            Assert.False(fedala.Batching.Batched);
            Assert.Contains("personalization.method = fedala", fedala.Batching.ToString());
            Assert.Contains("batch-clients = 8 refused", fedala.Batching.ToString());
        }
        using var plain = TestExperiments.Load(s with { Device = s.Device with { BatchClients = 1 } });
        Assert.Equal(ClientBatching.OneAtATime, plain.Batching);
        Assert.False(plain.Batchable(0, 1));
    }
}
