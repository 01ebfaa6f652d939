using Akka.Configuration;
using FedActors.Runtime.Settings;

namespace FedActors.Runtime.State;

/// <summary>Builds the client state store that <c>fedactors.state</c> names.</summary>
public static class StateStores
{
    /// <summary>Checks <c>fedactors.state</c> without creating anything.</summary>
    public static void Validate(Config c)
    {
        var kind = c.GetString("fedactors.state.store");
        if (kind is not ("sqlite" or "memory"))
            throw new ConfigurationError("fedactors.state.store", $"\"{kind}\"", "sqlite or memory");
    }

    public static IClientStateStore Create(Config c, string runDir)
    {
        Validate(c);
        if (c.GetString("fedactors.state.store") == "memory") return new InMemoryClientStateStore();
        var path = c.GetString("fedactors.state.path");
        return new SqliteClientStateStore(string.IsNullOrEmpty(path) ? Path.Combine(runDir, "client-state.db") : path);
    }
}
