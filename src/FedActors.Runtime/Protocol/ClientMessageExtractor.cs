using Akka.Cluster.Sharding;

namespace FedActors.Runtime.Protocol;

/// <summary>Routes <see cref="IWithClientId"/> messages to the client entity named by the client id.</summary>
public sealed class ClientMessageExtractor(int shards) : HashCodeMessageExtractor(shards)
{
    public override string? EntityId(object message) => message switch
    {
        IWithClientId m => m.ClientId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => null,
    };
}
