using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using FedActors.Runtime.State;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Runtime.Tests.State;

/// <summary>Per-round checkpoints and round-versioned client state, in every store (PostgreSQL: a real throwaway server).</summary>
public class CheckpointStoreSpecs(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    /// <summary>Each database store also behind the group commit that runs use (<see cref="GroupCommitStateStore"/>).</summary>
    public static TheoryData<string> Stores => new() { "sqlite", "memory", "postgres", "grouped-sqlite", "grouped-postgres" };

    /// <param name="path">The SQLite file, or the PostgreSQL run key, to open again.</param>
    private (IClientStateStore Clients, ICheckpointStore Checkpoints) Open(string kind, string? path = null)
    {
        IClientStateStore store = kind.Replace("grouped-", "", StringComparison.Ordinal) switch
        {
            "sqlite" => new SqliteClientStateStore(path ?? Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db")),
            "postgres" => new PostgresClientStateStore(postgres.ConnectionString, path ?? Guid.NewGuid().ToString("N")),
            _ => new InMemoryClientStateStore(),
        };
        if (kind.StartsWith("grouped-", StringComparison.Ordinal)) store = new GroupCommitStateStore(store);
        return (store, (ICheckpointStore)store);
    }

    private static PersonalState Local(float v) => PersonalState.Empty.With(FedAlaMethod.LocalPart, [v, v + 1]);

    private static RunCheckpoint Checkpoint(int round) => new(round, new ParameterVector([round, -0.5f, float.Epsilon]), round == 2 ? [7f, 8f] : null,
        0.8, 0.75, [new RoundSummary(1, 5, 5, 0, 0, 0, 0, 0, 0.75, 0.6, double.NaN, 3.5, 100, 80, Health: "x, y")],
        new Dictionary<string, int[]> { ["pill.path"] = [round, 4, 9] }, "abc");

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_client_should_load_its_newest_version_and_a_rollback_should_take_it_back_to_the_committed_round(string kind)
    {
        var (clients, checkpoints) = Open(kind);
        clients.Save(new ClientState(1, 1, 1, Local(1), Version: 1));
        clients.Save(new ClientState(1, 2, 2, Local(2), Version: 2));
        checkpoints.Commit(Checkpoint(2));
        clients.Save(new ClientState(1, 3, 3, Local(3), Version: 3)); // round 3 in progress, never committed

        Assert.Equal(3, clients.Load(1)!.Version);
        checkpoints.RollBack(2);
        var back = clients.Load(1)!;
        Assert.Equal((2, 2), (back.Version, back.RoundsTrained));
        Assert.True(Local(2).SameAs(back.Personal!));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_commit_should_keep_only_each_clients_newest_version_up_to_its_round(string kind)
    {
        var (clients, checkpoints) = Open(kind);
        clients.Save(new ClientState(1, 1, 1, Local(1), Version: 1));
        clients.Save(new ClientState(2, 1, 1, Local(5), Version: 1)); // client 2 sat out round 2
        clients.Save(new ClientState(1, 2, 2, Local(2), Version: 2));
        checkpoints.Commit(Checkpoint(2));
        // rolling back to round 1 now finds only what round 2's commit kept: client 1's round-1 version is gone
        checkpoints.RollBack(1);
        Assert.Null(clients.Load(1));
        Assert.True(Local(5).SameAs(clients.Load(2)!.Personal!));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Keep_every_should_keep_those_rounds_checkpoints_and_the_client_versions_they_need(string kind)
    {
        // arrange: client 1 changes every round, client 2 only in rounds 1 and 4
        var (clients, checkpoints) = Open(kind);
        foreach (var r in new[] { 1, 2, 3, 4, 5 })
        {
            clients.Save(new ClientState(1, r, r, Local(r), Version: r));
            if (r is 1 or 4) clients.Save(new ClientState(2, r, r, Local(10 * r), Version: r));
            // act: commit each round, keeping every second
            checkpoints.Commit(Checkpoint(r), keepEvery: 2);
        }

        // assert: rounds 2 and 4 kept besides the last; each kept round sees its own states
        Assert.Equal([2, 4, 5], checkpoints.KeptRounds());
        Assert.Null(checkpoints.At(3));
        Assert.Equal(2, checkpoints.At(2)!.Round);
        var at2 = checkpoints.StatesAt(2);
        Assert.Equal([(1, 2), (2, 1)], at2.Select(s => (s.ClientId, s.Version)));
        Assert.True(Local(10).SameAs(at2[1].Personal!));
        Assert.Equal([(1, 4), (2, 4)], checkpoints.StatesAt(4).Select(s => (s.ClientId, s.Version)));
        // client 1's round-3 version is needed by no kept round: gone (a rollback to 3 finds round 2's)
        checkpoints.RollBack(3);
        Assert.Equal(2, clients.Load(1)!.Version);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void The_last_checkpoint_should_come_back_bit_for_bit_and_replace_the_one_before(string kind)
    {
        var path = Path.Combine(Path.GetTempPath(), $"state-{Guid.NewGuid():N}.db");
        var (_, checkpoints) = Open(kind, path);
        Assert.Null(checkpoints.Last());
        checkpoints.Commit(Checkpoint(1));
        checkpoints.Commit(Checkpoint(2));
        var last = (kind == "memory" ? checkpoints : Open(kind, path).Checkpoints).Last()!;
        Assert.True(Checkpoint(2).SameAs(last));
        Assert.True(double.IsNaN(last.Rounds[0].TrainLoss));
        Assert.Equal("x, y", last.Rounds[0].Health);
    }
}

/// <summary>Two processes' worth of stores on one PostgreSQL database: what one node saves, another loads; two runs with
/// other keys never see each other's rows.</summary>
public class PostgresStoreSpecs(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public void Every_personal_state_kind_should_round_trip_and_two_stores_of_a_run_should_share_it()
    {
        // arrange: the personal state each method keeps, as real values
        var kinds = new Dictionary<string, PersonalState>
        {
            ["fedala"] = PersonalState.Empty.With(FedAlaMethod.LocalPart, [1f, -2f, 3.5f]).With(FedAlaMethod.WeightsPart, [0.25f, 1f]),
            ["dbe"] = PersonalState.Empty.With(FedDbeMethod.PrbmPart, [0.1f, float.Epsilon]),
            ["gpfl"] = PersonalState.Empty.With(GpflMethod.HeadPart, [1f]).With(GpflMethod.EmbeddingPart, [2f, 3f]).With(GpflMethod.PersonalInputPart, [4f]).With(GpflMethod.GlobalInputPart, [5f]),
            ["fedcp"] = PersonalState.Empty.With(FedCpMethod.HeadPart, [6f, 7f]).With(FedCpMethod.VectorPart, [8f]) with { ReceivedRound = 4 },
        };
        using var node1 = new PostgresClientStateStore(postgres.ConnectionString, "run-a");
        using var node2 = new PostgresClientStateStore(postgres.ConnectionString, "run-a");
        using var other = new PostgresClientStateStore(postgres.ConnectionString, "run-b");

        // act
        int id = 0;
        foreach (var state in kinds.Values) node1.Save(new ClientState(id++, 1, 1, state, Version: 1));

        // assert
        id = 0;
        foreach (var (name, state) in kinds)
        {
            var back = node2.Load(id)!;
            Assert.True(state.SameAs(back.Personal!), name);
            Assert.Null(other.Load(id++));
        }
    }

    [Fact]
    public void An_unreachable_server_should_be_named_without_the_password()
    {
        var described = PostgresClientStateStore.Describe("Host=127.0.0.1;Port=1;Database=fl;Username=u;Password=s3cret");
        Assert.Equal("host 127.0.0.1:1, database fl, user u", described);
        Assert.DoesNotContain("s3cret", described);
    }
}
