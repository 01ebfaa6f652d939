using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.State;
using Xunit;

namespace FedActors.Runtime.Tests.State;

/// <summary>The group commit in front of the database stores: many entities' states in few transactions, reads that see
/// unwritten states, durable saves that wait for their batch, and failures that are never dropped.</summary>
public class GroupCommitSpecs
{
    /// <summary>An in-memory store whose batch writes take a while and can be made to fail; it counts what it is given.</summary>
    private sealed class SlowStore(TimeSpan delay) : IClientStateStore, ICheckpointStore
    {
        private readonly InMemoryClientStateStore _inner = new();
        public volatile bool Broken;
        public int Batches;
        public ClientState? Load(int clientId) => _inner.Load(clientId);
        public void Save(ClientState state) => SaveAll([state]);
        public void SaveAll(IReadOnlyCollection<ClientState> states)
        {
            Thread.Sleep(delay);
            if (Broken) throw new IOException("disk full");
            Interlocked.Increment(ref Batches);
            foreach (var s in states) _inner.Save(s);
        }
        public void Commit(RunCheckpoint checkpoint, int keepEvery = 0) => _inner.Commit(checkpoint, keepEvery);
        public RunCheckpoint? Last() => _inner.Last();
        public RunCheckpoint? At(int round) => _inner.At(round);
        public IReadOnlyList<int> KeptRounds() => _inner.KeptRounds();
        public IReadOnlyList<ClientState> StatesAt(int round) => _inner.StatesAt(round);
        public void RollBack(int round) => _inner.RollBack(round);
    }

    private static ClientState State(int client, int version) =>
        new(client, version, version, PersonalState.Empty.With(FedAlaMethod.LocalPart, [client, version]), version);

    [Fact]
    public async Task Many_entities_states_should_be_written_in_few_batches_and_a_durable_save_should_wait_for_its_own()
    {
        // arrange: each batch takes 20 ms, so saves that arrive meanwhile gather into the next one
        var inner = new SlowStore(TimeSpan.FromMilliseconds(20));
        using var store = new GroupCommitStateStore(inner);

        // act: 400 entities on 8 threads each save durably, as personalised entities do before they reply
        var saves = Enumerable.Range(0, 400).Select(id => Task.Run(() => store.SaveDurably(State(id, 1)))).ToArray();
        await Task.WhenAll(saves);

        // assert: every state is in the inner store once its save completed, in far fewer transactions than states
        Assert.All(Enumerable.Range(0, 400), id => Assert.Equal(1, inner.Load(id)?.Version));
        Assert.Equal(400, store.Written.States);
        Assert.True(inner.Batches < 100, $"{inner.Batches} batches for 400 states");
    }

    [Fact]
    public void A_state_should_be_read_back_at_once_and_a_commit_should_hold_every_state_saved_before_it()
    {
        var inner = new SlowStore(TimeSpan.FromMilliseconds(200));
        using var store = new GroupCommitStateStore(inner);
        store.Save(State(1, 1));
        store.Save(State(1, 2));
        store.Save(State(2, 1));

        // not written yet (the first batch sleeps 200 ms), but the entity that comes back reads its newest version
        Assert.Equal(2, store.Load(1)!.Version);
        store.Commit(new RunCheckpoint(2, new ParameterVector([1f]), null, 0, 0, [], new Dictionary<string, int[]>(), "h"));
        Assert.Equal([(1, 2), (2, 1)], inner.StatesAt(2).Select(s => (s.ClientId, s.Version)));
        Assert.Equal(2, inner.Last()!.Round);
    }

    [Fact]
    public async Task A_failed_write_should_fail_the_saves_waiting_for_it_and_every_later_call()
    {
        var inner = new SlowStore(TimeSpan.FromMilliseconds(10)) { Broken = true };
        var store = new GroupCommitStateStore(inner);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => store.SaveDurably(State(1, 1)));
        Assert.Contains("disk full", e.Message);
        Assert.Contains("disk full", Assert.Throws<InvalidOperationException>(() => store.Save(State(2, 1))).Message);
        Assert.Contains("disk full", Assert.Throws<InvalidOperationException>(() =>
            store.Commit(new RunCheckpoint(1, new ParameterVector([1f]), null, 0, 0, [], new Dictionary<string, int[]>(), "h"))).Message);
        Assert.Null(inner.Last());
        // an entity's durable save gets a failed task, not a throw; and closing the store does not hide the lost states
        Assert.Contains("disk full", (await Assert.ThrowsAsync<InvalidOperationException>(() => store.SaveDurably(State(3, 1)))).Message);
        Assert.Contains("disk full", Assert.Throws<InvalidOperationException>(store.Dispose).Message);
    }
}
