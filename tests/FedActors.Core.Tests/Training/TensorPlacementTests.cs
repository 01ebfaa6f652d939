using FedActors.Core.Aggregation;
using FedActors.Core.Config;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Training;

/// <summary>
/// Issue #9: what runs on a worker must make every tensor where the worker's model and data are, or a CUDA node fails
/// ("Expected all tensors to be on the same device"). On a CPU-only machine a tensor that names no device lands on the
/// CPU with everything else and nothing shows, so these tests move TorchSharp's default device (read by its tensor and
/// module factories) to <c>meta</c> (tensors without data) around the calls: a tensor made without naming its device
/// then lands there, and libtorch refuses the first op that meets it with a CPU tensor. The calls must also give the
/// bits they give without.
/// </summary>
/// <remarks>The default device is process-wide, hence the Torch collection (run alone). Host-side work that is meant to
/// stay on the host (a method's shared vector at round 0) runs before the meta section, and the initial head a method
/// caches on its first use is computed in the plain pass.</remarks>
[Collection("Torch")]
public class TensorPlacementTests
{
    /// <summary>Within it, a tensor or module made without a device lands on <c>meta</c>.</summary>
    private sealed class StrayTensorsOnMeta : IDisposable
    {
        private readonly torch.Device _before = torch.get_default_device();
        public StrayTensorsOnMeta() => torch.set_default_device(torch.device("meta"));
        public void Dispose() => torch.set_default_device(_before);
    }

    private static T Twice<T>(Func<T> calls, Func<T, string> fingerprint)
    {
        var plain = calls();
        T onMeta;
        using (new StrayTensorsOnMeta()) onMeta = calls();
        Assert.Equal(fingerprint(plain), fingerprint(onMeta));
        return onMeta;
    }

