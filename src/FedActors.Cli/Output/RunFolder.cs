using System.Globalization;

namespace FedActors.Cli.Output;

public static class RunFolder
{
    /// <summary>Makes <c>{root}/{name}-{yyyyMMdd-HHmmss}</c> (with a suffix if that exists) and returns its path.</summary>
    public static string Create(string root, string name)
    {
        var stamp = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var path = Path.Combine(root, $"{name}-{stamp}");
        for (int i = 2; Directory.Exists(path); i++) path = Path.Combine(root, $"{name}-{stamp}-{i}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// Writes the run's effective <c>fedactors</c> configuration (experiment file, overrides and defaults resolved) to
    /// <c>config.conf</c> before the first round, so a run folder says what it ran even when the run is stopped early,
    /// and <c>fedactors run {folder}/config.conf</c> repeats it.
    /// </summary>
    /// <param name="effective">The configuration as <see cref="FedActors.Runtime.Settings.HoconText.Render"/> writes it.</param>
    public static void WriteConfig(string runDir, string effective) =>
        File.WriteAllText(Path.Combine(runDir, "config.conf"), "# The effective configuration of this run: fedactors run <this file> repeats it.\n" + effective);
}
