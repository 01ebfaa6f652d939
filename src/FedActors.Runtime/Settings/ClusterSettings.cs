using Akka.Configuration;

namespace FedActors.Runtime.Settings;

/// <summary>Checks <c>fedactors.cluster</c> and how it fits the state store, before any node starts.</summary>
public static class ClusterSettings
{
    /// <summary>Akka's log levels.</summary>
    public static readonly string[] LogLevels = ["DEBUG", "INFO", "WARNING", "ERROR", "OFF"];

    /// <summary>Whether remoting listens beyond this machine (a warning: it has no TLS or authentication unless configured).</summary>
    public static bool ListensBeyondLoopback(Config c)
    {
        var host = c.GetString("fedactors.cluster.hostname") ?? "";
        if (host == "localhost") return false;
        return !System.Net.IPAddress.TryParse(host, out var ip) || !System.Net.IPAddress.IsLoopback(ip);
    }

    /// <param name="clientsNode">For <c>fedactors node</c>: a node that joins another's run.</param>
    public static void Validate(Config c, bool clientsNode = false)
    {
        int minNodes;
        try { minNodes = c.GetInt("fedactors.cluster.min-nodes"); }
        catch (Exception e) when (e is FormatException or OverflowException) { minNodes = 0; }
        if (minNodes < 1)
            throw new ConfigurationError("fedactors.cluster.min-nodes", $"\"{c.GetString("fedactors.cluster.min-nodes")}\"", "an integer ≥ 1");
        int port = c.GetInt("fedactors.cluster.port");
        if (port is < 0 or > 65535)
            throw new ConfigurationError("fedactors.cluster.port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "a TCP port in 0–65535 (0 = any free one)");
        int shards;
        try { shards = c.GetInt("fedactors.cluster.shards"); }
        catch (Exception e) when (e is FormatException or OverflowException) { shards = 0; }
        if (shards is < 1 or > 100_000)
            throw new ConfigurationError("fedactors.cluster.shards", $"\"{c.GetString("fedactors.cluster.shards")}\"", "an integer in 1–100000");
        var host = c.GetString("fedactors.cluster.hostname") ?? "";
        if (host.Trim().Length == 0) throw new ConfigurationError("fedactors.cluster.hostname", "\"\"", "a host name or IP address to listen on");
        var passivate = c.GetString("fedactors.state.passivate-idle-after") ?? "";
        if (passivate is not ("off" or "none"))
        {
            TimeSpan idle;
            try { idle = c.GetTimeSpan("fedactors.state.passivate-idle-after"); }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { idle = TimeSpan.Zero; }
            if (idle <= TimeSpan.Zero)
                throw new ConfigurationError("fedactors.state.passivate-idle-after", $"\"{passivate}\"", "a positive duration (e.g. 120s) or off");
        }
        int cap;
        try { cap = c.GetInt("fedactors.state.max-active-entities"); }
        catch (Exception e) when (e is FormatException or OverflowException) { cap = -1; }
        if (cap < 0)
            throw new ConfigurationError("fedactors.state.max-active-entities", $"\"{c.GetString("fedactors.state.max-active-entities")}\"", "an integer ≥ 0 (0 = no cap)");
        foreach (var key in new[] { "akka.loglevel", "akka.stdout-loglevel" })
        {
            var level = c.GetString(key) ?? "";
            if (!LogLevels.Contains(level.ToUpperInvariant()))
                throw new ConfigurationError(key, $"\"{level}\"", string.Join(", ", LogLevels));
        }
        var store = c.GetString("fedactors.state.store");
        if (store != "postgres" && (minNodes > 1 || clientsNode))
            throw new ConfigurationError("fedactors.state.store", $"\"{store}\"",
                "postgres when more than one node takes part (every node must reach the clients' state and the checkpoints)",
                clientsNode ? "fedactors node joins another node's run" : $"fedactors.cluster.min-nodes = {minNodes}");
    }
}
