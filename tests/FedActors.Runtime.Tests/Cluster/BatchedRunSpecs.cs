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
    private static RoundSummary Untimed(RoundSummary r) => r.WithoutClients() with { RoundMs = 0, ComputeMs = 0 }; // a run keeps no per-client rows (onRound has them)

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
    public async Task Label_flipping_personalised_clients_should_train_on_poisoned_batches_one_at_a_time_in_a_batched_run()
    {
        // arrange: FedALA batched by 4 with 2 of 8 clients flipping labels; the same run one client a call; and without the attack
        var clean = Batched(TestPersonalisation.NonIid(rounds: 3, clients: 8).WithPersonalisation("fedala", evaluateClients: 8), 4);
        var settings = clean.WithAttack("label-flip", fraction: 0.25);
        using var batched = TestExperiments.Load(settings);
        using var sequential = TestExperiments.Load(settings with { Device = settings.Device with { BatchClients = 1 } });
        using var honest = TestExperiments.Load(clean);

        // act
        var a = await SimulationRunner.RunAsync(batched, Support.NodeConfig(), Support.Events().Events);
        var c = await SimulationRunner.RunAsync(sequential, Support.NodeConfig(), Support.Events().Events);
        var h = await SimulationRunner.RunAsync(honest, Support.NodeConfig(), Support.Events().Events);

        // assert: the batched run trains what one-at-a-time training does (the colluders' poisoned steps included, to float
        // tolerance), and that is far from the honest run: the colluders' flipped labels move the round's mean training loss
        // 50 times that tolerance and more
        Assert.True(batched.Batching.Batched);
        foreach (var (x, y) in a.Rounds.Zip(c.Rounds))
        {
            Assert.Equal(2, x.Malicious);
            Assert.Equal(y.Responded, x.Responded);
            Assert.Equal(y.TrainLoss, x.TrainLoss, 1e-4);
            Assert.Equal(y.Accuracy, x.Accuracy, 0.02);
        }
        Assert.All(a.Rounds.Zip(h.Rounds), p => Assert.True(Math.Abs(p.First.TrainLoss - p.Second.TrainLoss) > 0.005,
            $"round {p.First.Round}: training loss {p.First.TrainLoss:F4} with flipped labels, {p.Second.TrainLoss:F4} without"));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("fedala")]
    public async Task A_batched_personalised_run_should_repeat_bit_for_bit_and_match_training_one_at_a_time(string method)
    {
        // arrange: clients evaluated on their own models every round; with one worker and with two the tasks reach the
        // batches in other orders and companies
        var settings = Batched(TestPersonalisation.NonIid(rounds: 3, clients: 8).WithPersonalisation(method, evaluateClients: 8), 4);
        using var twoWorkers = TestExperiments.Load(settings with { Device = settings.Device with { Workers = 2 } });
        using var oneWorker = TestExperiments.Load(settings with { Device = settings.Device with { Workers = 1 } });
        using var sequential = TestExperiments.Load(settings with { Device = settings.Device with { BatchClients = 1 } });

        // act
        var a = await SimulationRunner.RunAsync(twoWorkers, Support.NodeConfig(), Support.Events().Events);
        var b = await SimulationRunner.RunAsync(oneWorker, Support.NodeConfig(), Support.Events().Events);
        var c = await SimulationRunner.RunAsync(sequential, Support.NodeConfig(), Support.Events().Events);

        // assert: batched, the same rounds bit for bit in either order; the rounds of one-at-a-time training to float tolerance
        Assert.Equal(new ClientBatching(4, 4, null), twoWorkers.Batching);
        Assert.Equal(3, a.Rounds.Count);
        Assert.Equal(a.Rounds.Select(Untimed), b.Rounds.Select(Untimed));
        Assert.NotEqual(c.Rounds.Select(r => r.TrainLoss), a.Rounds.Select(r => r.TrainLoss)); // another kernel path: batched it was
        foreach (var (x, y) in a.Rounds.Zip(c.Rounds))
        {
            Assert.Equal(y.Responded, x.Responded);
            Assert.Equal(y.TrainLoss, x.TrainLoss, 1e-4);
            Assert.Equal(y.Accuracy, x.Accuracy, 0.02);
        }
    }

    [Fact]
    public void A_run_that_cannot_batch_should_train_one_at_a_time_and_say_why()
    {
        var s = Batched(TestExperiments.Synthetic(), 8);
        using (var gpfl = TestExperiments.Load(s.WithPersonalisation("gpfl")))
        {
            Assert.False(gpfl.Batching.Batched);
            Assert.Contains("personalization.method = gpfl", gpfl.Batching.ToString());
            Assert.Contains("batch-clients = 8 refused", gpfl.Batching.ToString());
        }
        using var plain = TestExperiments.Load(s with { Device = s.Device with { BatchClients = 1 } });
        Assert.Equal(ClientBatching.OneAtATime, plain.Batching);
        Assert.False(plain.Batchable(0, 1));
    }
}
