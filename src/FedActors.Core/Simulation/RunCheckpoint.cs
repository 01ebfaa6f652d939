using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>
/// Everything the rounds after <see cref="Round"/> depend on, as the server holds it once round <see cref="Round"/> is
/// finished: the global model, the personalisation method's extra vector (DBE's global mean), the accuracy bookkeeping,
/// the rounds so far (for <c>rounds.csv</c> and the summary) and the attackers' memory (the Pill's one-time and adaptive
/// patterns). Nothing else is needed: every random draw derives from (seed, round, client, purpose), and the clients'
/// personal state is kept in the client store, versioned by round. So a run resumed from a checkpoint gives the rounds an
/// uninterrupted run gives.
/// </summary>
/// <param name="ConfigHash">The run's effective configuration, hashed (<see cref="HashConfig"/>): a resume with another
/// configuration is refused.</param>
public sealed record RunCheckpoint(
    int Round,
    ParameterVector Global,
    float[]? Extra,
    double BestAccuracy,
    double LastAccuracy,
    IReadOnlyList<RoundSummary> Rounds,
    IReadOnlyDictionary<string, int[]> AttackMemory,
    string ConfigHash)
{
    private const byte Format = 1;

    /// <summary>Faults injected through the control API so far (scripted ones are in the configuration): a resumed run
    /// applies them again.</summary>
    public IReadOnlyList<Faults.Fault> InjectedFaults { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The run's bookkeeping (everything but the model vectors) as JSON.</summary>
    private sealed record Meta(int Round, double BestAccuracy, double LastAccuracy, RoundSummary[] Rounds, Dictionary<string, int[]> AttackMemory,
        string ConfigHash, Faults.Fault[]? InjectedFaults = null);

    /// <summary>A compact binary form: format byte, the bookkeeping as UTF-8 JSON, then the global model and the extra
    /// vector as raw little-endian floats (the extra's length is −1 when there is none).</summary>
    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Format);
        var meta = JsonSerializer.SerializeToUtf8Bytes(new Meta(Round, BestAccuracy, LastAccuracy, [.. Rounds],
            AttackMemory.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal), ConfigHash, [.. InjectedFaults]), Json);
        w.Write(meta.Length);
        w.Write(meta);
        WriteFloats(w, Global.Values);
        if (Extra is null) w.Write(-1);
        else WriteFloats(w, Extra);
        w.Flush();
        return ms.ToArray();
    }

    public static RunCheckpoint FromBytes(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes));
        int format = r.ReadByte();
        if (format != Format) throw new InvalidDataException($"checkpoint format {format} is not known (expected {Format})");
        var meta = JsonSerializer.Deserialize<Meta>(r.ReadBytes(r.ReadInt32()), Json) ?? throw new InvalidDataException("checkpoint has no bookkeeping");
        var global = ReadFloats(r) ?? throw new InvalidDataException("checkpoint has no global model");
        var extra = ReadFloats(r);
        return new RunCheckpoint(meta.Round, new ParameterVector(global), extra, meta.BestAccuracy, meta.LastAccuracy, meta.Rounds,
            meta.AttackMemory, meta.ConfigHash) { InjectedFaults = meta.InjectedFaults ?? [] };
    }

    private static void WriteFloats(BinaryWriter w, float[] values)
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static float[]? ReadFloats(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n < 0) return null;
        var values = new float[n];
        if (r.Read(MemoryMarshal.AsBytes(values.AsSpan())) != n * sizeof(float)) throw new InvalidDataException("checkpoint is truncated");
        return values;
    }

    /// <summary>SHA-256 of the effective configuration's text, hex.</summary>
    public static string HashConfig(string effectiveConfig) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(effectiveConfig)));

    /// <summary>Same round, model, extra, bookkeeping and memory, bit for bit (records compare arrays by reference).</summary>
    public bool SameAs(RunCheckpoint o) =>
        Round == o.Round && Global.Values.AsSpan().SequenceEqual(o.Global.Values) &&
        (Extra is null ? o.Extra is null : o.Extra is not null && Extra.AsSpan().SequenceEqual(o.Extra)) &&
        BestAccuracy.Equals(o.BestAccuracy) && LastAccuracy.Equals(o.LastAccuracy) && Rounds.SequenceEqual(o.Rounds) &&
        AttackMemory.Count == o.AttackMemory.Count &&
        AttackMemory.All(p => o.AttackMemory.TryGetValue(p.Key, out var v) && p.Value.AsSpan().SequenceEqual(v)) &&
        ConfigHash == o.ConfigHash && InjectedFaults.SequenceEqual(o.InjectedFaults);
}
