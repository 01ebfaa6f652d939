using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedActors.Core.Faults;

/// <summary>
/// One fault, as data: what happens (<see cref="Kind"/>), from which round (<see cref="Round"/>) for how many
/// (<see cref="Rounds"/>), to which clients or node. Scripted faults come from <c>fedactors.faults</c>, runtime faults
/// from the control API; both are the same record, and a run's <c>faults.jsonl</c> (one per line, with the round each
/// took effect in) replayed as the script gives the same run. Every random choice a fault makes (which share of its
/// clients, which messages) is drawn from (seed, round, client, purpose), so where it is applied does not matter.
/// </summary>
/// <param name="Kind">One of <see cref="FaultKinds.All"/>.</param>
/// <param name="Round">First round it applies to (for <c>stop</c>: the last round run).</param>
/// <param name="Rounds">Rounds it lasts; 0 = to the end of the run (the default of <c>set</c>, <c>attack-on</c>, <c>attack-off</c>).</param>
/// <param name="Clients">Client ids it may hit, e.g. <c>0-99,120</c>; empty = every client.</param>
/// <param name="Fraction">Share of those clients hit (drawn once per fault), or for <c>lose-messages</c> the chance that each message is lost. (0, 1].</param>
/// <param name="Seconds"><c>straggle</c>: simulated seconds added to each hit client's round; <c>partition-node</c>: how long the node is cut off.</param>
/// <param name="Factor"><c>slow-node</c>: the node's worker takes this many times as long (≥ 1).</param>
/// <param name="Node"><c>slow-node</c>, <c>kill-node</c>, <c>partition-node</c>: the node, as <c>host:port</c> (or its full Akka address).</param>
/// <param name="Messages"><c>lose-messages</c>: <c>tasks</c> (the server's request to train), <c>updates</c> (the client's answer) or <c>both</c>.</param>
/// <param name="Key"><c>set</c>: the key to change (<see cref="FaultKinds.SettableKeys"/>).</param>
/// <param name="Value"><c>set</c>: its new value.</param>
/// <param name="Source">Where it came from: <c>script</c> or <c>api</c> (reporting only; never changes what it does).</param>
public sealed record Fault(
    string Kind,
    int Round,
    int? Rounds = null,
    string Clients = "",
    double Fraction = 1,
    double Seconds = 0,
    double Factor = 1,
    string Node = "",
    string Messages = "both",
    string Key = "",
    string Value = "",
    string Source = "script")
{
    /// <summary>Rounds it lasts, with the kind's default when not given; 0 = to the end.</summary>
    [JsonIgnore]
    public int Duration => Rounds ?? (Kind is FaultKinds.Set or FaultKinds.AttackOn or FaultKinds.AttackOff ? 0 : 1);

    /// <summary>Whether it applies to <paramref name="round"/>.</summary>
    public bool ActiveIn(int round) => round >= Round && (Duration == 0 || round < Round + Duration);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>One line of <c>faults.jsonl</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads one JSON object (a line of <c>faults.jsonl</c>, the body of <c>POST /faults</c>).</summary>
    /// <exception cref="FaultError">Malformed JSON, an unknown field or a value of the wrong type, named.</exception>
    public static Fault FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<Fault>(json, Json) ?? throw new FaultError("(body)", "null", "a JSON object");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : "(body)";
            var message = e.Message.Contains("could not be mapped", StringComparison.Ordinal) ? "a known field (" + string.Join(", ", FieldNames) + ")"
                : e.Message.Contains("missing required", StringComparison.Ordinal) ? "kind and round" : "valid JSON of the right type";
            throw new FaultError(field, json.Length > 80 ? json[..80] + "…" : json, message);
        }
    }

    /// <summary>The JSON field names, as the API and <c>faults.jsonl</c> spell them.</summary>
    public static readonly string[] FieldNames = ["kind", "round", "rounds", "clients", "fraction", "seconds", "factor", "node", "messages", "key", "value", "source"];

    /// <summary>Checks the fault against the run: a known kind, a round within it, ids within the population, fractions
    /// in (0, 1], the fields its kind needs. <paramref name="scripted"/>: <c>pause</c>/<c>resume</c> make no sense in a
    /// script.</summary>
    /// <exception cref="FaultError">The first bad field, named, with what it should be.</exception>
    public void Validate(int totalRounds, int population, bool scripted)
    {
        if (!FaultKinds.All.Contains(Kind)) throw new FaultError("kind", Kind, "one of " + string.Join(", ", FaultKinds.All));
        if (scripted && Kind is FaultKinds.Pause or FaultKinds.Resume)
            throw new FaultError("kind", Kind, "a fault that changes the run (pause and resume are for the control API)");
        if (Round < 1 || Round > totalRounds) throw new FaultError("round", Round.ToString(CultureInfo.InvariantCulture), $"a round in 1–{totalRounds}");
        if (Rounds is < 0) throw new FaultError("rounds", Rounds.Value.ToString(CultureInfo.InvariantCulture), "≥ 0 (0 = to the end of the run)");
        if (!(Fraction > 0 && Fraction <= 1)) throw new FaultError("fraction", Fraction.ToString(CultureInfo.InvariantCulture), "in (0, 1]");
        if (!double.IsFinite(Seconds) || Seconds < 0) throw new FaultError("seconds", Seconds.ToString(CultureInfo.InvariantCulture), "a finite number ≥ 0");
        if (!double.IsFinite(Factor) || Factor < 1) throw new FaultError("factor", Factor.ToString(CultureInfo.InvariantCulture), "a finite number ≥ 1");
        ClientSet.Parse(Clients, population); // throws on a bad list
        if (Messages is not ("tasks" or "updates" or "both")) throw new FaultError("messages", Messages, "tasks, updates or both");
        if (Source is not ("script" or "api")) throw new FaultError("source", Source, "script or api");
        switch (Kind)
        {
            case FaultKinds.Straggle when Seconds <= 0:
                throw new FaultError("seconds", Seconds.ToString(CultureInfo.InvariantCulture), "> 0: the simulated delay straggle adds");
            case FaultKinds.SlowNode when Factor <= 1:
                throw new FaultError("factor", Factor.ToString(CultureInfo.InvariantCulture), "> 1: how many times slower the node's worker gets");
            case FaultKinds.PartitionNode when Seconds <= 0:
                throw new FaultError("seconds", Seconds.ToString(CultureInfo.InvariantCulture), "> 0: how long the node is cut off");
            case FaultKinds.SlowNode or FaultKinds.KillNode or FaultKinds.PartitionNode when string.IsNullOrWhiteSpace(Node):
                throw new FaultError("node", Node, "the node's host:port (GET /status lists them)");
            case FaultKinds.Set:
                if (!FaultKinds.SettableKeys.Contains(Key))
                    throw new FaultError("key", Key, "a key that may change between rounds: " + string.Join(", ", FaultKinds.SettableKeys));
                ValidateSetValue(population);
                break;
        }
    }

    private void ValidateSetValue(int population)
    {
        switch (Key)
        {
            case FaultKinds.PerRoundKey:
                if (!int.TryParse(Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > population)
                    throw new FaultError("value", Value, $"an integer in 1–{population} (clients per round)");
                break;
            case FaultKinds.DeadlineKey:
                if (!double.TryParse(Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d) || d < 0)
                    throw new FaultError("value", Value, "simulated seconds ≥ 0 (0 = no deadline)");
                break;
        }
    }

    /// <summary><see cref="Key"/>'s new value as a number (after <see cref="Validate"/>).</summary>
    [JsonIgnore]
    public double NumericValue => double.Parse(Value, CultureInfo.InvariantCulture);
}

