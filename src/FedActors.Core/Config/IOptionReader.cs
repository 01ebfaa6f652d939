namespace FedActors.Core.Config;

/// <summary>
/// Typed, range-checked reads of one algorithm's options (its own config section, e.g. <c>fedactors.defence.krum</c>).
/// The runtime implements it over HOCON; a bad value throws an error naming the full key. Core stays free of HOCON.
/// </summary>
public interface IOptionReader
{
    /// <summary>The full path of the section, for messages.</summary>
    string Path { get; }
    int Int(string key, int min = int.MinValue, int max = int.MaxValue);
    /// <param name="exclusive">Both bounds excluded: the value must lie in (min, max).</param>
    double Double(string key, double min = double.MinValue, double max = double.MaxValue, bool exclusive = false);
    bool Bool(string key);
    string String(string key);
    string OneOf(string key, params string[] allowed);
}

/// <summary>Options from an in-memory dictionary (tests, programmatic use). Missing keys throw.</summary>
public sealed class DictionaryOptions(string path, IReadOnlyDictionary<string, object> values) : IOptionReader
{
    public bool Has(string key) => values.ContainsKey(key);

    public string Path { get; } = path;
    private object Get(string key) => values.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"{Path}.{key} is not set");
    public int Int(string key, int min = int.MinValue, int max = int.MaxValue) => Convert.ToInt32(Get(key), System.Globalization.CultureInfo.InvariantCulture);
    public double Double(string key, double min = double.MinValue, double max = double.MaxValue, bool exclusive = false) => Convert.ToDouble(Get(key), System.Globalization.CultureInfo.InvariantCulture);
    public bool Bool(string key) => Convert.ToBoolean(Get(key), System.Globalization.CultureInfo.InvariantCulture);
    public string String(string key) => Convert.ToString(Get(key), System.Globalization.CultureInfo.InvariantCulture)!;
    public string OneOf(string key, params string[] allowed) => String(key);
}
