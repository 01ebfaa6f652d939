using FedActors.Core.Config;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

/// <summary>Personalised clients whose method trains by plain local SGD (<see cref="IBatchableClient"/>) trained in one
/// batched call (issue #9): the same steps as one at a time.</summary>
[Collection("Torch")]
public class PersonalBatchTests
{
    private static ExperimentSettings Batched(string method, int size)
    {
        var s = TestPersonalisation.NonIid(rounds: 2, clients: 6).WithPersonalisation(method);
        return s with { Device = s.Device with { BatchClients = size } };
    }

    [Theory]
    [InlineData("local")]
    [InlineData("fedala")]
    public async Task Clients_trained_in_one_batched_call_should_get_what_each_gets_alone(string name)
    {
        // arrange: six clients, two rounds; round 2's global model differs from round 1's, so FedALA's download step adapts
        using var e = TestExperiments.Load(Batched(name, 6));
        Assert.True(e.Batching.Batched, e.Batching.ToString());
        var method = e.Settings.CreatePersonalisation()!;
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var ids = Enumerable.Range(0, 6).ToArray();
        var global = method.InitialGlobal(e);
        var alone = ids.Select(id => method.Initial(e, id)).ToArray();
        var together = (PersonalState[])alone.Clone();

        for (int round = 1; round <= 2; round++)
        {
            // act: one at a time, and all six in one batched call
            var g = global;
            int r = round;
            var one = await pool.Run(slot => ids.Select(id => PersonalStep.Run(method, new PersonalContext(e, slot, id, r, g, null), alone[id], evaluate: false, train: true)).ToArray());
            var all = await pool.Run(slot => e.TrainPersonalBatch(slot, method, [.. ids.Select(id => (id, together[id]))], r, g, null));

            // assert: each client's upload and kept state within float tolerance
            for (int i = 0; i < ids.Length; i++)
            {
                Assert.Equal(one[i].Upload!.NumSamples, all[i].Upload!.NumSamples);
                Assert.Equal(one[i].Upload!.MeanLoss, all[i].Upload!.MeanLoss, 1e-5);
                Assert.True(MaxDiff(one[i].Upload!.Delta.Values, all[i].Upload!.Delta.Values) <= 1e-5, $"round {round}, client {i}: upload");
                Assert.Equal(one[i].State.ReceivedRound, all[i].State.ReceivedRound);
                Assert.Equal(one[i].State.Parts.Keys.Order(), all[i].State.Parts.Keys.Order());
                // (FedALA's first-tensor fingerprint is a hash: the last bits of a trained model change it whole; what it is
                // compared with, a new global model's first tensor, matches neither)
                foreach (var part in one[i].State.Parts.Keys.Where(p => p != FedAlaMethod.FirstTensorPart))
                    Assert.True(MaxDiff(one[i].State.Require(part), all[i].State.Require(part)) <= 1e-5, $"round {round}, client {i}: {part}");
                alone[i] = one[i].State;
                together[i] = all[i].State;
            }
            // the next global: FedAvg of the uploads (Local's are zero: its global never moves)
            var sum = new float[global.Length];
            foreach (var u in one.Select(o => o.Upload!.Delta.Values))
                for (int j = 0; j < sum.Length; j++) sum[j] += u[j] / ids.Length;
            global = global.Add(new ParameterVector(sum));
        }
    }

    [Fact]
    public void A_method_with_steps_of_its_own_should_train_one_at_a_time_and_say_why()
    {
        using var dbe = TestExperiments.Load(Batched("dbe", 4));
        Assert.False(dbe.Batching.Batched);
        Assert.Contains("personalization.method = dbe trains with steps of its own", dbe.Batching.ToString());
        Assert.Contains("batch-clients = 4 refused", dbe.Batching.ToString());
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}
