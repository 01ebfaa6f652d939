using System.Globalization;
using Akka.Configuration;
using FedActors.Core.Config;

namespace FedActors.Runtime.Settings;

/// <summary>An algorithm's options from its HOCON section; a bad value is a <see cref="ConfigurationError"/>
/// naming the full key.</summary>
public sealed class HoconOptionReader(Config config, string path) : IOptionReader
{
    public string Path { get; } = path;

    private string Raw(string key)
    {
        var full = $"{Path}.{key}";
        var v = config.GetValue(full);
        if (v is null || v.IsEmpty) throw new ConfigurationError(full, null, "a value (see reference.conf)");
        if (v.IsObject() || v.IsArray()) throw new ConfigurationError(full, "an object or list", "a single value");
        return v.GetString();
    }

    public int Int(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = Raw(key);
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new ConfigurationError($"{Path}.{key}", $"\"{s}\"", $"an integer in [{min}, {max}]");
        return v;
    }

    public double Double(string key, double min = double.MinValue, double max = double.MaxValue, bool exclusive = false)
    {
        var s = Raw(key);
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < min || v > max
            || (exclusive && (v == min || v == max)))
            throw new ConfigurationError($"{Path}.{key}", $"\"{s}\"", exclusive
                ? (max == double.MaxValue ? $"a number > {min.ToString(CultureInfo.InvariantCulture)}" : $"a number in ({min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)})")
                : $"a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return v;
    }

    public bool Bool(string key) => Raw(key) switch
    {
        "on" or "true" or "yes" => true,
        "off" or "false" or "no" => false,
        var s => throw new ConfigurationError($"{Path}.{key}", $"\"{s}\"", "on or off"),
    };

    public string String(string key) => Raw(key);

    public string OneOf(string key, params string[] allowed)
    {
        var s = Raw(key);
        return allowed.Contains(s) ? s : throw new ConfigurationError($"{Path}.{key}", $"\"{s}\"", $"one of {string.Join(", ", allowed)}");
    }
}
