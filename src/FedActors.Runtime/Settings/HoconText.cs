using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace FedActors.Runtime.Settings;

/// <summary>
/// Writes a config section back as HOCON that parses to the same values. Akka's <c>Config.ToString()</c> is a display
/// form (values unquoted, an empty string written as nothing, <c>//</c> in a URL read back as a comment), so every value
/// is written as a quoted string here (the getters parse numbers, durations and booleans from strings alike).
/// </summary>
public static partial class HoconText
{
    // JSON string quoting, escaping only what must be (quotes, backslashes, control characters)
    private static readonly JsonSerializerOptions Quoting = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><c>{path} { … }</c> for the section at <paramref name="path"/>, with secrets left out
    /// (<see cref="WithoutPassword"/>): what config.conf and the logged configuration hold.</summary>
    public static string Render(Config config, string path)
    {
        var sb = new StringBuilder(Key(path)).Append(' ');
        Value(sb, config.GetValue(path), 0, path);
        return sb.Append('\n').ToString();
    }

    /// <summary>A PostgreSQL connection string without its <c>Password=</c> part: Npgsql then takes the password from
    /// <c>PGPASSWORD</c> or the passfile, so no file or log of a run holds it.</summary>
    public static string WithoutPassword(string connection) =>
        PasswordPart().Replace(connection, "");

    [GeneratedRegex(@"(?i)(^|;)\s*(password|pwd)\s*=[^;]*")]
    private static partial Regex PasswordPart();

    /// <summary>Sections of <c>fedactors</c> that may differ between the nodes of one run and between a run and its
    /// resumption (addresses, ports, where events go): left out of <see cref="ExperimentKeys"/>.</summary>
    public static readonly string[] NodeLocalSections = ["cluster", "monitoring", "control"];

    /// <summary>Keys whose values are secrets: rendered as an empty string (config.conf, the logged configuration).</summary>
    public static readonly string[] SecretKeys = ["fedactors.control.token", "fedactors.monitoring.seq.api-key"];

    /// <summary>Single keys that may differ too: how each node reaches the shared database (its host name, its password).</summary>
    public static readonly string[] NodeLocalKeys = ["fedactors.state.connection"];

    /// <summary>A node's GPU: which one (<c>cuda:N</c>) is the node's own choice, one clients node per GPU of a machine; that
    /// it is a GPU is the experiment's (its kernels round differently from the CPU's). The identity keeps "cuda".</summary>
    private const string DeviceKey = "fedactors.device.kind";

    [GeneratedRegex(@"^""?cuda:\d+""?$")]
    private static partial Regex IndexedCuda();

    /// <summary>Every key under <c>fedactors</c> that decides what the run computes, as sorted (path, value) pairs: what
    /// all nodes of a run and a resumed run must agree on.</summary>
    public static IReadOnlyList<(string Key, string Value)> ExperimentKeys(Config config) => Keys(config, anyGpu: true);

    /// <param name="anyGpu">Whether <c>cuda:N</c> counts as "cuda" (today's identity) or as itself (FedActors before
    /// 2026-11-30, whose GPU runs a resumption must still find).</param>
    private static List<(string Key, string Value)> Keys(Config config, bool anyGpu)
    {
        var keys = new List<(string, string)>();
        void Walk(string path, HoconValue v)
        {
            if (v.IsObject())
                foreach (var (k, child) in v.GetObject().Items) Walk($"{path}.{Key(k)}", child);
            else
            {
                var sb = new StringBuilder();
                Value(sb, v, 0);
                keys.Add((path, sb.ToString()));
            }
        }
        foreach (var (k, child) in config.GetValue("fedactors").GetObject().Items)
            if (!NodeLocalSections.Contains(k)) Walk($"fedactors.{Key(k)}", child);
        keys.RemoveAll(p => NodeLocalKeys.Contains(p.Item1));
        for (int i = 0; anyGpu && i < keys.Count; i++)
            if (keys[i].Item1 == DeviceKey && IndexedCuda().IsMatch(keys[i].Item2)) keys[i] = (DeviceKey, "\"cuda\"");
        return [.. keys.OrderBy(p => p.Item1, StringComparer.Ordinal)];
    }

