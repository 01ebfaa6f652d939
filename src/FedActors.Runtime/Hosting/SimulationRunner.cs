using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Runtime.Actors;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Protocol;
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
    /// <param name="configHash">The effective configuration's hash, kept in each checkpoint.</param>
    public static async Task<RunResult> RunAsync(Experiment experiment, Config config, RunEvents events,
        Action<RoundSummary>? onRound = null, IClientStateStore? store = null, CancellationToken cancel = default, bool resume = false,
        string configHash = "")
    {
        var device = experiment.Settings.Device;
        using var pool = new TorchWorkerPool(device.EffectiveWorkers, device.ThreadsPerWorker, experiment.CreateModel);
        store ??= new InMemoryClientStateStore();
        var resources = new NodeResources(experiment, pool, store, events, store as ICheckpointStore, configHash);
        using var host = BuildHost(config, resources);
        await host.StartAsync(cancel);
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var registry = ActorRegistry.For(system);
            var done = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            var observer = system.ActorOf(RunObserver.Props(onRound ?? (_ => { }), done), "run-observer");
            (await registry.GetAsync<RoundCoordinator>(cancel)).Tell(new StartRun(observer, resume));
            await using var _ = cancel.Register(() => done.TrySetCanceled(cancel));
            return await done.Task;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
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
}
