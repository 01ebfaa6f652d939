namespace FedActors.Runtime.Hosting;

/// <summary>Names of the actor system, the shard region, the singleton and the role, in one place.</summary>
public static class ActorNames
{
    public const string System = "fedactors";
    public const string ClientRegion = "clients";
    public const string Coordinator = "coordinator";
    public const string Adversary = "adversary";
    public const string DeviceWorker = "device-worker";
    public const string Role = "fl";
}
