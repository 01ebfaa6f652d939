using FedActors.Core.Training;

namespace FedActors.Core.Simulation;

/// <summary>
/// The PFLlib evaluation protocol over a round's evaluated clients (spec §5.4): the round's accuracy is pooled,
/// Σ correctᵢ / Σ n_testᵢ (a micro-average), and the spread is over the per-client accuracies, unweighted.
/// </summary>
public sealed record ClientEvaluation(EvalOutcome Pooled, int Clients, double Min, double Median, double Max)
{
    /// <summary>Each evaluated client's own outcome (the rows of <c>clients.csv</c>).</summary>
    public ClientOutcomes PerClient { get; init; } = ClientOutcomes.None;

    /// <param name="outcomes">One outcome per evaluated client; summed in client-id order, so the pooled loss does not
    /// depend on arrival order.</param>
    public static ClientEvaluation Of(IReadOnlyDictionary<int, EvalOutcome> outcomes)
    {
        var perClient = new ClientOutcomes(outcomes);
        var ordered = perClient.Outcomes;
        var pooled = ordered.Aggregate(EvalOutcome.Empty, (acc, o) => acc.Plus(o));
        var accuracies = ordered.Where(o => o.Count > 0).Select(o => o.Accuracy).Order().ToArray();
        if (accuracies.Length == 0) return new ClientEvaluation(pooled, ordered.Count, double.NaN, double.NaN, double.NaN) { PerClient = perClient };
        int n = accuracies.Length;
        double median = n % 2 == 1 ? accuracies[n / 2] : (accuracies[n / 2 - 1] + accuracies[n / 2]) / 2;
        return new ClientEvaluation(pooled, ordered.Count, accuracies[0], median, accuracies[^1]) { PerClient = perClient };
    }

    /// <summary>The clients evaluated in <paramref name="round"/>: everyone (<paramref name="sample"/> = 0, PFLlib) or a
    /// seeded sample drawn afresh per round.</summary>
    public static int[] Pick(long seed, int round, int population, int sample) =>
        sample <= 0 || sample >= population
            ? Enumerable.Range(0, population).ToArray()
            : ClientSampler.Sample(seed, round, population, sample, Randomness.Purpose.Evaluation);

    /// <summary>The clients evaluated in <paramref name="round"/> among those <paramref name="excluded"/> does not name: all
    /// of them, or a seeded sample of <paramref name="sample"/> of them (the same draw as <see cref="Pick(long, int, int, int)"/>
    /// when nobody is excluded).</summary>
    public static int[] Pick(long seed, int round, int population, int sample, IReadOnlySet<int> excluded)
    {
        var eligible = Enumerable.Range(0, population).Where(id => !excluded.Contains(id)).ToArray();
        return sample <= 0 || sample >= eligible.Length
            ? eligible
            : [.. ClientSampler.Sample(seed, round, eligible.Length, sample, Randomness.Purpose.Evaluation).Select(i => eligible[i])];
    }

    /// <summary>The clients a personalised evaluation leaves out (<see cref="Config.PersonalisationSettings.Evaluate"/>): with
    /// <c>auto</c> the malicious ones when the run has an attack — a malicious client's personal model is the attacker's own,
    /// and what the attack does is what it does to the others; with <c>benign</c> those the attack settings would make
    /// malicious, attack or not; with <c>all</c> nobody.</summary>
    public static IReadOnlySet<int> Excluded(Config.ExperimentSettings s)
    {
        var attack = s.Attack ?? Config.AttackSettings.None;
        bool leaveOut = s.PersonalisationOrNone.Enabled && s.PersonalisationOrNone.Evaluate switch
        {
            Config.PersonalisationSettings.EvaluateAll => false,
            Config.PersonalisationSettings.EvaluateBenign => true,
            _ => attack.Enabled,
        };
        return leaveOut ? Attacks.Collusion.Draw(attack, s.Clients.Count, s.Seed) : new HashSet<int>();
    }
}

/// <summary>A round's per-client outcomes in client-id order, compared by value (so two rounds with the same clients'
/// outcomes are equal, as the rest of a <see cref="RoundSummary"/> is).</summary>
public sealed class ClientOutcomes : IEquatable<ClientOutcomes>
{
    public static readonly ClientOutcomes None = new(new Dictionary<int, EvalOutcome>());

    private readonly int[] _clients;
    private readonly EvalOutcome[] _outcomes; // plain arrays: what crosses remoting in RoundFinished and EvaluationDone

    public ClientOutcomes(IReadOnlyDictionary<int, EvalOutcome> outcomes)
    {
        _clients = [.. outcomes.Keys.Order()];
        _outcomes = [.. _clients.Select(id => outcomes[id])];
    }

    public IReadOnlyList<int> Clients => _clients;
    public IReadOnlyList<EvalOutcome> Outcomes => _outcomes;
    public int Count => _clients.Length;

    public bool Equals(ClientOutcomes? other) =>
        other is not null && Clients.SequenceEqual(other.Clients) && Outcomes.SequenceEqual(other.Outcomes);
    public override bool Equals(object? obj) => Equals(obj as ClientOutcomes);
    public override int GetHashCode() => HashCode.Combine(Count, Count == 0 ? 0 : Clients[0], Count == 0 ? null : Outcomes[0]);
}
