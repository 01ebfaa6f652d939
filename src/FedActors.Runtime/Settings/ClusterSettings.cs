using Akka.Configuration;

namespace FedActors.Runtime.Settings;

/// <summary>Checks <c>fedactors.cluster</c> and how it fits the state store, before any node starts.</summary>
public static class ClusterSettings
{
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
        var store = c.GetString("fedactors.state.store");
        if (store != "postgres" && (minNodes > 1 || clientsNode))
            throw new ConfigurationError("fedactors.state.store", $"\"{store}\"",
                "postgres when more than one node takes part (every node must reach the clients' state and the checkpoints)",
                clientsNode ? "fedactors node joins another node's run" : $"fedactors.cluster.min-nodes = {minNodes}");
    }
}
