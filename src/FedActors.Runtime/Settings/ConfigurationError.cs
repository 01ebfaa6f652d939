namespace FedActors.Runtime.Settings;

/// <summary>Invalid experiment input, found before any work starts. The CLI prints it and exits with code 2.</summary>
public sealed class ConfigurationError(string key, string? value, string expected, string? hint = null)
    : Exception($"{key}: {(value is null ? "" : $"got {value}, ")}expected {expected}{(hint is null ? "" : $" ({hint})")}")
{
    /// <summary>The full HOCON path (or file) at fault.</summary>
    public string Key { get; } = key;
    public string? Value { get; } = value;
    public string Expected { get; } = expected;
}
