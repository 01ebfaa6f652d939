namespace FedActors.Core.Personalisation;

/// <summary>
/// What a client keeps for itself under a personalisation method (FedALA's local model and ALA weights, DBE's PRBM,
/// GPFL's and FedCP's personal heads…): named float arrays, opaque to the runtime, which stores them with the client's
/// state and carries them to the node's worker. <see cref="ReceivedRound"/> is the global model version the client last
/// took in (0 = none yet), so the download step runs at most once per version.
/// </summary>
public sealed record PersonalState(int ReceivedRound, IReadOnlyDictionary<string, float[]> Parts)
{
    public static readonly PersonalState Empty = new(0, new Dictionary<string, float[]>());

    public float[]? Get(string name) => Parts.TryGetValue(name, out var v) ? v : null;

    public float[] Require(string name) => Get(name) ?? throw new InvalidOperationException($"personal state has no '{name}'");

    /// <summary>A copy with <paramref name="name"/> set (null removes it).</summary>
    public PersonalState With(string name, float[]? values)
    {
        var parts = new Dictionary<string, float[]>(Parts, StringComparer.Ordinal);
        if (values is null) parts.Remove(name);
        else parts[name] = values;
        return this with { Parts = parts };
    }

    /// <summary>Same round and the same values, bit for bit.</summary>
    public bool SameAs(PersonalState other) =>
        ReceivedRound == other.ReceivedRound && Parts.Count == other.Parts.Count &&
        Parts.All(p => other.Parts.TryGetValue(p.Key, out var v) && p.Value.AsSpan().SequenceEqual(v));

    /// <summary>A compact binary form for state stores: version, round, then (name, length, floats) per part in name order.</summary>
    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write((byte)1);
        w.Write(ReceivedRound);
        w.Write(Parts.Count);
        foreach (var (name, values) in Parts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.Write(name);
            w.Write(values.Length);
            w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        w.Flush();
        return ms.ToArray();
    }

    public static PersonalState FromBytes(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes));
        int version = r.ReadByte();
        if (version != 1) throw new InvalidDataException($"personal state format {version} is not known (expected 1)");
        int round = r.ReadInt32(), count = r.ReadInt32();
        var parts = new Dictionary<string, float[]>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var name = r.ReadString();
            var values = new float[r.ReadInt32()];
            var bytesRead = r.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
            if (bytesRead != values.Length * sizeof(float)) throw new InvalidDataException($"personal state part '{name}' is truncated");
            parts[name] = values;
        }
        return new PersonalState(round, parts);
    }
}
