using TorchSharp;
using FedActors.Core.Attacks;
using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.Core.Models;
using FedActors.Core.Personalisation;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>
/// What every node of a run holds once, read-only: the settings, the pooled dataset, the partition and the
/// evaluation set. Built the same way from the same settings on every node (the partition is seeded), so nothing
/// of it has to travel between nodes.
/// </summary>
public sealed class Experiment : IDisposable
{
    public Experiment(ExperimentSettings settings, Dataset data, Partition partition, int[]? testIndices = null, int[]? rootIndices = null)
    {
        if (partition.NumClients != settings.Clients.Count)
            throw new ArgumentException($"partition has {partition.NumClients} clients, settings say {settings.Clients.Count}");
        Settings = settings;
        Data = data;
        Partition = partition;
        TestIndices = testIndices ?? partition.AllTestIndices();
        RootIndices = rootIndices ?? [];
        Device = TorchSharp.torch.device(settings.Device.Device);
        DeviceSetup.Prepare(Device);
        _onDevice = Device.type == TorchSharp.DeviceType.CPU ? null : data.To(Device);
        using (var probe = CreateModel())
        {
            Layout = ModelLayout.Of(probe);
            Batching = ClientBatching.Decide(settings, probe);
        }
        Collusion = new Collusion(settings.Attack ?? AttackSettings.None, settings.Clients.Count, settings.Seed, Layout);
        NotEvaluated = ClientEvaluation.Excluded(settings);
    }

    /// <summary>The clients a personalised evaluation leaves out (<see cref="ClientEvaluation.Excluded"/>).</summary>
    public IReadOnlySet<int> NotEvaluated { get; }

    /// <summary>Whether clients train in batched calls, and how many a call (<c>fedactors.device.batch-clients</c>).</summary>
    public ClientBatching Batching { get; }

    /// <summary>Where each layer sits in the flattened parameter vectors.</summary>
    public ModelLayout Layout { get; }

    /// <summary>Who is malicious and how they attack (no one, without <c>fedactors.attack</c>).</summary>
    public Collusion Collusion { get; }

    public ExperimentSettings Settings { get; }
    public Dataset Data { get; }

    /// <summary>Where clients train and models are evaluated (<c>fedactors.device.kind</c>): the CPU, or a CUDA device that
    /// then holds a copy of the data and every worker's model.</summary>
    public TorchSharp.torch.Device Device { get; }

    private readonly Dataset? _onDevice;

    /// <summary>The data where training and evaluation run (a copy on the device; <see cref="Data"/> itself on the CPU).</summary>
    internal Dataset Work => _onDevice ?? Data;

    /// <summary>Whether this node's data is still as loaded: the CPU copy and, on an accelerator, the copy training and
    /// evaluation read (<see cref="Dataset.Unchanged"/>).</summary>
    public bool DataUnchanged() => Data.Unchanged() && (_onDevice is null || _onDevice.Unchanged());
    public Partition Partition { get; }

    /// <summary>The global model's test set: every client's local test split, pooled (the PFLlib protocol), or the
    /// held-out t10k samples.</summary>
    public int[] TestIndices { get; }

    /// <summary>The server's clean root set (FLTrust, SkyMask); empty when <c>server.root-samples = 0</c>.</summary>
    public int[] RootIndices { get; }

    public long Seed => Settings.Seed;

    public static Experiment Load(ExperimentSettings settings) => Load(settings, LoadData(settings));

    /// <summary>Loads the dataset the settings name (the expensive part, shareable across experiments).</summary>
    public static Dataset LoadData(ExperimentSettings settings)
    {
        var d = settings.Data;
        return d.Dataset switch
        {
            "fashion-mnist" => FashionMnist.Load(d.Directory, d.Pool, d.Limit),
            "synthetic" => SyntheticDataset.Create(settings.Seed, d.SyntheticSamples),
            _ => throw new ArgumentException($"unknown dataset '{d.Dataset}'; valid: fashion-mnist, synthetic"),
        };
    }

