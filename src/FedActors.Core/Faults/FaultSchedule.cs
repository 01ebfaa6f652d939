using System.Collections.Immutable;
using System.Globalization;
using FedActors.Core.Randomness;

namespace FedActors.Core.Faults;

/// <summary>
/// Every fault of a run (scripted and injected), and what they make of each round: the <see cref="RoundFaults"/> plan
/// that the coordinator computes at the round's start and sends with the round's messages, so every node applies the
/// same plan. A pure function of (faults, seed, round): the same faults give the same plans wherever and whenever they
/// are computed.
/// </summary>
public sealed class FaultSchedule
{
    public FaultSchedule(IEnumerable<Fault> faults, long seed, int population)
    {
        Faults = [.. faults];
        _seed = seed;
        _population = population;
        _sets = Faults.Select(f => ClientSet.Parse(f.Clients, population)).ToImmutableArray();
    }

    private readonly long _seed;
    private readonly int _population;
    private readonly ImmutableArray<ClientSet> _sets;

    /// <summary>In the order they were scheduled (later faults win where two set the same thing).</summary>
    public ImmutableArray<Fault> Faults { get; }

    public static FaultSchedule None(long seed, int population) => new([], seed, population);

    public FaultSchedule With(Fault fault) => new(Faults.Add(fault), _seed, _population);

    /// <summary>The faults whose first round is <paramref name="round"/>: they take effect as it starts.</summary>
    public IEnumerable<Fault> StartingIn(int round) => Faults.Where(f => f.Round == round);

    /// <summary>The last round the run goes to: a <c>stop</c> fault's round, else <paramref name="rounds"/>.</summary>
    public int LastRound(int rounds) =>
        Faults.Where(f => f.Kind == FaultKinds.Stop).Select(f => f.Round).Append(rounds).Min();

    /// <summary>What the faults do in <paramref name="round"/>.</summary>
    public RoundFaults For(int round)
    {
        var active = Enumerable.Range(0, Faults.Length).Where(i => Faults[i].ActiveIn(round)).ToArray();
        int? perRound = null;
        double? deadline = null;
        bool? attack = null;
        var nodes = new List<Fault>();
        foreach (var i in active)
        {
            var f = Faults[i];
            switch (f.Kind)
            {
                case FaultKinds.Set when f.Key == FaultKinds.PerRoundKey: perRound = (int)f.NumericValue; break;
                case FaultKinds.Set when f.Key == FaultKinds.DeadlineKey: deadline = f.NumericValue; break;
                case FaultKinds.AttackOn: attack = true; break;
                case FaultKinds.AttackOff: attack = false; break;
                case FaultKinds.SlowNode or FaultKinds.KillNode or FaultKinds.PartitionNode: nodes.Add(f); break;
            }
        }
        var clientFaults = active.Where(i => Faults[i].Kind is FaultKinds.Drop or FaultKinds.Crash or FaultKinds.Straggle or FaultKinds.LoseMessages).ToArray();
        return new RoundFaults(round, perRound, deadline, attack, [.. nodes], id => ForClient(round, id, clientFaults, attack, deadline));
    }

    private ClientFault ForClient(int round, int id, int[] clientFaults, bool? attack, double? deadline)
    {
        bool drop = false, crash = false, loseTask = false, loseUpdate = false;
        double straggle = 0;
        foreach (var i in clientFaults)
        {
            var f = Faults[i];
            if (!_sets[i].Contains(id)) continue;
            if (f.Kind == FaultKinds.LoseMessages)
            {
                // a fresh draw for each message of each round
                var rng = SeedStream.Rng(_seed, round, id, Purpose.LostMessage);
                double task = rng.NextDouble(), update = rng.NextDouble();
                loseTask |= f.Messages != "updates" && task < f.Fraction;
                loseUpdate |= f.Messages != "tasks" && update < f.Fraction;
                continue;
            }
            // which of the fault's clients it hits is drawn once per fault, so the same clients stay hit for its rounds
            if (f.Fraction < 1 && Draw(f, id) >= f.Fraction) continue;
            switch (f.Kind)
            {
                case FaultKinds.Drop: drop = true; break;
                case FaultKinds.Crash: crash = true; break;
                case FaultKinds.Straggle: straggle += f.Seconds; break;
            }
        }
        return new ClientFault(drop, crash, straggle, loseTask, loseUpdate, attack, deadline);
    }

