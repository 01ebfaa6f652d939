using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.Settings;
using FedActors.Runtime.State;
using Xunit;

namespace FedActors.Runtime.Tests.State;

/// <summary>A GPU run's identity no longer names its GPU (<c>cuda:N</c> counts as "cuda", so one clients node per GPU can
/// join a run); a run an earlier FedActors keyed by <c>cuda:1</c> must still resume, and is then keyed as today's.</summary>
public class GpuRunIdentitySpecs
{
    private static void Commit(Akka.Configuration.Config c, string dir, string key, RunCheckpoint checkpoint, bool fresh)
    {
        var store = StateStores.Create(c, dir, key, fresh);
        try { ((ICheckpointStore)store).Commit(checkpoint); }
        finally { (store as IDisposable)?.Dispose(); }
    }

    [Fact]
    public void A_run_keyed_by_its_GPUs_index_should_resume_and_be_rekeyed_and_an_edited_one_refused()
    {
        // arrange: a run folder on cuda:1 whose round-1 checkpoint carries the hash FedActors gave it before 2026-11-30 (every
        // experiment key as it stands, cuda:1 included), and its config.conf as written
        var dir = Directory.CreateTempSubdirectory("gpu-identity-").FullName;
        var c = Support.NodeConfig("fedactors.device.kind = \"cuda:1\"", "fedactors.state.store = sqlite");
        var recorded = HoconText.Render(c, "fedactors");
        var before = RunCheckpoint.HashConfig(string.Join('\n', HoconText.ExperimentKeys(c)
            .Select(p => $"{p.Key} = {(p.Key == "fedactors.device.kind" ? "\"cuda:1\"" : p.Value)}")));
        var today = HoconText.ExperimentHash(c);
        Assert.NotEqual(before, today);
        RunCheckpoint Checkpoint(string hash) => new(1, new ParameterVector([1f, 2f]), null, 0.5, 0.5, [], new Dictionary<string, int[]>(), hash);
        Commit(c, dir, today, Checkpoint(before), fresh: true);

        // act
        var resumed = StateStores.LastCheckpoint(c, dir, today, recorded, out var adopted);

        // assert: taken, no setting adopted, committed again under today's hash (a second resume finds it as today's)
        Assert.Equal(1, resumed.Round);
        Assert.Equal(today, resumed.ConfigHash);
        Assert.Empty(adopted);
        Assert.Equal(today, StateStores.LastCheckpoint(c, dir, today, recorded, out _).ConfigHash);

        // a checkpoint of another experiment (another seed's hash) is still refused
        Commit(c, dir, today, Checkpoint(HoconText.ExperimentHash(Support.NodeConfig("fedactors.seed = 43"))) with { Round = 2 }, fresh: false);
        var e = Assert.Throws<ConfigurationError>(() => StateStores.LastCheckpoint(c, dir, today, recorded, out _));
        Assert.Contains("config.conf differs", e.Message);
    }
}
