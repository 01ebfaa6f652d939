using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;

namespace FedActors.Core.Personalisation;

/// <summary>Everything a method's client part sees in one call: the experiment (data, partition, options), the pool
/// thread's model, the client, and the global model of <see cref="Round"/> (the round it is trained in, so version
/// r is the model the server made after round r − 1) with the server's extra vector, if the method has one.</summary>
public sealed record PersonalContext(Experiment Experiment, WorkerSlot Slot, int ClientId, int Round, ParameterVector Global, float[]? ServerExtra)
{
    public SplitModel Model => Slot.Model;
    /// <summary>The data where the slot's model is (the device's copy on an accelerator); a backdoor's evaluation
    /// (<see cref="PersonalStep.Backdoor"/>) replaces it and <see cref="TestIndices"/> with the client's triggered test samples,
    /// and <see cref="TrainIndices"/> with none (they would index the wrong data).</summary>
    public Data.Dataset Data { get; init; } = Experiment.Work;
    public IReadOnlyList<int> TrainIndices { get; init; } = Experiment.Partition.Clients[ClientId].Train;
    public IReadOnlyList<int> TestIndices { get; init; } = Experiment.Partition.Clients[ClientId].Test;
    public TrainOptions Options => Experiment.Settings.Train;
    /// <summary>This client's stream for this round and purpose.</summary>
    public Rng Rng(Purpose purpose) => SeedStream.Rng(Experiment.Seed, Round, ClientId, purpose);

    /// <summary>An <c>attack-on</c>/<c>attack-off</c> fault's verdict for the round (null: as configured).</summary>
    public bool? Attack { get; init; }

    /// <summary>The data-poisoning attack this client trains under in this round: the run's, when the client is malicious and
    /// attacks this round; else null. The same clients and rounds as plain training (<see cref="Experiment.Train"/>).</summary>
    public Attacks.IDataPoisoningAttack? Poison =>
        Experiment.Collusion.Attacks(ClientId, Round, Attack) ? Experiment.Collusion.Attack!.Data : null;

    /// <summary>The client's local-SGD batches over its training split for this round: shuffled by its stream, poisoned by
    /// its poison stream when <see cref="Poison"/> is set.</summary>
    public TrainingBatches TrainingBatches() =>
        new(Data, TrainIndices, Options, Rng(Purpose.Shuffle), Poison, Rng(Purpose.Poison));
}

/// <summary>One training call of a personalised client: the update it uploads (Δ over the method's shared vector)
/// and the personal state it keeps.</summary>
public sealed record PersonalTrainResult(TrainOutcome Upload, PersonalState State);

/// <summary>
/// A method's client half. The runtime keeps the <see cref="PersonalState"/> (in the client entity and its store) and
/// calls, per round and client: <see cref="Receive"/> once per global version (the download step: FedALA's ALA,
/// GPFL's conditional inputs…), then <see cref="Evaluate"/> when the client is evaluated and <see cref="Train"/> when
/// it is selected. Calls are synchronous on a torch pool thread.
/// </summary>
public interface IPersonalisedClient
{
    /// <summary>A new client's state, before it has seen any global model.</summary>
    PersonalState Initial(Experiment experiment, int clientId);

    /// <summary>The download step for <see cref="PersonalContext.Round"/>'s global model.</summary>
    PersonalState Receive(PersonalContext c, PersonalState state);

    /// <summary>The client's personalised model on its own test split.</summary>
    EvalOutcome Evaluate(PersonalContext c, PersonalState state);

    PersonalTrainResult Train(PersonalContext c, PersonalState state);

    /// <summary>The one-off preparation call before round 1 (DBE's global-mean pass): what the client contributes, or
    /// null when the method has none.</summary>
    float[]? Prepare(PersonalContext c, PersonalState state) => null;
}

/// <summary>
/// A method's server half: what the global (shared) vector holds and how it starts, and the one-off preparation step.
/// The round's aggregation itself is the configured rule over the clients' Δ (sample-weighted FedAvg by default, which
/// is what all four methods' servers do: the new shared vector is Σ nᵢ/Σn · uploadᵢ).
/// </summary>
public interface IPersonalisedServer
{
    /// <summary>The shared vector of round 1, seeded.</summary>
    ParameterVector InitialGlobal(Experiment experiment);

    bool NeedsPreparation => false;