    /// <summary>The hash of <see cref="ExperimentKeys"/>: one run's identity across its nodes and resumptions.</summary>
    public static string ExperimentHash(Config config) => Hash(ExperimentKeys(config));

    private static string Hash(IEnumerable<(string Key, string Value)> keys) =>
        Core.Simulation.RunCheckpoint.HashConfig(string.Join('\n', keys.Select(p => $"{p.Key} = {p.Value}")));

    /// <summary>A run as its config.conf recorded it, for a resumption by a FedActors that has settings the run's did not:
    /// <paramref name="Hash"/> is the experiment hash over only the keys the recorded file names (what the FedActors that
    /// made the run computed), <paramref name="Added"/> the keys it lacks, which take their defaults;
    /// <paramref name="IndexedGpuHash"/> the same with <c>cuda:N</c> as itself, as a FedActors before 2026-11-30 keyed a GPU run
    /// (<see cref="Hash"/> for every other run).</summary>
    public sealed record Recorded(string Hash, IReadOnlyList<(string Key, string Value)> Added, string IndexedGpuHash);

    /// <summary>The experiment hash of <paramref name="effective"/> (a run's config.conf loaded over today's defaults) as the
    /// FedActors that wrote <paramref name="recordedText"/> (that config.conf) computed it: each config.conf names every
    /// setting of its day, so a key it lacks came later and a value it names is the run's, whatever today's default.</summary>
    /// <remarks>Taking such a run at today's defaults is right because a new setting's default keeps the behaviour before
    /// it (the project's rule for new options: batch-clients = 1, batch-wait only matters beyond 1); a new setting whose
    /// default changed results would be taken silently, bar the line that names it.</remarks>
    public static Recorded AsRecorded(Config effective, string recordedText)
    {
        var parsed = ConfigurationFactory.ParseString(recordedText);
        var named = (parsed.HasPath("fedactors") ? ExperimentKeys(parsed) : []).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var keys = ExperimentKeys(effective);
        return new Recorded(Hash(keys.Where(p => named.Contains(p.Key))), [.. keys.Where(p => !named.Contains(p.Key))],
            Hash(Keys(effective, anyGpu: false).Where(p => named.Contains(p.Key))));
    }

    /// <summary>The first key whose value differs between two key lists (or that only one has), with both values.</summary>
    public static string? FirstDifference(IReadOnlyList<(string Key, string Value)> a, IReadOnlyList<(string Key, string Value)> b)
    {
        var da = a.ToDictionary(p => p.Key, p => p.Value);
        var db = b.ToDictionary(p => p.Key, p => p.Value);
        foreach (var key in da.Keys.Union(db.Keys).Order(StringComparer.Ordinal))
        {
            da.TryGetValue(key, out var va);
            db.TryGetValue(key, out var vb);
            if (va != vb) return $"{key}: {va ?? "(missing)"} here, {vb ?? "(missing)"} on the other side";
        }
        return null;
    }

    private static void Value(StringBuilder sb, HoconValue value, int depth, string? path = null)
    {
        if (path is not null && SecretKeys.Contains(path))
        {
            sb.Append("\"\"");
            return;
        }
        if (value.IsObject())
        {
            var items = value.GetObject().Items;
            if (items.Count == 0) { sb.Append("{}"); return; }
            sb.Append("{\n");
            foreach (var (key, child) in items)
            {
                sb.Append(' ', 2 * (depth + 1)).Append(Key(key)).Append(child.IsObject() ? " " : " = ");
                Value(sb, child, depth + 1, path is null ? null : $"{path}.{key}");
                sb.Append('\n');
            }
            sb.Append(' ', 2 * depth).Append('}');
        }
        else if (value.IsArray())
        {
            sb.Append('[');
            var items = value.GetArray();
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) sb.Append(", ");
                Value(sb, items[i], depth + 1);
            }
            sb.Append(']');
        }
        else
        {
            var text = value.GetString() ?? "";
            if (text.Contains('=') && PasswordPart().IsMatch(text)) text = WithoutPassword(text); // never write a password out
            sb.Append(JsonSerializer.Serialize(text, Quoting));
        }
    }

    private static string Key(string key) => PlainKey().IsMatch(key) ? key : JsonSerializer.Serialize(key, Quoting);

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex PlainKey();
}