    private static string Bits(IEnumerable<float> values) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.ToArray().AsSpan())));

    private static string Bits(EvalOutcome? o) => o is null ? "-" : $"{o.Correct} of {o.Count}, loss {o.LossSum:R}, backdoor {o.BackdoorHits} of {o.BackdoorCount}";

    private static string Bits(TrainOutcome? o) => o is null ? "-" : $"{Bits(o.Delta.Values)}/{o.NumSamples}/{o.MeanLoss:R}/{o.Steps}";

    /// <summary>Every registered method: a new one is checked without an edit here.</summary>
    public static TheoryData<string> Methods() => [.. PersonalisationRegistry.Names.Where(n => n != PersonalisationRegistry.None)];

    /// <summary>Runs <paramref name="calls"/> on a pool thread (one torch thread, as workers run) with its model.</summary>
    private static T OnWorker<T>(Experiment e, Func<WorkerSlot, T> calls)
    {
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        return pool.Run(calls).GetAwaiter().GetResult();
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_personalised_clients_round_should_make_every_tensor_where_its_model_is(string name)
    {
        // arrange: three clients of the hard non-IID task, two rounds (the second's global model differs, so the
        // download steps that compare versions, FedALA's and FedCP's, take their other branch)
        using var e = TestPersonalisation.Load(TestPersonalisation.NonIid(rounds: 2, clients: 3).WithPersonalisation(name));
        var method = e.Settings.CreatePersonalisation()!;
        var first = method.InitialGlobal(e);
        int[] ids = [0, 1, 2];

        // act: preparation (DBE's global mean), then receive → evaluate → train for every client, two rounds
        string Rounds(WorkerSlot slot)
        {
            var log = new List<string>();
            var states = ids.Select(id => method.Initial(e, id)).ToArray();
            float[]? extra = method.NeedsPreparation
                ? method.CombinePreparation([.. ids.Select(id => (e.TrainSamples(id), method.Prepare(new PersonalContext(e, slot, id, 1, first, null), states[id])!))])
                : null;
            if (extra is not null) log.Add(Bits(extra));
            var global = first;
            for (int round = 1; round <= 2; round++)
            {
                var steps = ids.Select(id => PersonalStep.Run(method, new PersonalContext(e, slot, id, round, global, extra), states[id], evaluate: true, train: true)).ToArray();
                foreach (var (s, id) in steps.Select((s, i) => (s, ids[i])))
                {
                    states[id] = s.State;
                    log.Add($"{Bits(s.Evaluation)} {Bits(s.Upload)} {string.Join(',', s.State.Parts.OrderBy(p => p.Key).Select(p => p.Key + ":" + Bits(p.Value)))}");
                }
                global = global.Add(new ParameterVector(VectorMath.Mean([.. steps.Select(s => s.Upload!.Delta.Values)])));
            }
            return string.Join('\n', log);
        }

        // assert: the same bits with stray tensors on meta, which no op with the model's would accept
        OnWorker(e, slot => Twice(() => Rounds(slot), log => log));
    }

    private static ExperimentSettings Attacked(string attack, string rule = "fedavg") =>
        TestExperiments.Synthetic(rounds: 2, clients: 10, perRound: 10, samples: 1200, seed: 5).WithAttack(attack, 0.3).WithRule(rule)
            with { Server = new ServerSettings(0.5, 60, 0.1, 1) };

    [Theory]
    [InlineData("label-flip")]
    [InlineData("scaling")]
    public void A_data_poisoning_clients_training_and_the_backdoor_evaluation_should_make_every_tensor_where_the_model_is(string attack)
    {
        // arrange
        using var e = TestExperiments.Load(Attacked(attack));
        var global = e.InitialWeights();
        int malicious = Enumerable.Range(0, 10).First(id => e.Collusion.Attacks(id, 1));
        int honest = Enumerable.Range(0, 10).First(id => !e.Collusion.Attacks(id, 1));

        // act: a poisoning client's training, an honest one's, the evaluation (with the backdoor's success for scaling)
        string Calls(WorkerSlot slot)
        {
            var evaluation = e.EvaluationChunks().SelectMany(c => e.EvaluateChunk(slot, global, c)).ToArray();
            return string.Join('\n', Bits(e.Train(slot, global, malicious, 1)), Bits(e.Train(slot, global, honest, 1)),
                string.Join(' ', evaluation.Select(Bits)), $"triggered {evaluation.Sum(o => o.BackdoorCount)}");
        }

        // assert: the same bits; with the backdoor, its triggered test samples were evaluated too
        var log = OnWorker(e, slot => Twice(() => Calls(slot), s => s));
        Assert.Equal(attack == "scaling", long.Parse(log.Split('\n')[3]["triggered ".Length..]) > 0);
    }

    [Theory]
    [InlineData("mlp", "none")]
    [InlineData("cnn", "none")]
    [InlineData("mlp", "fedala")]
    public void A_batched_call_should_make_every_tensor_where_the_model_is(string model, string method)
    {
        // arrange: four clients in one call of five places (one padded), FedAvg or FedALA's personal starts
        var s = TestExperiments.Synthetic(rounds: 1, clients: 10, perRound: 10, samples: 400, seed: 5, model: model);
        s = (method == "none" ? s : s.WithPersonalisation(method)) with { Device = s.Device with { BatchClients = 5 } };
        using var e = TestExperiments.Load(s);
        int[] ids = [0, 1, 2, 3];

        // act
        string Call(WorkerSlot slot)
        {
            if (method == "none") return string.Join('\n', e.TrainBatch(slot, e.InitialWeights(), ids, 1).Select(Bits));
            var m = e.Settings.CreatePersonalisation()!;
            var results = e.TrainPersonalBatch(slot, m, [.. ids.Select(id => (id, m.Initial(e, id)))], 1, m.InitialGlobal(e), null);
            return string.Join('\n', results.Select(r => Bits(r.Upload)));
        }

        // assert
        OnWorker(e, slot => Twice(() => Call(slot), log => log));
    }

    [Fact]
    public void SkyMasks_server_step_should_make_every_tensor_where_the_workers_model_is()
    {
        // arrange: ten clients' real updates (three of them trained on flipped labels), the server's root set of 60
        // samples, server learning rate 0.5
        using var e = TestExperiments.Load(Attacked("label-flip", "skymask"));
        var global = e.InitialWeights();
        var rule = e.Settings.CreateRule();

        // act: the root update, the masks, the verdict and the step
        string Step(WorkerSlot slot, ClientUpdate[] updates)
        {
            var (next, result, _) = ServerStep.Run(e, slot, rule, global, 1, updates.Length, updates);
            return $"{Bits(next.Values)} {string.Join(',', result!.Accepted)}";
        }

        // assert
        OnWorker(e, slot =>
        {
            var updates = Enumerable.Range(0, 10).Select(id => e.Train(slot, global, id, 1))
                .Select((o, id) => new ClientUpdate(id, o.Delta, o.NumSamples, o.MeanLoss)).ToArray();
            return Twice(() => Step(slot, updates), s => s);
        });
    }
}
