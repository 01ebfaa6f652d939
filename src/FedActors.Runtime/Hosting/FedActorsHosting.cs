using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Akka.Remote.Hosting;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.State;

namespace FedActors.Runtime.Hosting;

/// <summary>What one node needs to host its part of a run.</summary>
/// <param name="Coordinator">The coordinator's options, should the singleton start on this node.</param>
/// <param name="Node">Who this node is in the run.</param>
public sealed record NodeResources(Experiment Experiment, TorchWorkerPool Pool, IClientStateStore Store, RunEvents Events,
    CoordinatorOptions? Coordinator = null, NodeIdentity? Node = null);

/// <summary>Akka.Hosting start-up, one extension method per concern.</summary>
public static class FedActorsHosting
{
    /// <summary>HOCON (the effective config, reference included), remoting and clustering from <c>fedactors.cluster</c>,
    /// Serilog as Akka's logger. With no seed nodes the node joins itself: a one-node cluster.</summary>
    public static AkkaConfigurationBuilder WithFedActorsCluster(this AkkaConfigurationBuilder b, Config config)
    {
        var seeds = config.GetStringList("fedactors.cluster.seed-nodes").ToArray();
        b.AddHocon(config, HoconAddMode.Prepend)
            .AddHocon(ClusterSharding.DefaultConfig(), HoconAddMode.Append)
            .AddHocon(Akka.DistributedData.DistributedData.DefaultConfig(), HoconAddMode.Append)
            .ConfigureLoggers(l =>
            {
                // Akka's own INFO chatter (remoting start/stop) is not run information; warnings and errors are.
                l.LogLevel = Akka.Event.LogLevel.WarningLevel;
                l.ClearLoggers();
                l.AddLogger<SerilogLogger>();
            })
            .WithRemoting(config.GetString("fedactors.cluster.hostname"), config.GetInt("fedactors.cluster.port"))
            .WithClustering(new ClusterOptions { Roles = [ActorNames.Role], SeedNodes = seeds.Length > 0 ? seeds : null });
        if (config.GetBoolean("fedactors.cluster.fault-injection"))
            b.AddHocon("akka.remote.dot-netty.tcp.applied-adapters = [trttl]", HoconAddMode.Prepend);
        if (seeds.Length == 0)
            b.WithActors((system, _) => Cluster.Get(system).Join(Cluster.Get(system).SelfAddress));
        return b;
    }

    /// <summary>The node's device worker: all tensor work of the node goes through it.</summary>
    public static AkkaConfigurationBuilder WithDeviceWorker(this AkkaConfigurationBuilder b, NodeResources r) =>
        b.WithActors((system, registry) =>
            registry.Register<DeviceWorker>(system.ActorOf(DeviceWorker.Props(r.Experiment, r.Pool, r.Node), ActorNames.DeviceWorker)));

    /// <summary>The adversary that coordinates colluding malicious clients, as a cluster singleton (with its proxy).</summary>
    public static AkkaConfigurationBuilder WithAdversary(this AkkaConfigurationBuilder b, NodeResources r) =>
        b.WithSingleton<Adversary>(ActorNames.Adversary, (_, registry, _) => Adversary.Props(r.Experiment, registry.Get<DeviceWorker>(), r.Events),
            new ClusterSingletonOptions { Role = ActorNames.Role });

    /// <summary>Client entities, sharded by client id; remember-entities off, ddata state store.</summary>
    public static AkkaConfigurationBuilder WithClientShards(this AkkaConfigurationBuilder b, NodeResources r, Config config) =>
        b.WithShardRegion<ClientEntity>(ActorNames.ClientRegion,
            (system, registry, _) =>
            {
                var worker = registry.Get<DeviceWorker>();
                var adversary = registry.Get<Adversary>();
                TimeSpan? passivate = config.GetString("fedactors.state.passivate-idle-after") is "off" or "none"
                    ? null
                    : config.GetTimeSpan("fedactors.state.passivate-idle-after");
                int limit = config.GetInt("fedactors.state.max-active-entities");
                var residency = limit > 0 ? system.ActorOf(ResidencyGuard.Props(limit), "residency") : null;
                return id => ClientEntity.Props(int.Parse(id, System.Globalization.CultureInfo.InvariantCulture), r.Experiment, worker, r.Store, adversary, passivate,
                    residency: residency);
            },
            new ClientMessageExtractor(config.GetInt("fedactors.cluster.shards")),
            new ShardOptions { StateStoreMode = StateStoreMode.DData, RememberEntities = false, Role = ActorNames.Role });

    /// <summary>The round coordinator as a cluster singleton (with its proxy), and this node's worker registered with it.</summary>
    public static AkkaConfigurationBuilder WithCoordinator(this AkkaConfigurationBuilder b, NodeResources r) =>
        b.WithSingleton<RoundCoordinator>(ActorNames.Coordinator,
                (_, registry, _) => RoundCoordinator.Props(r.Experiment, registry.Get<ClientEntity>(), registry.Get<DeviceWorker>(), registry.Get<Adversary>(), r.Events,
                    r.Coordinator),
                new ClusterSingletonOptions { Role = ActorNames.Role })
            .WithActors((_, registry) => registry.Get<DeviceWorker>().Tell(new AnnounceTo(registry.Get<RoundCoordinator>())));
}