    /// <summary>Combines every client's <see cref="IPersonalisedClient.Prepare"/> contribution (with its training-sample
    /// count) into the extra vector sent with every later global model.</summary>
    float[] CombinePreparation(IReadOnlyList<(int Samples, float[] Contribution)> contributions) =>
        throw new NotSupportedException("this method has no preparation step");
}

/// <summary>A personalisation method: one unit with its client and server halves.</summary>
public interface IPersonalisation : IPersonalisedClient, IPersonalisedServer
{
    string Name { get; }

    /// <summary>Whether the shared vector is the model's own parameter vector (then model-shaped defences and attacks
    /// apply to it).</summary>
    bool SharesWholeModel { get; }

    /// <summary>Whether clients' uploads change the shared vector at all (not so for Local, whose clients upload nothing):
    /// only then can an attack poison it.</summary>
    bool Federates => true;
}

/// <summary>
/// A method whose client training is plain local SGD (<see cref="LocalTrainer"/>) from a vector the client holds, with
/// the method's own work before it (<see cref="IPersonalisedClient.Receive"/>, <see cref="TrainingStart"/>) and after it
/// (<see cref="AfterTraining"/>): such clients can share a batched call (<c>fedactors.device.batch-clients</c>,
/// <see cref="PersonalStep.RunBatch"/>). Its <see cref="IPersonalisedClient.Train"/> must be <see cref="TrainAlone"/>.
/// </summary>
public interface IBatchableClient
{
    /// <summary>The vector the client's local SGD starts from.</summary>
    ParameterVector TrainingStart(PersonalContext c, PersonalState state);

    /// <summary>The upload and the state kept, once local SGD from <paramref name="start"/> gave <paramref name="trained"/>
    /// (its Δ over the start).</summary>
    PersonalTrainResult AfterTraining(PersonalContext c, PersonalState state, ParameterVector start, TrainOutcome trained);

    /// <summary>The training step one client at a time: <see cref="IPersonalisedClient.Train"/> of such a method.</summary>
    static PersonalTrainResult TrainAlone(IBatchableClient method, PersonalContext c, PersonalState state)
    {
        var start = method.TrainingStart(c, state);
        return method.AfterTraining(c, state, start, LocalTrainer.Train(c.Model, start, c.Data, c.TrainIndices, c.Options, c.Rng(Randomness.Purpose.Shuffle),
            c.Poison, c.Rng(Randomness.Purpose.Poison)));
    }
}

/// <summary>What one client does in one round: the download step once per version, then evaluation and/or training.</summary>
public sealed record PersonalStepResult(PersonalState State, EvalOutcome? Evaluation, TrainOutcome? Upload);

/// <summary>Runs a client's round in the protocol order of PFLlib: receive → evaluate → train.</summary>
public static class PersonalStep
{
    public static PersonalStepResult Run(IPersonalisedClient method, PersonalContext c, PersonalState state, bool evaluate, bool train)
    {
        if (state.ReceivedRound < c.Round) state = method.Receive(c, state) with { ReceivedRound = c.Round };
        var evaluation = evaluate ? method.Evaluate(c, state) : null;
        if (evaluation is not null && c.Experiment.Collusion.Attack?.Data is Attacks.IBackdoor backdoor) evaluation = evaluation.Plus(Backdoor(method, c, state, backdoor));
        TrainOutcome? upload = null;
        if (train)
        {
            var r = method.Train(c, state);
            upload = r.Upload;
            state = r.State;
        }
        return new PersonalStepResult(state, evaluation, upload);
    }

