using FedActors.Core.Training;

namespace FedActors.Core.Simulation;

/// <summary>
/// The PFLlib evaluation protocol over a round's evaluated clients (spec §5.4): the round's accuracy is pooled,
/// Σ correctᵢ / Σ n_testᵢ (a micro-average), and the spread is over the per-client accuracies, unweighted.
/// </summary>
public sealed record ClientEvaluation(EvalOutcome Pooled, int Clients, double Min, double Median, double Max)
{
    /// <param name="outcomes">One outcome per evaluated client; summed in client-id order, so the pooled loss does not
    /// depend on arrival order.</param>
    public static ClientEvaluation Of(IReadOnlyDictionary<int, EvalOutcome> outcomes)
    {
        var ordered = outcomes.OrderBy(o => o.Key).Select(o => o.Value).ToArray();
        var pooled = ordered.Aggregate(EvalOutcome.Empty, (acc, o) => acc.Plus(o));
        var accuracies = ordered.Where(o => o.Count > 0).Select(o => o.Accuracy).Order().ToArray();
        if (accuracies.Length == 0) return new ClientEvaluation(pooled, ordered.Length, double.NaN, double.NaN, double.NaN);
        int n = accuracies.Length;
        double median = n % 2 == 1 ? accuracies[n / 2] : (accuracies[n / 2 - 1] + accuracies[n / 2]) / 2;
        return new ClientEvaluation(pooled, ordered.Length, accuracies[0], median, accuracies[^1]);
    }

    /// <summary>The clients evaluated in <paramref name="round"/>: everyone (<paramref name="sample"/> = 0, PFLlib) or a
    /// seeded sample drawn afresh per round.</summary>
    public static int[] Pick(long seed, int round, int population, int sample) =>
        sample <= 0 || sample >= population
            ? Enumerable.Range(0, population).ToArray()
            : ClientSampler.Sample(seed, round, population, sample, Randomness.Purpose.Evaluation);

    /// <summary><see cref="Pick"/> without the clients <paramref name="excluded"/> names (<see cref="Experiment.NotEvaluated"/>).</summary>
    public static int[] Pick(long seed, int round, int population, int sample, IReadOnlySet<int> excluded) =>
        excluded.Count == 0 ? Pick(seed, round, population, sample) : [.. Pick(seed, round, population, sample).Where(id => !excluded.Contains(id))];
}