/// <summary>The kinds of fault and what each does.</summary>
public static class FaultKinds
{
    /// <summary>Hit clients drop out of the round (counted as dropped out, and as <c>fault_dropped</c>).</summary>
    public const string Drop = "drop";
    /// <summary>Hit client entities stop with an exception: their update is lost (failed) and their in-memory state with
    /// it; sharding restarts them from the state store.</summary>
    public const string Crash = "crash";
    /// <summary>Hit clients take <c>seconds</c> longer (simulated), so a deadline can bite.</summary>
    public const string Straggle = "straggle";
    /// <summary>A share of the round's task and/or update messages never arrive; the safety timeout finds them.</summary>
    public const string LoseMessages = "lose-messages";
    /// <summary>A node's worker takes <c>factor</c> times as long.</summary>
    public const string SlowNode = "slow-node";
    /// <summary>A node's process exits at once, as SIGKILL would.</summary>
    public const string KillNode = "kill-node";
    /// <summary>A node is cut off from the others for <c>seconds</c>.</summary>
    public const string PartitionNode = "partition-node";
    /// <summary>The malicious clients attack (even before the attack's start round).</summary>
    public const string AttackOn = "attack-on";
    /// <summary>The malicious clients behave honestly.</summary>
    public const string AttackOff = "attack-off";
    /// <summary>Change a key that may change between rounds (<see cref="SettableKeys"/>).</summary>
    public const string Set = "set";
    public const string Pause = "pause";
    public const string Resume = "resume";
    /// <summary>Finish after round <c>round</c>, writing the summary and plots.</summary>
    public const string Stop = "stop";

    public static readonly string[] All = [Drop, Crash, Straggle, LoseMessages, SlowNode, KillNode, PartitionNode, AttackOn, AttackOff, Set, Pause, Resume, Stop];

    /// <summary>Kinds that act at once instead of at the next round boundary.</summary>
    public static readonly string[] Immediate = [KillNode, PartitionNode, Pause, Resume, Stop];

    public const string PerRoundKey = "clients.per-round";
    public const string DeadlineKey = "round.deadline-seconds";

    /// <summary>Keys a <c>set</c> fault may change between rounds; every other key would change what the run is.</summary>
    public static readonly string[] SettableKeys = [PerRoundKey, DeadlineKey];
}

/// <summary>A fault's field with a bad value: the API answers 400 naming it, a script is a configuration error.</summary>
public sealed class FaultError(string field, string value, string expected)
    : Exception($"{field} = {value}: expected {expected}")
{
    public string Field { get; } = field;
    public string Value { get; } = value;
    public string Expected { get; } = expected;
}

/// <summary>A set of client ids written as <c>0-99,120,130-139</c> (empty: every client).</summary>
public sealed class ClientSet
{
    private readonly (int From, int To)[] _ranges;

    private ClientSet((int, int)[] ranges) => _ranges = ranges;

    public static readonly ClientSet All = new([]);

    public bool Contains(int id)
    {
        if (_ranges.Length == 0) return true;
        foreach (var (from, to) in _ranges) if (id >= from && id <= to) return true;
        return false;
    }

    /// <exception cref="FaultError">A malformed list, a range backwards, or an id outside 0–population−1.</exception>
    public static ClientSet Parse(string text, int population)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim() == "all") return All;
        var ranges = new List<(int, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length is < 1 or > 2 || !ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new FaultError("clients", text, "client ids and ranges, e.g. 0-99,120");
            int from = int.Parse(ends[0], CultureInfo.InvariantCulture), to = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            if (from > to) throw new FaultError("clients", text, $"ranges low-high ({part} is backwards)");
            if (to >= population) throw new FaultError("clients", text, $"ids in 0–{population - 1}");
            ranges.Add((from, to));
        }
        return new ClientSet([.. ranges]);
    }
}
