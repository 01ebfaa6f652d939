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

    /// <summary><c>{path} { … }</c> for the section at <paramref name="path"/>.</summary>
    public static string Render(Config config, string path)
    {
        var sb = new StringBuilder(Key(path)).Append(' ');
        Value(sb, config.GetValue(path), 0);
        return sb.Append('\n').ToString();
    }

    private static void Value(StringBuilder sb, HoconValue value, int depth)
    {
        if (value.IsObject())
        {
            var items = value.GetObject().Items;
            if (items.Count == 0) { sb.Append("{}"); return; }
            sb.Append("{\n");
            foreach (var (key, child) in items)
            {
                sb.Append(' ', 2 * (depth + 1)).Append(Key(key)).Append(child.IsObject() ? " " : " = ");
                Value(sb, child, depth + 1);
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
        else sb.Append(JsonSerializer.Serialize(value.GetString() ?? "", Quoting));
    }

    private static string Key(string key) => PlainKey().IsMatch(key) ? key : JsonSerializer.Serialize(key, Quoting);

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex PlainKey();
}