    /// <summary>Partitions an already loaded dataset for these settings. The experiment owns <paramref name="data"/>
    /// unless <paramref name="ownsData"/> is false (a matrix shares one dataset across cells).</summary>
    public static Experiment Load(ExperimentSettings settings, Dataset data, bool ownsData = true)
    {
        var d = settings.Data;
        // The pool the clients share: everything, or only the training files when the t10k part is held out.
        int heldOut = d.Evaluation == "held-out" ? HeldOutStart(data, d) : data.Count;
        var pool = Enumerable.Range(0, heldOut).ToList();
        var root = RootSet.Draw(data.Labels, pool, data.NumClasses, settings.ServerOrDefault, settings.Seed);
        pool.RemoveAll(new HashSet<int>(root).Contains);
        Partition partition;
        if (d.Partition.Kind == "file")
        {
            partition = PartitionFile.Read(d.Partition.Path, data.Count, d.Dataset);
            var used = partition.Clients.SelectMany(c => c.Train.Concat(c.Test)).ToHashSet();
            var clash = root.FirstOrDefault(used.Contains, -1);
            if (clash >= 0) throw new ArgumentException($"the server's root set draws sample {clash}, which the partition file gives a client; lower fedactors.server.root-samples or free samples");
        }
        else
        {
            var poolArray = pool.ToArray();
            var labels = poolArray.Select(i => data.Labels[i]).ToArray();
            var partitioner = PartitionerRegistry.Create(d.Partition);
            var assignment = partitioner.Assign(labels, data.NumClasses, settings.Clients.Count, settings.Seed)
                .Select(c => c.Select(i => poolArray[i]).ToArray()).ToArray();
            partition = TrainTestSplit.Apply(assignment, d.Partition.TrainFraction, settings.Seed) with { SharesSamples = partitioner.SharesSamples };
        }
        int[]? test = d.Evaluation == "held-out" ? Enumerable.Range(heldOut, data.Count - heldOut).ToArray() : null;
        return new Experiment(settings, data, partition, test, root) { _ownsData = ownsData };
    }

    private bool _ownsData = true;

    /// <summary>Where the t10k samples start in the pooled Fashion-MNIST (60,000), or the last 1/7 of another pool.</summary>
    private static int HeldOutStart(Dataset data, DataSettings d)
    {
        if (d.Dataset == "fashion-mnist" && d.Pool == "train+test" && d.Limit == 0) return 60_000;
        return data.Count - data.Count / 7;
    }

    /// <summary>A model on the experiment's device (its parameters are to be overwritten: not seeded).</summary>
    public SplitModel CreateModel() => ModelRegistry.Create(Settings.Model, Data.SampleShape, Data.NumClasses, Device);

    /// <summary>The round-0 global model, seeded.</summary>
    public ParameterVector InitialWeights()
    {
        using var scope = TorchSharp.torch.NewDisposeScope(); // nothing left to the GC (TensorLifetimeTests)
        using var model = ModelRegistry.Create(Settings.Model, Data.SampleShape, Data.NumClasses, TorchSharp.torch.CPU, SeedStream.For(Seed, -1, -1, Purpose.ModelInit));
        return ParameterVector.From(model);
    }

    public ClientProfile Profile(int clientId) => ClientProfile.For(Seed, clientId, Settings.Clients);

    public int TrainSamples(int clientId) => Partition.Clients[clientId].Train.Length;

    /// <summary>A client's local training steps in a round (its batches over every epoch).</summary>
    public int TrainSteps(int clientId) => Settings.Train.StepsFor(TrainSamples(clientId));

    /// <summary>The colluders' reference update for the Pill: the global model trained for <paramref name="epochs"/> epochs on
    /// the pooled training data of <paramref name="colluders"/>, in a seeded order.</summary>
    public TrainOutcome TrainReference(WorkerSlot slot, ParameterVector global, int round, IReadOnlyList<int> colluders, int epochs) =>
        LocalTrainer.Train(slot.Model, global, Work, colluders.SelectMany(id => Partition.Clients[id].Train).ToArray(),
            Settings.Train with { Epochs = epochs }, SeedStream.Rng(Seed, round, -3, Purpose.Shuffle));

