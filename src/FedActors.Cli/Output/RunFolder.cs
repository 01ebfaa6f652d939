using System.Globalization;

namespace FedActors.Cli.Output;

public static class RunFolder
{
    /// <summary>The file that claims a run folder for one run: created with O_EXCL, so two runs started in the same second
    /// under the same root never share a folder.</summary>
    public const string ClaimFile = ".fedactors-run";

    /// <summary>Makes <c>{root}/{name}-{yyyyMMdd-HHmmss}</c> (with a suffix if another run has that) and returns its path.</summary>
    /// <exception cref="FedActors.Runtime.Settings.ConfigurationError">The root is a file, or cannot be created or written.</exception>
    public static string Create(string root, string name)
    {
        var stamp = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        try
        {
            if (File.Exists(root)) throw new IOException($"{root} is a file");
            for (int i = 1; ; i++)
            {
                var path = Path.Combine(root, i == 1 ? $"{name}-{stamp}" : $"{name}-{stamp}-{i}");
                Directory.CreateDirectory(path);
                try
                {
                    // the claim is atomic (CreateNew fails if another run made it first); the folder may have been made by both
                    using (new FileStream(Path.Combine(path, ClaimFile), FileMode.CreateNew, FileAccess.Write)) { }
                    return path;
                }
                catch (IOException) when (File.Exists(Path.Combine(path, ClaimFile))) { }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new FedActors.Runtime.Settings.ConfigurationError("--out", root, "a folder in which run folders can be made and written", e.Message);
        }
    }

    /// <summary>
    /// Writes the run's effective <c>fedactors</c> configuration (experiment file, overrides and defaults resolved) to
    /// <c>config.conf</c> before the first round, so a run folder says what it ran even when the run is stopped early,
    /// and <c>fedactors run {folder}/config.conf</c> repeats it.
    /// </summary>
    /// <param name="effective">The configuration as <see cref="FedActors.Runtime.Settings.HoconText.Render"/> writes it.</param>
    /// <summary>A run made by an earlier FedActors, resumed: its config.conf rewritten to name today's settings (its own
    /// values over today's defaults, without the node-local overrides of this resumption), and the added settings as a line.</summary>
    public static string Adopt(string runDir, IReadOnlyList<(string Key, string Value)> added)
    {
        var own = Runtime.Settings.FedActorsSettings.Load(Path.Combine(runDir, "config.conf"), []);
        WriteConfig(runDir, Runtime.Settings.HoconText.Render(own, "fedactors"));
        return string.Join(", ", added.Select(p => $"{p.Key} = {p.Value}"));
    }

    public static void WriteConfig(string runDir, string effective) =>
        RunReport.WriteAtomically(Path.Combine(runDir, "config.conf"), "# The effective configuration of this run: fedactors run <this file> repeats it.\n" + effective);
}
