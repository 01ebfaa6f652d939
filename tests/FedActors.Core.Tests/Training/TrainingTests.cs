using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Training;

[Collection("Torch")]
public class TrainingTests
{
    [Fact]
    public async Task Clients_evaluated_in_shared_batches_should_get_what_each_gets_alone()
    {
        // arrange: 30 clients' test splits of unequal sizes, a partly trained model (so predictions vary)
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 30, samples: 3000));
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var global = e.InitialWeights();
        var weights = global.Add((await pool.Run(s => e.Train(s, global, 0, 1))).Delta);
        var groups = e.Partition.Clients.Select(c => (IReadOnlyList<int>)c.Test).ToArray();

        // act: one call, batches of 64 samples that cut across clients
        var grouped = await pool.Run(s => Evaluator.EvaluateGroups(s.Model, weights, e.Data, groups, batchSize: 64));
        var alone = await pool.Run(s => groups.Select(g => Evaluator.Evaluate(s.Model, weights, e.Data, g)).ToArray());

        // assert: the same hits and counts per client, losses equal to float precision
        Assert.Equal(alone.Select(o => (o.Correct, o.Count)), grouped.Select(o => (o.Correct, o.Count)));
        Assert.All(alone.Zip(grouped), p => Assert.Equal(p.First.LossSum, p.Second.LossSum, Math.Max(1e-5 * p.First.LossSum, 1e-6)));
        Assert.Contains(alone, o => o.Correct > 0 && o.Correct < o.Count);
    }

    [Fact]
    public async Task A_backdoor_measured_in_shared_batches_should_credit_each_client_its_own_hits()
    {
        // arrange: as above, with the scaling attack's trigger; its target the label the untrained model gives most
        // triggered samples (so that some hit and some do not)
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 30, samples: 3000));
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var weights = e.InitialWeights();
        var groups = e.Partition.Clients.Select(c => (IReadOnlyList<int>)c.Test).ToArray();
        var target = await pool.Run(s =>
        {
            weights.CopyTo(s.Model);
            return Enumerable.Range(0, 10).MaxBy(t => Evaluator.Backdoor(s.Model, e.Data, [.. groups.SelectMany(g => g)], new Core.Attacks.Scaling(new(TargetLabel: t))).BackdoorHits);
        });
        var backdoor = new Core.Attacks.Scaling(new Core.Attacks.ScalingOptions(TargetLabel: target));

        // act: one call across clients (before: one count for the whole chunk), each client alone, and all pooled
        var (grouped, alone, pooled) = await pool.Run(s =>
        {
            weights.CopyTo(s.Model);
            return (Evaluator.BackdoorGroups(s.Model, e.Data, groups, backdoor, batchSize: 64),
                groups.Select(g => Evaluator.Backdoor(s.Model, e.Data, g, backdoor)).ToArray(),
                Evaluator.Backdoor(s.Model, e.Data, [.. groups.SelectMany(g => g)], backdoor, batchSize: 64));
        });

        // assert: per client the hits and the triggered samples (those not of the target label) it has alone; they add up
        Assert.Equal(alone.Select(o => (o.BackdoorHits, o.BackdoorCount)), grouped.Select(o => (o.BackdoorHits, o.BackdoorCount)));
        Assert.Equal((pooled.BackdoorHits, pooled.BackdoorCount), (grouped.Sum(o => o.BackdoorHits), grouped.Sum(o => o.BackdoorCount)));
        Assert.Equal(groups.Select(g => (long)g.Count(i => e.Data.Labels[i] != target)), grouped.Select(o => o.BackdoorCount));
        Assert.Contains(grouped, o => o.BackdoorHits > 0 && o.BackdoorHits < o.BackdoorCount);
    }

    [Fact]
    public async Task Local_training_should_lower_the_loss_and_return_the_delta_from_the_global_model()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 4, samples: 800));
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var global = e.InitialWeights();
        var before = await pool.Run(s => Evaluator.Evaluate(s.Model, global, e.Data, e.Partition.Clients[0].Train));
        var outcome = await pool.Run(s => e.Train(s, global, 0, 1));
        var local = global.Add(outcome.Delta);
        var after = await pool.Run(s => Evaluator.Evaluate(s.Model, local, e.Data, e.Partition.Clients[0].Train));
        Assert.True(after.MeanLoss < before.MeanLoss, $"{before.MeanLoss} → {after.MeanLoss}");
        Assert.Equal(global.Length, outcome.Delta.Length);
        Assert.Equal(e.TrainSamples(0), outcome.NumSamples);
        Assert.Equal(new TrainOptions(1, 10, 0.05).StepsFor(outcome.NumSamples), outcome.Steps);
    }

    [Fact]
    public void A_client_smaller_than_a_batch_should_train_on_its_partial_batch_even_with_drop_last()
    {
        // 7 samples, batch 10, drop-last on: one batch of 7 per epoch (PFLlib's loader would give none); 27 samples: two
        // full batches, the last 7 dropped as usual
        var options = new TrainOptions(2, 10, 0.1, DropLast: true);
        var small = Batches.Shuffled(Enumerable.Range(0, 7).ToArray(), options, new Rng(1)).ToArray();
        var large = Batches.Shuffled(Enumerable.Range(0, 27).ToArray(), options, new Rng(1)).ToArray();
        Assert.Equal([7, 7], small.Select(b => b.Count));
        Assert.Equal([10, 10, 10, 10], large.Select(b => b.Count));
        Assert.Equal(2, options.StepsFor(7));
        Assert.Equal(4, options.StepsFor(27));
        Assert.Equal(0, options.StepsFor(0));
    }

    [Theory]
    [InlineData(27, true)]  // two epochs of two full batches: the last 7 dropped, the order array reshuffled in between
    [InlineData(27, false)] // and with the partial batch kept
    [InlineData(7, true)]   // a client smaller than a batch: its one partial batch an epoch
    [InlineData(0, true)]   // no samples: no step
    public void A_calls_rows_uploaded_at_once_should_be_each_steps_batch(int samples, bool dropLast)
    {
        // arrange: the batches a loop used to copy one by one (Batches reuses its order array across epochs: copied here)
        var options = new TrainOptions(2, 10, 0.1, DropLast: dropLast);
        var expected = Batches.Shuffled(Enumerable.Range(100, samples).ToArray(), options, new Rng(3)).Select(b => b.ToArray()).ToArray();

        // act
        using var batches = new DeviceBatches(Batches.Shuffled(Enumerable.Range(100, samples).ToArray(), options, new Rng(3)), torch.CPU);

        // assert
        Assert.Equal(expected.Length, batches.Count);
        for (int i = 0; i < batches.Count; i++)
        {
            using var rows = batches.Rows(i);
            Assert.Equal(expected[i].Select(v => (long)v), rows.data<long>().ToArray());
        }
    }

    [Fact]
    public void Step_losses_read_once_should_give_the_mean_of_reading_each_step()
    {
        // the float32 values summed in double, in step order: what `sum += loss.item<float>()` gave
        float[] values = [2.3025851f, 1.1f, 0.30000001f, 7.5e-3f, 1e-7f];
        double each = 0;
        foreach (var v in values) each += v;
        using var losses = new StepLosses();
        Assert.True(double.IsNaN(losses.Mean()));
        foreach (var v in values)
        {
            using var scope = torch.NewDisposeScope();
            losses.Add(torch.tensor(v)); // the step's scope ends; the kept copy lives on
        }
        Assert.Equal(values.Length, losses.Count);
        Assert.Equal(each / values.Length, losses.Mean()); // exact
    }

    [Fact]
    public async Task Training_should_be_bit_identical_for_the_same_seed()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 4, samples: 800));
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        var g = e.InitialWeights();
        var a = await pool.Run(s => e.Train(s, g, 1, 5));
        var b = await pool.Run(s => e.Train(s, g, 1, 5));
        var c = await pool.Run(s => e.Train(s, g, 1, 6));
        Assert.Equal(a.Delta.Values, b.Delta.Values);
        Assert.NotEqual(a.Delta.Values, c.Delta.Values);
    }

    [Fact]
    public void Training_should_not_leak_tensors()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 4, samples: 800));
        using var model = e.CreateModel();
        var g = e.InitialWeights();
        var slot = new WorkerSlot(0, model);
        e.Train(slot, g, 0, 1); // warm-up: optimiser and autograd state
        DisposeScopeManager.Statistics.Reset();
        for (int r = 2; r < 22; r++) e.Train(slot, g, 0, r);
        Assert.Equal(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void The_plain_loop_should_learn_and_give_identical_rounds_for_the_same_seed()
    {
        using var e = TestExperiments.Load(TestExperiments.Synthetic(rounds: 4, dropout: 0.2));
        List<RoundSummary> Run() { using var pool = new TorchWorkerPool(2, 1, e.CreateModel); return new PlainSimulation(e, pool).Run().ToList(); }
        var a = Run();
        var b = Run();
        Assert.Equal(a.Select(r => r with { RoundMs = 0, ComputeMs = 0 }), b.Select(r => r with { RoundMs = 0, ComputeMs = 0 }));
        Assert.True(a[^1].Accuracy > 0.5, $"accuracy after 4 rounds {a[^1].Accuracy}");
    }
}
