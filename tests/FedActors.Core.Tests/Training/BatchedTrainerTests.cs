using FedActors.TestSupport;
using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Training;

[Collection("Torch")]
public class BatchedTrainerTests
{
    [Theory]
    [InlineData("mlp", false, 0.0, 0.0, 0.0)] // plain SGD
    [InlineData("mlp", false, 0.9, 1e-3, 0.0)] // momentum and weight decay: a finished client's parameters and buffers must stay
    [InlineData("mlp", true, 0.5, 0.0, 0.05)] // drop-last (the 3-sample client keeps its one partial batch) and a gradient clamp
    [InlineData("cnn", false, 0.0, 0.0, 0.0)] // PFLlib's FedAvgCNN: two convolutions as grouped convolutions
    [InlineData("cnn", true, 0.9, 1e-3, 0.0)]
    [InlineData("skymask-cnn", false, 0.0, 0.0, 0.01)] // SkyMask's CNN with its gradient clamp
    public void Clients_trained_together_should_get_what_each_gets_alone(string kind, bool dropLast, double momentum, double weightDecay, double clamp)
    {
        // arrange: six clients of unequal sizes (partial batches, 1 to 8 steps an epoch), two epochs
        using var data = SyntheticDataset.Create(3, 600);
        using var model = ModelRegistry.Create(kind, data.SampleShape, data.NumClasses, torch.CPU, seed: 1);
        var global = ParameterVector.From(model);
        var options = new TrainOptions(2, 10, 0.05, momentum, weightDecay, dropLast, clamp);
        int[] sizes = [3, 10, 17, 25, 40, 77];
        var rng = new Rng(4);
        var indices = sizes.Select(n => (IReadOnlyList<int>)rng.Permutation(600).Take(n).ToArray()).ToArray();

        // act
        var alone = indices.Select((ix, c) => LocalTrainer.Train(model, global, data, ix, options, new Rng(100 + (ulong)c))).ToArray();
        var together = BatchedTrainer.Train(model, global, data, [.. indices.Select((ix, c) => new BatchedClient(ix, new Rng(100 + (ulong)c)))], options);

        // assert: the same steps, and updates and losses equal to float tolerance
        Assert.Equal(alone.Select(o => (o.Steps, o.NumSamples)), together.Select(o => (o.Steps, o.NumSamples)));
        for (int c = 0; c < sizes.Length; c++)
        {
            double maxDiff = alone[c].Delta.Values.Zip(together[c].Delta.Values).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(maxDiff <= 1e-5, $"client {c}: max |Δ| {maxDiff}");
            Assert.Equal(alone[c].MeanLoss, together[c].MeanLoss, 1e-5);
            Assert.Contains(alone[c].Delta.Values, v => v != 0);
        }
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void One_client_alone_in_a_call_should_get_what_it_gets_sequentially(string kind)
    {
        // a call of one client: its stacked parameters must be copies of the start, not views of it (they were, for the
        // biases and convolutions, until the device bench test caught its K = 1 row in CI: max |Δ| 1.2e-2)
        using var data = SyntheticDataset.Create(3, 600);
        using var model = ModelRegistry.Create(kind, data.SampleShape, data.NumClasses, torch.CPU, seed: 1);
        var global = ParameterVector.From(model);
        var options = new TrainOptions(2, 10, 0.05, 0.9, 0, false, 0);
        var indices = new Rng(4).Permutation(600).Take(25).ToArray();
        var alone = LocalTrainer.Train(model, global, data, indices, options, new Rng(100));
        foreach (var start in new ParameterVector?[] { null, global.Add(new ParameterVector(new float[global.Length])) }) // shared, own
        {
            var batched = BatchedTrainer.Train(model, global, data, [new BatchedClient(indices, new Rng(100), start)], options).Single();
            double maxDiff = alone.Delta.Values.Zip(batched.Delta.Values).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(maxDiff <= 1e-5, $"{(start is null ? "shared" : "own")} start: max |Δ| {maxDiff}");
            Assert.Equal(alone.MeanLoss, batched.MeanLoss, 1e-5);
        }
    }

    [Fact]
    public void Moving_the_steps_rows_to_the_device_in_chunks_should_change_nothing_bit_for_bit()
    {
        // arrange: clients of 3 to 77 samples, two epochs with momentum: up to 16 steps, chunks of 1, 3 and 5 steps
        using var data = SyntheticDataset.Create(3, 600);
        using var model = ModelRegistry.Create("mlp", data.SampleShape, data.NumClasses, torch.CPU, seed: 1);
        var global = ParameterVector.From(model);
        var options = new TrainOptions(2, 10, 0.05, 0.9, 1e-3, false, 0);
        var rng = new Rng(4);
        BatchedClient[] clients = [.. new[] { 3, 10, 17, 25, 40, 77 }.Select((n, c) => new BatchedClient(rng.Permutation(600).Take(n).ToArray(), new Rng(100 + (ulong)c)))];
        BatchedClient[] Fresh() => [.. clients.Select((x, c) => x with { Shuffle = new Rng(100 + (ulong)c) })];

        // act
        var whole = BatchedTrainer.Train(model, global, data, Fresh(), options);
        var chunked = new[] { 1, 3, 5 }.Select(n => BatchedTrainer.Train(model, global, data, Fresh(), options, stepChunk: n)).ToArray();

        // assert
        foreach (var outcomes in chunked)
            for (int c = 0; c < clients.Length; c++)
            {
                Assert.Equal(whole[c].Delta.Values, outcomes[c].Delta.Values);
                Assert.Equal(whole[c].MeanLoss, outcomes[c].MeanLoss);
            }
    }

    [Fact]
    public void Every_registered_model_should_be_batchable_and_a_layer_it_cannot_take_refused_with_the_reason()
    {
        foreach (var kind in ModelRegistry.Names)
        {
            using var model = ModelRegistry.Create(kind, [1, 28, 28], 10, torch.CPU);
            Assert.True(BatchedTrainer.WhyNot(model) is null, $"{kind}: {BatchedTrainer.WhyNot(model)}");
        }
        // batch normalisation mixes the samples of a batch: not a layer batched training takes
        using var odd = new SplitModel("odd", TorchSharp.torch.nn.Sequential(("flatten", TorchSharp.torch.nn.Flatten()),
            ("bn", TorchSharp.torch.nn.BatchNorm1d(784))), TorchSharp.torch.nn.Linear(784, 10));
        Assert.Contains("BatchNorm1d", BatchedTrainer.WhyNot(odd));
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void A_clients_batched_update_should_not_depend_on_who_shares_its_call_bit_for_bit(string kind)
    {
        // arrange: eight clients of unequal sizes; client 2 trained with K = 8 in four different companies and positions
        // (alone with seven empty slots, with two others, with all seven others reversed, last but one)
        using var data = SyntheticDataset.Create(3, 600);
        using var model = ModelRegistry.Create(kind, data.SampleShape, data.NumClasses, torch.CPU, seed: 1);
        var global = ParameterVector.From(model);
        var options = new TrainOptions(2, 10, 0.05, 0.9, 1e-3, false, 0);
        int[] sizes = [3, 10, 17, 25, 40, 77, 33, 12];
        var rng = new Rng(4);
        var indices = sizes.Select(n => (IReadOnlyList<int>)rng.Permutation(600).Take(n).ToArray()).ToArray();
        BatchedClient C(int c) => new(indices[c], new Rng(100 + (ulong)c));
        var none = new BatchedClient(Array.Empty<int>(), new Rng(1));

        // act
        TrainOutcome[] calls =
        [
            BatchedTrainer.Train(model, global, data, [C(2), none, none, none, none, none, none, none], options)[0],
            BatchedTrainer.Train(model, global, data, [C(0), C(2), C(5), none, none, none, none, none], options)[1],
            BatchedTrainer.Train(model, global, data, [C(7), C(6), C(5), C(4), C(3), C(2), C(1), C(0)], options)[5],
            BatchedTrainer.Train(model, global, data, [none, none, none, none, none, none, C(2), C(1)], options)[6],
        ];

        // assert: the same bits every time (what lets a worker batch tasks in any order), and an empty slot trains nothing
        foreach (var other in calls[1..])
        {
            Assert.Equal(calls[0].Delta.Values, other.Delta.Values);
            Assert.Equal(calls[0].MeanLoss, other.MeanLoss);
        }
        var empty = BatchedTrainer.Train(model, global, data, [C(2), none], options)[1];
        Assert.All(empty.Delta.Values, v => Assert.Equal(0f, v));
        Assert.Equal(0, empty.Steps);
    }

    [Theory]
    [InlineData(400, 250)] // a 400 ms call of 250 clients: 1 ms each floored would report 250 ms
    [InlineData(7, 3)]
    [InlineData(0, 4)]
    public void A_batched_calls_time_shared_among_its_clients_should_add_up_to_the_call(long total, int clients)
    {
        var shares = Enumerable.Range(0, clients).Select(i => ClientBatching.Share(total, clients, i)).ToArray();
        Assert.Equal(total, shares.Sum());
        Assert.True(shares.Max() - shares.Min() <= 1);
    }

    [Fact]
    public void Clients_with_like_step_counts_should_share_calls_and_leave_fewer_places_idle()
    {
        // arrange: six clients, (id, steps) in arrival order: big and small alternate, as sampled cross-device clients do
        var batching = new ClientBatching(3, 3, null);
        (int Id, int Steps)[] clients = [(0, 8), (1, 1), (2, 6), (3, 1), (4, 8), (5, 2)];

        // act
        var calls = batching.Calls(clients, c => c.Steps).ToArray();

        // assert: the most steps first, ties in arrival order; every client in one call
        Assert.Equal([[0, 4, 2], [5, 1, 3]], calls.Select(c => c.Select(x => x.Id).ToArray()));
        // busy share = Σ steps ÷ (clients × the call's steps): (8+8+6)/24 and (2+1+1)/6, against (8+1+6)/24 and (1+8+2)/24
        // for the calls in arrival order
        Assert.Equal([22 / 24.0, 4 / 6.0], calls.Select(c => ClientBatching.BusyShare([.. c.Select(x => x.Steps)])));
        Assert.Equal([15 / 24.0, 11 / 24.0], clients.Chunk(3).Select(c => ClientBatching.BusyShare([.. c.Select(x => x.Steps)])));
        Assert.Equal(1.0, ClientBatching.BusyShare([]));

        // a worker's queue: the run of neighbours in step order that leaves fewest places idle, not the largest clients
        // (8, 8, 6 fill 22 of 24 places; 1, 1, 1 all 3); the most steps on a tie; all of a queue no larger than a call
        (int Id, int Steps)[] queue = [.. clients, (6, 1)];
        Assert.Equal([1, 3, 6], batching.Fullest(queue, c => c.Steps).Select(c => c.Id));
        (int Id, int Steps)[] large = [(0, 8), (2, 6), (4, 8), (5, 2), (7, 6)], tie = [(0, 2), (1, 2), (2, 2), (3, 1), (4, 1), (5, 1)], few = [(0, 3), (4, 5)];
        Assert.Equal([0, 4, 2], batching.Fullest(large, c => c.Steps).Select(c => c.Id)); // 22/24 > 20/24 > 14/18
        Assert.Equal([0, 1, 2], batching.Fullest(tie, c => c.Steps).Select(c => c.Id)); // both full: the most steps
        Assert.Equal([4, 0], batching.Fullest(few, c => c.Steps).Select(c => c.Id));
        Assert.Equal(0.5, ClientBatching.BusyShare([4, 0])); // a padded place
    }

    [Fact]
    public void A_runs_batched_calls_should_count_their_busy_places_with_the_padding_of_a_partial_call()
    {
        // arrange: batches of 4; two calls, of two clients (two places padded) and of four
        var s = TestExperiments.Synthetic(clients: 8, samples: 800);
        using var e = TestExperiments.Load(s with { Device = s.Device with { BatchClients = 4 } });
        var global = e.InitialWeights();
        using var model = e.CreateModel();
        var slot = new WorkerSlot(0, model);
        int[] first = [0, 1], second = [2, 3, 4, 5];
        int Busy(int[] ids) => ids.Sum(e.TrainSteps);
        int Places(int[] ids) => 4 * ids.Max(e.TrainSteps);
        Assert.Null(e.Occupancy.Share);

        // act
        e.TrainBatch(slot, global, first, 1);
        double afterFirst = e.Occupancy.Share!.Value;
        e.TrainBatch(slot, global, second, 1);

        // assert: Σ steps ÷ (4 × the call's steps), summed over the calls
        Assert.Equal(Busy(first) / (double)Places(first), afterFirst, 12);
        Assert.Equal((Busy(first) + Busy(second)) / (double)(Places(first) + Places(second)), e.Occupancy.Share!.Value, 12);
    }
}
