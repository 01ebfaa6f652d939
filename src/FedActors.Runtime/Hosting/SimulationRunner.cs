using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Protocol;
using FedActors.Runtime.Settings;
using FedActors.Runtime.State;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FedActors.Runtime.Hosting;

/// <summary>
/// Runs one experiment on a single-process cluster: starts the node (Akka.Hosting), sends <see cref="StartRun"/> to
/// the coordinator, reports each round, and shuts the node down when the run ends. Shared by the CLI, the benchmark
/// and the tests, so all three exercise the same start-up.
/// </summary>
public static class SimulationRunner
{
    /// <param name="store">Client state; when it also keeps checkpoints, every round is committed to it.</param>
    /// <param name="resume">Continue after the store's last committed round instead of starting at round 1.</param>
    /// <param name="onFault">Each fault as it takes effect.</param>
    /// <param name="control">Called once the node is up, with the coordinator (its singleton proxy): where the control API
    /// sends faults and status requests; the returned object is disposed when the run ends.</param>
    public static async Task<RunResult> RunAsync(Experiment experiment, Config config, RunEvents events,
        Action<RoundSummary>? onRound = null, IClientStateStore? store = null, CancellationToken cancel = default, bool resume = false,
        Action<Core.Faults.Fault>? onFault = null, Func<IActorRef, Task<IAsyncDisposable?>>? control = null)
    {
        var device = experiment.Settings.Device;
        using var pool = new TorchWorkerPool(device.EffectiveWorkers, device.ThreadsPerWorker, experiment.CreateModel);
        var resources = Resources(experiment, config, pool, store ?? new InMemoryClientStateStore(), events, exit: null);
        using var host = BuildHost(config, resources);
        await host.StartAsync(cancel);
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var registry = ActorRegistry.For(system);
            var done = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            var observer = system.ActorOf(RunObserver.Props(onRound ?? (_ => { }), done, onFault), "run-observer");
            var coordinator = await registry.GetAsync<RoundCoordinator>(cancel);
            await using var controller = control is null ? null : await control(coordinator);
            coordinator.Tell(new StartRun(observer, resume));
            await using var _ = cancel.Register(() => done.TrySetCanceled(cancel));
            return await done.Task with { PayloadBytesSent = PayloadBytesSent(system) };
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static long PayloadBytesSent(ActorSystem system) =>
        ((PayloadSerializer)system.Serialization.FindSerializerForType(typeof(UpdateSubmitted))).BytesWritten;

    /// <summary>What a node of this run hosts, the same on the run node and on a clients node (<paramref name="exit"/>: where a
    /// clients node learns that its part is over).</summary>
    private static NodeResources Resources(Experiment experiment, Config config, TorchWorkerPool pool, IClientStateStore store, RunEvents events,
        TaskCompletionSource<NodeExit>? exit)
    {
        var keys = HoconText.ExperimentKeys(config).ToArray();
        var hash = HoconText.ExperimentHash(config);
        var coordinator = new CoordinatorOptions(store as ICheckpointStore, hash, keys, config.GetInt("fedactors.cluster.min-nodes"),
            config.GetTimeSpan("fedactors.cluster.join-timeout"), config.GetInt("fedactors.state.keep-every"),
            config.GetBoolean("fedactors.cluster.fault-injection"));
        return new NodeResources(experiment, pool, store, events, coordinator, new NodeIdentity(hash, keys, exit));
    }

    public static IHost BuildHost(Config config, NodeResources resources)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddAkka(ActorNames.System, b => b
            .WithFedActorsCluster(config)
            .WithDeviceWorker(resources)
            .WithAdversary(resources)
            .WithClientShards(resources, config)
            .WithCoordinator(resources));
        return builder.Build();
    }

    /// <summary>
    /// A clients node (<c>fedactors node</c>): joins the run's cluster, hosts its share of the client entities and a device
    /// worker for them, and ends when the run does (exit 0; 1 when the run failed), when the run refuses it (its experiment
    /// differs: exit 2), or when <paramref name="cancel"/> fires (SIGTERM: it leaves the cluster, handing its shards over).
    /// </summary>
    public static async Task<NodeExit> RunNodeAsync(Experiment experiment, Config config, RunEvents events, IClientStateStore store,
        CancellationToken cancel = default)
    {
        var device = experiment.Settings.Device;
        using var pool = new TorchWorkerPool(device.EffectiveWorkers, device.ThreadsPerWorker, experiment.CreateModel);
        var exit = new TaskCompletionSource<NodeExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = BuildHost(config, Resources(experiment, config, pool, store, events, exit));
        await host.StartAsync(cancel);
        try
        {
            await using var stopping = cancel.Register(() => exit.TrySetResult(new NodeExit(0, "stopped")));
            var system = host.Services.GetRequiredService<ActorSystem>();
            // downed by the split-brain resolver (the run node died: keep-oldest downs the rest) or shut down otherwise
            _ = system.WhenTerminated.ContinueWith(_ => exit.TrySetResult(new NodeExit(1, "this node left the cluster (the run node is gone or downed it)")),
                TaskScheduler.Default);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
            var joinTimeout = config.GetTimeSpan("fedactors.cluster.join-timeout");
            if (await Task.WhenAny(up.Task, exit.Task, Task.Delay(joinTimeout, CancellationToken.None)) != up.Task && !exit.Task.IsCompleted)
                return new NodeExit(2, $"could not join {string.Join(", ", config.GetStringList("fedactors.cluster.seed-nodes"))} within {joinTimeout.TotalSeconds:0} s (fedactors.cluster.join-timeout)");
            return await exit.Task with { PayloadBytesSent = PayloadBytesSent(system) };
        }
        finally
        {
            await host.StopAsync(CancellationToken.None); // CoordinatedShutdown: leave the cluster, hand shards over
        }
    }
}