    /// <summary>Uniform in [0, 1) per (seed, the fault's first round, client, kind).</summary>
    private double Draw(Fault f, int id)
    {
        ulong kind = 0;
        foreach (var c in f.Kind) kind = kind * 31 + c;
        return new Rng(SeedStream.Mix(SeedStream.For(_seed, f.Round, id, Purpose.Fault) ^ kind)).NextDouble();
    }
}

/// <summary>What the faults do to one client in one round; <see cref="None"/> for most. Sent with its training request.</summary>
/// <param name="StraggleSeconds">Simulated seconds added to its round.</param>
/// <param name="LoseTask">The server's request never arrives (the coordinator does not send it).</param>
/// <param name="LoseUpdate">The client's answer never arrives (the client does not send it).</param>
/// <param name="Attack">Overrides whether a malicious client attacks (null: as configured).</param>
/// <param name="DeadlineSeconds">Overrides <c>round.deadline-seconds</c> (null: as configured).</param>
public sealed record ClientFault(bool Drop, bool Crash, double StraggleSeconds, bool LoseTask, bool LoseUpdate, bool? Attack, double? DeadlineSeconds)
{
    public static readonly ClientFault None = new(false, false, 0, false, false, null, null);

    /// <summary>Whether a fault (not an override) hits the client this round.</summary>
    public bool Hit => Drop || Crash || StraggleSeconds > 0 || LoseTask || LoseUpdate;
}

/// <summary>One round's plan: overrides of settings, node faults, and each client's <see cref="ClientFault"/>.</summary>
public sealed class RoundFaults(int round, int? perRound, double? deadlineSeconds, bool? attack, Fault[] nodeFaults, Func<int, ClientFault> client)
{
    public int Round { get; } = round;
    /// <summary>Clients sampled this round, when a <c>set</c> changed it.</summary>
    public int? PerRound { get; } = perRound;
    public double? DeadlineSeconds { get; } = deadlineSeconds;
    public bool? Attack { get; } = attack;
    /// <summary>Node faults of the round: active <c>slow-node</c> faults, and <c>kill-node</c>/<c>partition-node</c> faults of this round.</summary>
    public IReadOnlyList<Fault> NodeFaults { get; } = nodeFaults;

    public ClientFault Client(int id) => client(id);

    /// <summary>The slow-down factor of the node at <paramref name="address"/> this round (1: none).</summary>
    public double SlowFactor(string address) =>
        NodeFaults.Where(f => f.Kind == FaultKinds.SlowNode && NodeMatches(f.Node, address)).Select(f => f.Factor).DefaultIfEmpty(1).Max();

    /// <summary>Whether a fault's <c>node</c> (<c>host:port</c> or a full address) names the node at <paramref name="address"/>
    /// (an Akka address, <c>akka.tcp://system@host:port</c>).</summary>
    public static bool NodeMatches(string node, string address) =>
        node.Length > 0 && (address == node || address.EndsWith("@" + node, StringComparison.Ordinal));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"faults of round {Round}");
}

/// <summary>What the faults did in a round, for <c>rounds.csv</c>, <c>RoundCompleted</c> and the summary.</summary>
/// <param name="Dropped">Selected clients a <c>drop</c> fault took out.</param>
/// <param name="Crashed">Selected clients a <c>crash</c> fault stopped.</param>
/// <param name="LostMessages">Task and update messages a <c>lose-messages</c> fault lost.</param>
/// <param name="Straggled">Selected clients a <c>straggle</c> fault slowed.</param>
/// <param name="NodeFaults">Node faults (slow, killed, partitioned) active in or starting during the round.</param>
public sealed record FaultCounts(int Dropped = 0, int Crashed = 0, int LostMessages = 0, int Straggled = 0, int NodeFaults = 0)
{
    public static readonly FaultCounts Zero = new();

    /// <summary>Counts the plan's effects on the selected clients. A client hit twice counts once, by what happened first
    /// (a lost task before a crash before a drop before a lost update).</summary>
    public static FaultCounts Of(RoundFaults plan, IEnumerable<int> selected) => Of(plan, selected.Select(plan.Client));

    /// <param name="faults">The selected clients' parts of the plan.</param>
    public static FaultCounts Of(RoundFaults plan, IEnumerable<ClientFault> faults)
    {
        int dropped = 0, crashed = 0, lost = 0, straggled = 0;
        foreach (var f in faults)
        {
            if (f.LoseTask) { lost++; continue; }
            if (f.StraggleSeconds > 0) straggled++;
            if (f.Crash) crashed++;
            else if (f.Drop) dropped++;
            else if (f.LoseUpdate) lost++;
        }
        return new FaultCounts(dropped, crashed, lost, straggled, plan.NodeFaults.Count);
    }
}
