using System.Collections.Immutable;
using FedActors.Core.Aggregation;

namespace FedActors.Core.Simulation;

/// <summary>
/// The server's view of one round in progress, as an immutable value with pure transitions: the coordinator actor
/// only decides when to apply them. Late or duplicate answers (a client not pending) leave the state unchanged.
/// </summary>
public sealed record RoundState(
    int Round,
    ImmutableSortedSet<int> Selected,
    ImmutableSortedDictionary<int, ClientUpdate> Updates,
    ImmutableSortedDictionary<int, DropReason> Dropped,
    double SimSeconds,
    long ComputeMs)
{
    public static RoundState Start(int round, IEnumerable<int> selected) =>
        new(round, [.. selected], ImmutableSortedDictionary<int, ClientUpdate>.Empty, ImmutableSortedDictionary<int, DropReason>.Empty, 0, 0);

    public bool IsPending(int clientId) => Selected.Contains(clientId) && !Updates.ContainsKey(clientId) && !Dropped.ContainsKey(clientId);
    public IEnumerable<int> Pending => Selected.Where(IsPending);
    /// <summary>Every selected client has answered or been dropped: O(1), as every answer asks it (only selected clients
    /// are ever recorded, so the counts add up).</summary>
    public bool IsComplete => Updates.Count + Dropped.Count == Selected.Count;

    /// <summary>Takes an update if it is well-formed (finite, <paramref name="expectedLength"/> values), else counts it rejected.</summary>
    /// <param name="summable">The rule sums updates (<see cref="IStreamingRule"/>): the update must also fit the sum.</param>
    /// <param name="keepVector">False for a server that added the vector to its running sum: only the update's receipt
    /// (id, samples, loss) is kept.</param>
    public RoundState OnUpdate(ClientUpdate update, int expectedLength, double simSeconds, long computeMs, bool summable = false, bool keepVector = true)
    {
        if (!IsPending(update.ClientId)) return this;
        bool valid = Problem(update, expectedLength, summable) is null;
        var next = this with { SimSeconds = Math.Max(SimSeconds, simSeconds), ComputeMs = ComputeMs + computeMs };
        return valid
            ? next with { Updates = Updates.Add(update.ClientId, keepVector ? update : update with { Delta = Receipt }) }
            : next with { Dropped = Dropped.Add(update.ClientId, DropReason.Rejected) };
    }

    /// <summary>The vector a streamed update leaves in the state: none (its values went into the round's sum).</summary>
    public static readonly Updates.ParameterVector Receipt = new([]);

    /// <summary>What is wrong with an update (null: nothing): the check that failed, in words.</summary>
    public static string? Problem(ClientUpdate update, int expectedLength, bool summable = false)
    {
        if (update.Delta.Length != expectedLength) return $"{update.Delta.Length} values where the model has {expectedLength}";
        if (!update.Delta.IsFinite())
        {
            int bad = 0;
            foreach (var v in update.Delta.Values) if (!float.IsFinite(v)) bad++;
            return $"{bad} of its {update.Delta.Length} values are NaN or infinite";
        }
        if (update.NumSamples <= 0) return $"it claims {update.NumSamples} training samples";
        return summable ? ExactSum.Problem(update.Delta, update.NumSamples) : null;
    }

    public RoundState OnDropped(int clientId, DropReason reason, double simSeconds) =>
        IsPending(clientId)
            ? this with { Dropped = Dropped.Add(clientId, reason), SimSeconds = Math.Max(SimSeconds, simSeconds) }
            : this;

    /// <summary>The wall-clock safety timeout fired: everyone still pending (or only <paramref name="clients"/>, those that
    /// were asked, under flow control) timed out.</summary>
    public RoundState OnTimeout(IEnumerable<int>? clients = null) =>
        this with { Dropped = Dropped.AddRange((clients ?? Pending).Where(IsPending).ToArray().Select(id => KeyValuePair.Create(id, DropReason.TimedOut))) };

    public int Count(DropReason reason) => Dropped.Values.Count(r => r == reason);

    /// <summary>The updates to aggregate, in client-id order.</summary>
    public IReadOnlyList<ClientUpdate> OrderedUpdates => Updates.Values.ToArray();
}
