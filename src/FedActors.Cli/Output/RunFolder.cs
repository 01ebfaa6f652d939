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
}