    /// <summary>The server's update on its root set, by the same local procedure as a client's (FLTrust, SkyMask).</summary>
    public TrainOutcome TrainRoot(WorkerSlot slot, ParameterVector global, int round) =>
        RootIndices.Length == 0
            ? throw new InvalidOperationException("no root set: set fedactors.server.root-samples")
            : LocalTrainer.Train(slot.Model, global, Work, RootIndices, Settings.Train, SeedStream.Rng(Seed, round, -1, Purpose.Shuffle));

    /// <summary>Whether the client delivers in this round, decided in simulated time; <paramref name="fault"/> may add a
    /// straggler's delay or change the deadline.</summary>
    public Participation Participation(int clientId, int round, Faults.ClientFault? fault = null) =>
        Simulation.Participation.Decide(Profile(clientId), Seed, round, TrainSamples(clientId), Settings.Train,
            fault?.DeadlineSeconds ?? Settings.Round.DeadlineSeconds, fault?.StraggleSeconds ?? 0);

    /// <summary>One client's local training for a round, on a pool thread's model.</summary>
    /// <remarks>A malicious client with a data-poisoning attack trains on poisoned batches.</remarks>
    /// <param name="attack">An <c>attack-on</c>/<c>attack-off</c> fault's verdict for the round (null: as configured).</param>
    public TrainOutcome Train(WorkerSlot slot, ParameterVector global, int clientId, int round, bool? attack = null)
    {
        var poison = Collusion.Attacks(clientId, round, attack) ? Collusion.Attack!.Data : null;
        return LocalTrainer.Train(slot.Model, global, Work, Partition.Clients[clientId].Train, Settings.Train,
            SeedStream.Rng(Seed, round, clientId, Purpose.Shuffle), poison, SeedStream.Rng(Seed, round, clientId, Purpose.Poison));
    }

    /// <summary>Whether a client's training this round can join a batched call: batching is on and the client does not
    /// train on poisoned data.</summary>
    public bool Batchable(int clientId, int round, bool? attack = null) =>
        Batching.Batched && !(Collusion.Attacks(clientId, round, attack) && Collusion.Attack!.Data is not null);

    /// <summary>Up to <see cref="ClientBatching.Size"/> <see cref="Batchable"/> clients' local training for a round in one
    /// batched call (always <see cref="ClientBatching.Size"/> wide, empty places padded: a client's update is then the same
    /// bits in any company), in the order given; each from <paramref name="global"/>, or from its own vector in
    /// <paramref name="starts"/> (personalised clients: <see cref="TrainPersonalBatch"/>).</summary>
    public TrainOutcome[] TrainBatch(WorkerSlot slot, ParameterVector global, IReadOnlyList<int> clientIds, int round,
        IReadOnlyList<ParameterVector>? starts = null)
    {
        int size = Batching.Size;
        if (clientIds.Count == 0 || clientIds.Count > size) throw new ArgumentException($"a batch takes 1 to {size} clients, not {clientIds.Count}");
        var clients = clientIds.Select((id, i) => new BatchedClient(Partition.Clients[id].Train, SeedStream.Rng(Seed, round, id, Purpose.Shuffle), starts?[i]))
            .Concat(Enumerable.Range(0, size - clientIds.Count).Select(_ => new BatchedClient(Array.Empty<int>(), new Rng(0))));
        var outcomes = BatchedTrainer.Train(slot.Model, global, Work, [.. clients], Settings.Train)[..clientIds.Count];
        Occupancy.Add([.. outcomes.Select(o => o.Steps)], size);
        return outcomes;
    }

    /// <summary>How full this process's batched calls have been (the run's summary reports it).</summary>
    public BatchOccupancy Occupancy { get; } = new();

