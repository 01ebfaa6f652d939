using FedActors.Core.Attacks;
using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.Core.Models;
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
    public Experiment(ExperimentSettings settings, Dataset data, Partition partition)
    {
        if (partition.NumClients != settings.Clients.Count)
            throw new ArgumentException($"partition has {partition.NumClients} clients, settings say {settings.Clients.Count}");
        Settings = settings;
        Data = data;
        Partition = partition;
        TestIndices = partition.AllTestIndices();
        Collusion = new Collusion(settings.Attack ?? AttackSettings.None, settings.Clients.Count, settings.Seed);
    }

    /// <summary>Who is malicious and how they attack (no one, without <c>fedactors.attack</c>).</summary>
    public Collusion Collusion { get; }

    public ExperimentSettings Settings { get; }
    public Dataset Data { get; }
    public Partition Partition { get; }

    /// <summary>The global model's test set: every client's local test split, pooled (the PFLlib protocol).</summary>
    public int[] TestIndices { get; }

    public long Seed => Settings.Seed;

    public static Experiment Load(ExperimentSettings settings)
    {
        var d = settings.Data;
        var data = d.Dataset switch
        {
            "fashion-mnist" => FashionMnist.Load(d.Directory, d.Pool, d.Limit),
            "synthetic" => SyntheticDataset.Create(settings.Seed, d.SyntheticSamples),
            _ => throw new ArgumentException($"unknown dataset '{d.Dataset}'; valid: fashion-mnist, synthetic"),
        };
        var partition = PartitionerRegistry.Build(d.Partition, data, settings.Clients.Count, settings.Seed);
        return new Experiment(settings, data, partition);
    }

    public SplitModel CreateModel() => ModelRegistry.Create(Settings.Model, Data.SampleShape, Data.NumClasses);

    /// <summary>The round-0 global model, seeded.</summary>
    public ParameterVector InitialWeights()
    {
        using var model = ModelRegistry.Create(Settings.Model, Data.SampleShape, Data.NumClasses, SeedStream.For(Seed, -1, -1, Purpose.ModelInit));
        return ParameterVector.From(model);
    }

    public ClientProfile Profile(int clientId) => ClientProfile.For(Seed, clientId, Settings.Clients);

    public int TrainSamples(int clientId) => Partition.Clients[clientId].Train.Length;

    /// <summary>Whether the client delivers in this round, decided in simulated time.</summary>
    public Participation Participation(int clientId, int round) =>
        Simulation.Participation.Decide(Profile(clientId), Seed, round, TrainSamples(clientId), Settings.Train, Settings.Round.DeadlineSeconds);

    /// <summary>One client's local training for a round, on a pool thread's model.</summary>
    /// <remarks>A malicious client with a data-poisoning attack trains on poisoned batches.</remarks>
    public TrainOutcome Train(WorkerSlot slot, ParameterVector global, int clientId, int round)
    {
        var poison = Collusion.Attacks(clientId, round) ? Collusion.Attack!.Data : null;
        return LocalTrainer.Train(slot.Model, global, Data, Partition.Clients[clientId].Train, Settings.Train,
            SeedStream.Rng(Seed, round, clientId, Purpose.Shuffle), poison, SeedStream.Rng(Seed, round, clientId, Purpose.Poison));
    }

    /// <summary>Chunks of the test set evaluated as separate tasks; fixed size, so the summed result does not depend
    /// on how many workers there are.</summary>
    public IEnumerable<ArraySegment<int>> EvaluationChunks(int chunk = 2000)
    {
        for (int start = 0; start < TestIndices.Length; start += chunk)
            yield return new ArraySegment<int>(TestIndices, start, Math.Min(chunk, TestIndices.Length - start));
    }

    public void Dispose() => Data.Dispose();
}
