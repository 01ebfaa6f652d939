using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Training;

/// <summary>
/// Every tensor that a worker makes for a client or the server is made in a dispose scope and disposed by it: none is
/// left to the GC. A temporary outside a scope (say the argument in <c>v / v.norm()</c>) is reachable only until its
/// handle is read, so the finaliser can free it while libtorch still uses it, the same hazard as a temporary scalar
/// (<see cref="ScalarAudit"/>). Checked on the pool thread's TorchSharp statistics over real calls of each path.
/// </summary>
[Collection("Torch")]
public class TensorLifetimeTests
{
    [Theory]
    [InlineData("fedavg", "none", "none")]
    [InlineData("skymask", "none", "none")]
    [InlineData("fltrust", "none", "none")]
    [InlineData("fedavg", "none", "scaling")]    // a backdoor: poisoned batches and the backdoor evaluation
    [InlineData("fedavg", "none", "label-flip")]
    [InlineData("fedavg", "fedala", "none")]
    [InlineData("fedavg", "dbe", "none")]
    [InlineData("fedavg", "gpfl", "none")]
    [InlineData("fedavg", "fedcp", "none")]
    [InlineData("fedavg", "none", "none", 4)]       // client-batched training (batch-clients = 4)
    [InlineData("fedavg", "none", "label-flip", 4)] // batched, the colluders one at a time
    public async Task A_workers_calls_should_leave_no_tensor_to_the_garbage_collector(string rule, string method, string attack, int batch = 1)
    {
        // arrange: the CNN (the path SkyMask's and PFLlib's settings use), a root set for the rules that train one
        var s = TestExperiments.Synthetic(rounds: 2, clients: 6, perRound: 6, model: "cnn", samples: 600).WithRule(rule)
            with { Server = new Config.ServerSettings(0.5, 60, 0.1, 1) };
        if (method != "none") s = s.WithPersonalisation(method);
        if (attack != "none") s = s.WithAttack(attack, fraction: 0.5);
        s = s with { Device = s.Device with { BatchClients = batch } };
        using var e = TestExperiments.Load(s);
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        await pool.Run(_ => { DisposeScopeManager.Statistics.Reset(); return 0; });

        // act: whole rounds of the plain loop (training, aggregation, evaluation), or each step of a personalised client
        if (method == "none") _ = new PlainSimulation(e, pool).Run().ToList();
        else await pool.Run(slot => RunClients(s.CreatePersonalisation()!, e, slot));

        // assert
        var stats = await pool.Run(_ => DisposeScopeManager.Statistics);
        Assert.True(stats.CreatedInScopeCount > 100, $"the calls made hardly any tensors: {stats}");
        Assert.True(stats.CreatedOutsideScopeCount == 0, $"tensors made outside a dispose scope: {stats}");
        Assert.True(stats.ThreadTotalLiveCount == 0, $"tensors still alive: {stats}");
    }

    private static int RunClients(IPersonalisation method, Experiment e, WorkerSlot slot)
    {
        var global = method.InitialGlobal(e);
        var ids = Enumerable.Range(0, 3).ToArray();
        float[]? extra = null;
        if (method.NeedsPreparation)
            extra = method.CombinePreparation(ids.Select(id => (e.TrainSamples(id),
                method.Prepare(new PersonalContext(e, slot, id, 0, global, null), method.Initial(e, id))!)).ToList());
        foreach (var id in ids)
            for (int round = 1; round <= 2; round++)
                PersonalStep.Run(method, new PersonalContext(e, slot, id, round, global, extra), method.Initial(e, id), evaluate: true, train: true);
        return 0;
    }
}