    /// <summary>Up to <see cref="ClientBatching.Size"/> personalised clients' training steps for a round, their local SGD
    /// in one batched call (<see cref="PersonalStep.RunBatch"/>; the method must be an <see cref="IBatchableClient"/>).</summary>
    public PersonalStepResult[] TrainPersonalBatch(WorkerSlot slot, IPersonalisation method, IReadOnlyList<(int ClientId, PersonalState State)> clients,
        int round, ParameterVector global, float[]? serverExtra) =>
        PersonalStep.RunBatch(method, [.. clients.Select(c => new PersonalContext(this, slot, c.ClientId, round, global, serverExtra))],
            [.. clients.Select(c => c.State)], starts => TrainBatch(slot, global, [.. clients.Select(c => c.ClientId)], round, starts));

    /// <summary>Evaluates one chunk of the test set: accuracy and loss per part (each client's, or the held-out chunk's), plus
    /// the backdoor's success per part when the attack has one (each client's row of <c>clients.csv</c> has its own).</summary>
    public EvalOutcome[] EvaluateChunk(WorkerSlot slot, ParameterVector weights, EvaluationChunk chunk)
    {
        var outcomes = chunk.Clients[0] < 0
            ? [Evaluator.Evaluate(slot.Model, weights, Work, chunk.Samples[0])]
            : Evaluator.EvaluateGroups(slot.Model, weights, Work, chunk.Samples);
        if (Collusion.Attack?.Data is IBackdoor backdoor)
        {
            var hits = Evaluator.BackdoorGroups(slot.Model, Work, chunk.Samples, backdoor);
            for (int i = 0; i < outcomes.Length; i++) outcomes[i] = outcomes[i].Plus(hits[i]);
        }
        return outcomes;
    }

    /// <summary>The test set in pieces evaluated as separate tasks, fixed by the experiment alone, so the summed result
    /// does not depend on how many workers there are: consecutive clients' test splits up to about <paramref name="chunk"/>
    /// samples a piece for the <c>clients</c> protocol (evaluated in shared batches, and the round also has each client's
    /// accuracy), chunks of <paramref name="chunk"/> samples of the held-out set.</summary>
    public IEnumerable<EvaluationChunk> EvaluationChunks(int chunk = 2000)
    {
        if (Settings.Data.Evaluation == "clients" && TestIndices.Length == Partition.Clients.Sum(c => c.Test.Length))
        {
            var clients = new List<int>();
            var parts = new List<IReadOnlyList<int>>();
            int samples = 0;
            for (int id = 0; id < Partition.NumClients; id++)
            {
                if (Partition.Clients[id].Test.Length == 0) continue;
                clients.Add(id);
                parts.Add(Partition.Clients[id].Test);
                samples += Partition.Clients[id].Test.Length;
                if (samples < chunk) continue;
                yield return new EvaluationChunk([.. clients], [.. parts]);
                (clients, parts, samples) = ([], [], 0);
            }
            if (clients.Count > 0) yield return new EvaluationChunk([.. clients], [.. parts]);
            yield break;
        }
        for (int start = 0; start < TestIndices.Length; start += chunk)
            yield return new EvaluationChunk([-1], [new ArraySegment<int>(TestIndices, start, Math.Min(chunk, TestIndices.Length - start))]);
    }

    public void Dispose()
    {
        _onDevice?.Dispose();
        if (_ownsData) Data.Dispose();
    }
}

/// <summary>A piece of the global model's test set: consecutive clients' test splits (<see cref="Clients"/> ≥ 0, one
/// sample list each) or one chunk of the held-out set (<see cref="Clients"/> = [−1]).</summary>
public sealed record EvaluationChunk(int[] Clients, IReadOnlyList<int>[] Samples)
{
    /// <summary>Sums the pieces' outcomes in order; with per-client pieces also their spread.</summary>
    public static (EvalOutcome Total, ClientEvaluation? Clients) Combine(IReadOnlyList<EvaluationChunk> chunks, IReadOnlyList<EvalOutcome[]> outcomes)
    {
        var all = outcomes.SelectMany(o => o).ToArray();
        var total = all.Aggregate(EvalOutcome.Empty, (acc, o) => acc.Plus(o));
        if (chunks.Count == 0 || chunks.Any(c => c.Clients[0] < 0)) return (total, null);
        return (total, ClientEvaluation.Of(chunks.SelectMany(c => c.Clients).Zip(all).ToDictionary(p => p.First, p => p.Second)));
    }
}
