using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedActors.Core.Data;

/// <summary>A partition file could not be used; <see cref="Exception.Message"/> names the client and index.</summary>
public sealed class PartitionFileException(string path, string message) : Exception($"{path}: {message}")
{
    public string Path { get; } = path;
}

/// <summary>
/// Partitions as files (<c>fedactors-partition/1</c>), so a split made elsewhere (PFLlib, Flower Datasets) can be
/// replayed exactly and ours handed to others:
/// <c>{"format": "fedactors-partition/1", "dataset": "fashion-mnist", "pool": "train+test", "num_classes": 10,
/// "clients": [{"id": 0, "train": [i, …], "test": [j, …]}, …]}</c>. Index i &lt; 60000 is the i-th sample of the train
/// IDX files and 60000 + j the j-th of the t10k files (our pooled order); each client's order is kept.
/// </summary>
public static class PartitionFile
{
    public const string Format = "fedactors-partition/1";

    private sealed record ClientJson(
        [property: JsonPropertyName("id")] int Id,
        [property: JsonPropertyName("train")] int[] Train,
        [property: JsonPropertyName("test")] int[] Test);

    private sealed record FileJson(
        [property: JsonPropertyName("format")] string Format,
        [property: JsonPropertyName("dataset")] string Dataset,
        [property: JsonPropertyName("pool")] string Pool,
        [property: JsonPropertyName("num_classes")] int NumClasses,
        [property: JsonPropertyName("clients")] ClientJson[] Clients,
        [property: JsonPropertyName("sampling")] string? Sampling = null);

    /// <summary>The <c>sampling</c> of a partition whose samples may belong to several clients (cross-device).</summary>
    public const string SharedSampling = "with-replacement-across-clients";

    public static void Write(string path, Partition partition, string dataset, string pool, int numClasses)
    {
        var file = new FileJson(Format, dataset, pool, numClasses,
            partition.Clients.Select(c => new ClientJson(c.ClientId, [.. c.Train], [.. c.Test])).ToArray(), partition.SharesSamples ? SharedSampling : null);
        File.WriteAllText(path, JsonSerializer.Serialize(file));
    }

    /// <summary>Reads and checks a partition file against a pool of <paramref name="poolSize"/> samples.</summary>
    public static Partition Read(string path, int poolSize, string? expectedDataset = null)
    {
        if (!File.Exists(path)) throw new PartitionFileException(path, "file not found");
        FileJson? file;
        try { file = JsonSerializer.Deserialize<FileJson>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new PartitionFileException(path, $"not valid JSON ({e.Message})"); }
        if (file is null || file.Format != Format)
            throw new PartitionFileException(path, $"unknown format \"{file?.Format}\", expected \"{Format}\"");
        if (expectedDataset is not null && file.Dataset != expectedDataset)
            throw new PartitionFileException(path, $"dataset \"{file.Dataset}\" does not match the experiment's \"{expectedDataset}\"");
        if (file.Clients is null || file.Clients.Length == 0) throw new PartitionFileException(path, "no clients");
        var byId = new SortedDictionary<int, ClientJson>();
        var owner = new Dictionary<int, int>(); // sample index → the client holding it
        foreach (var c in file.Clients)
        {
            if (c.Id < 0) throw new PartitionFileException(path, $"client {c.Id}: ids start at 0");
            if (!byId.TryAdd(c.Id, c)) throw new PartitionFileException(path, $"client {c.Id} is listed twice");
            var train = c.Train ?? [];
            var test = c.Test ?? [];
            if (train.Length == 0) throw new PartitionFileException(path, $"client {c.Id} has no training samples");
            foreach (var i in train.Concat(test))
                if (i < 0 || i >= poolSize) throw new PartitionFileException(path, $"client {c.Id}: index {i} is out of range [0, {poolSize})");
            var trainSet = new HashSet<int>();
            foreach (var i in train)
                if (!trainSet.Add(i)) throw new PartitionFileException(path, $"client {c.Id}: index {i} is in its train list twice (it would weigh double)");
            var testSet = new HashSet<int>();
            foreach (var j in test)
            {
                if (trainSet.Contains(j)) throw new PartitionFileException(path, $"client {c.Id}: index {j} is in both train and test");
                if (!testSet.Add(j)) throw new PartitionFileException(path, $"client {c.Id}: index {j} is in its test list twice");
            }
            if (file.Sampling == SharedSampling) continue; // drawn with replacement across clients, on purpose
            foreach (var i in trainSet.Concat(testSet))
                if (!owner.TryAdd(i, c.Id)) throw new PartitionFileException(path, $"index {i} belongs to both client {owner[i]} and client {c.Id}");
        }
        if (byId.Keys.Last() != byId.Count - 1)
            throw new PartitionFileException(path, $"client ids must be 0 … {byId.Count - 1}; missing {Enumerable.Range(0, byId.Count).First(i => !byId.ContainsKey(i))}");
        return new Partition([.. byId.Values.Select(c => new ClientSplit(c.Id, [.. c.Train ?? []], [.. c.Test ?? []]))]) { SharesSamples = file.Sampling == SharedSampling };
    }
}