    /// <summary>A backdoor's success on the client's personalised model: its test samples of labels other than the target,
    /// stamped with the trigger and labelled as the target, evaluated by the method's own <see cref="IPersonalisedClient.Evaluate"/>
    /// — the samples it classifies "correctly" are the backdoor's hits (<see cref="EvalOutcome.BackdoorHits"/>).</summary>
    public static EvalOutcome Backdoor(IPersonalisedClient method, PersonalContext c, PersonalState state, Attacks.IBackdoor backdoor)
    {
        var data = c.Data;
        var idx = c.TestIndices.Where(i => data.Labels[i] != backdoor.TargetLabel).ToArray();
        if (idx.Length == 0) return EvalOutcome.Empty;
        float[] stamped;
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            var (x, _) = data.Batch(idx);
            stamped = backdoor.Stamp(x).cpu().contiguous().data<float>().ToArray();
        }
        using var triggered = new Data.Dataset("triggered", stamped, Enumerable.Repeat((long)backdoor.TargetLabel, idx.Length).ToArray(), data.SampleShape, data.NumClasses);
        var onDevice = data.Features.device.type == TorchSharp.DeviceType.CPU ? null : triggered.To(data.Features.device);
        try
        {
            var o = method.Evaluate(c with { Data = onDevice ?? triggered, TrainIndices = [], TestIndices = Enumerable.Range(0, idx.Length).ToArray() }, state);
            return new EvalOutcome(0, 0, 0, o.Correct, o.Count);
        }
        finally { onDevice?.Dispose(); }
    }

    /// <summary>Training steps of several clients of an <see cref="IBatchableClient"/> method in one round, in the order of
    /// <see cref="Run"/> with <c>train</c> only: each client's download step, then every client's local SGD in one call of
    /// <paramref name="train"/> (given the start vectors, it returns each client's outcome — a batched call), then each
    /// client's after-training step.</summary>
    public static PersonalStepResult[] RunBatch(IPersonalisedClient method, IReadOnlyList<PersonalContext> contexts, IReadOnlyList<PersonalState> states,
        Func<IReadOnlyList<ParameterVector>, TrainOutcome[]> train)
    {
        var batchable = method as IBatchableClient ?? throw new NotSupportedException($"{method.GetType().Name} does not train by plain local SGD");
        var received = contexts.Select((c, i) => states[i].ReceivedRound < c.Round ? method.Receive(c, states[i]) with { ReceivedRound = c.Round } : states[i]).ToArray();
        var starts = contexts.Select((c, i) => batchable.TrainingStart(c, received[i])).ToArray();
        var trained = train(starts);
        return [.. contexts.Select((c, i) =>
        {
            var r = batchable.AfterTraining(c, received[i], starts[i], trained[i]);
            return new PersonalStepResult(r.State, null, r.Upload);
        })];
    }
}

/// <summary>Slices of a shared vector laid out as [model body | extra modules…].</summary>
public static class SharedVector
{
    public static float[] Slice(ParameterVector v, int start, int length) => v.Values.AsSpan(start, length).ToArray();

    public static ParameterVector Concat(params float[][] parts)
    {
        var all = new float[parts.Sum(p => p.Length)];
        int offset = 0;
        foreach (var p in parts) { p.CopyTo(all, offset); offset += p.Length; }
        return new ParameterVector(all);
    }
}

/// <summary>Shapes of a split model that the methods need.</summary>
public static class Personal
{
    /// <summary>D: the body's output size, the head's input size.</summary>
    public static int FeatureSize(SplitModel model) => (int)model.Head.parameters().First().shape[1];

    public static int BodyCount(SplitModel model) => (int)model.BodyParameterCount;

    /// <summary>The whole model's vector from a body and a head part.</summary>
    public static ParameterVector Model(float[] body, float[] head) => SharedVector.Concat(body, head);
}

/// <summary>Seeded PyTorch-default initialisation of the extra modules (GPFL's CoV, FedCP's CPN).</summary>
public static class ModuleInit
{
    /// <summary>Linear: weight and bias U(±1/√fan_in) (Kaiming-uniform with a = √5, as nn.Linear); LayerNorm: ones and
    /// zeros (its defaults, left as they are).</summary>
    public static void Linear(TorchSharp.Modules.Linear layer, TorchSharp.torch.Generator generator)
    {
        using var _ = TorchSharp.torch.no_grad();
        double bound = 1 / Math.Sqrt(layer.weight!.shape[1]);
        layer.weight.uniform_(-bound, bound, generator);
        layer.bias?.uniform_(-bound, bound, generator);
    }
}

/// <summary>The run's initial model, computed once per method instance: every client's personal head starts from it
/// (PFLlib deep-copies one initial model into every client).</summary>
internal sealed class InitialModel
{
    private ParameterVector? _weights;
    private int _body;
    private readonly Lock _lock = new();

    public float[] Head(Simulation.Experiment e)
    {
        lock (_lock)
        {
            if (_weights is null)
            {
                using var scope = TorchSharp.torch.NewDisposeScope(); // nothing left to the GC (TensorLifetimeTests)
                _weights = e.InitialWeights();
                using var m = e.CreateModel();
                _body = Personal.BodyCount(m);
            }
            return SharedVector.Slice(_weights, _body, _weights.Length - _body);
        }
    }
}
