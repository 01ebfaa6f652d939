namespace FedActors.Core.Data.Partitioners;

/// <summary>Partitioner options as read from <c>fedactors.data.partition</c>.</summary>
/// <param name="Bias">b of the Fang-style bias split (kind = bias).</param>
/// <param name="Path">The partition file (kind = file).</param>
/// <param name="SamplesMean">Mean samples per client (kind = cross-device).</param>
/// <param name="SamplesSigma">Log-space σ of the clients' sample counts (kind = cross-device).</param>
public sealed record PartitionOptions(string Kind, double Alpha, int ClassesPerClient, bool Balanced, int MinSamples, double TrainFraction, double Bias = 0.5,
    string Path = "", double SamplesMean = 20, double SamplesSigma = 0.5);

/// <summary>Partitioners by their config name. One line per partitioner, alphabetical.</summary>
public static class PartitionerRegistry
{
    private static readonly IReadOnlyDictionary<string, Func<PartitionOptions, IPartitioner>> Factories =
        new SortedDictionary<string, Func<PartitionOptions, IPartitioner>>(StringComparer.Ordinal)
        {
            ["bias"] = o => new BiasPartitioner(o.Bias),
            ["cross-device"] = o => new CrossDevicePartitioner(o.SamplesMean, o.SamplesSigma, o.Alpha),
            ["dirichlet"] = o => new DirichletPartitioner(o.Alpha, o.MinSamples),
            ["iid"] = _ => new IidPartitioner(),
            ["pathological"] = o => new PathologicalPartitioner(o.ClassesPerClient, o.Balanced, o.MinSamples),
        };

    /// <summary>The partitioner names, plus <c>file</c> (a partition read from JSON, see <see cref="PartitionFile"/>).</summary>
    public static IReadOnlyCollection<string> Names => [.. Factories.Keys.Append("file").Order(StringComparer.Ordinal)];

    public static IPartitioner Create(PartitionOptions options) =>
        Factories.TryGetValue(options.Kind, out var f)
            ? f(options)
            : throw new ArgumentException($"unknown partitioner '{options.Kind}'; valid: {string.Join(", ", Names)}");
}
