using System.Diagnostics;
using FedActors.Core.Aggregation;
using FedActors.Core.Training;
using FedActors.Core.Updates;

namespace FedActors.Core.Simulation;

/// <summary>
/// A whole federated run in a plain loop, no actors: the same Core calls the actor runtime makes, in the same
/// order. It is the bare-loop baseline of <c>fedactors bench overhead</c> and the reference that the actor run
/// must match round for round.
/// </summary>
public sealed class PlainSimulation(Experiment experiment, TorchWorkerPool pool)
{
    private readonly IAggregationRule _rule = experiment.Settings.CreateRule();

    public IEnumerable<RoundSummary> Run(ParameterVector? initial = null)
    {
        var global = initial ?? experiment.InitialWeights();
        var s = experiment.Settings;
        var health = s.Round.HealthOrDefault;
        for (int round = 1; round <= s.Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            var (state, next, accepted, notAggregated) = RunRound(round, global);
            var problem = RoundHealth.AfterAggregation(state, next, health);
            var (eval, clients) = problem is null && ShouldEvaluate(round, s.Rounds, s.Round.EvaluateEvery) ? EvaluateWithClients(next) : (null, null);
            double accuracy = eval?.Accuracy ?? double.NaN, loss = eval?.MeanLoss ?? double.NaN;
            problem ??= RoundHealth.AfterEvaluation(round, accuracy, loss);
            if (problem is not null) problem = RoundHealth.WithDataCheck(problem, experiment);
            yield return RoundSummary.From(state, accuracy, loss, clock.ElapsedMilliseconds, accepted, id => experiment.Collusion.Attacks(id, round))
                .WithEvaluation(eval?.AttackSuccess ?? double.NaN, clients) with { Health = problem, NotAggregated = notAggregated };
            if (problem is null) global = next;
            else if (health.OnFailure == HealthSettings.Stop) throw new RoundHealthException(round, problem);
            // keep-last-good: the next round starts from the model before this one
        }
    }

    public static bool ShouldEvaluate(int round, int rounds, int every) => round == rounds || (every > 0 && round % every == 0);

    /// <summary>Samples, trains the participants concurrently on the pool (one a call, or in batched calls), lets the colluders craft their updates,
    /// and aggregates in client-id order.</summary>
    public (RoundState State, ParameterVector Global, IReadOnlyCollection<int>? Accepted, string? NotAggregated) RunRound(int round, ParameterVector global)
    {
        var s = experiment.Settings;
        var selected = ClientSampler.Sample(s.Seed, round, s.Clients.Count, s.Clients.SampledPerRound);
        var state = RoundState.Start(round, selected);
        var delivering = new List<(int Id, double Sim)>();
        foreach (var id in selected)
        {
            var p = experiment.Participation(id, round);
            if (p.Delivers) delivering.Add((id, p.SimSeconds));
            else state = state.OnDropped(id, p.Reason!.Value, p.SimSeconds);
        }
        // one client a call, or (batch-clients > 1) the batchable clients in calls of the batch size, those with like step
        // counts together (ClientBatching.Calls)
        var batchable = delivering.ToLookup(d => experiment.Batchable(d.Id, round), d => d.Id);
        var calls = new List<(int[] Ids, Task<(TrainOutcome[], long)> Task)>();
        foreach (var chunk in experiment.Batching.Calls(batchable[true], experiment.TrainSteps))
            calls.Add((chunk, pool.Run(slot => Timed(() => experiment.TrainBatch(slot, global, chunk, round)))));
        foreach (var id in batchable[false])
            calls.Add(([id], pool.Run(slot => Timed(() => new[] { experiment.Train(slot, global, id, round) }))));
        var outcomes = new Dictionary<int, (TrainOutcome Outcome, long Ms)>();
        foreach (var (ids, task) in calls)
        {
            var (o, ms) = task.GetAwaiter().GetResult();
            for (int i = 0; i < ids.Length; i++) outcomes[ids[i]] = (o[i], ClientBatching.Share(ms, ids.Length, i));
        }
        var honest = delivering.Select(d =>
        {
            var (o, ms) = outcomes[d.Id];
            return (Update: new ClientUpdate(d.Id, o.Delta, o.NumSamples, o.MeanLoss), d.Sim, Ms: ms);
        }).ToList();
        var collusion = experiment.Collusion;
        var colluders = honest.Where(h => collusion.CollusionNeeded(h.Update.ClientId, round)).Select(h => h.Update).ToArray();
        ParameterVector? reference = null;
        if (colluders.Length > 0 && collusion.ReferenceEpochs(round, colluders.Length, s.Train.Epochs) is { } extra)
            reference = pool.Run(slot => experiment.TrainReference(slot, global, round, colluders.Select(c => c.ClientId).ToArray(), extra)).GetAwaiter().GetResult().Delta;
        var crafted = collusion.Craft(round, global, selected.Length, selected.Count(collusion.IsMalicious), colluders,
            honest.Where(h => !collusion.IsMalicious(h.Update.ClientId)).Select(h => h.Update).ToArray(), reference);
        foreach (var (u, sim, ms) in honest)
        {
            var submitted = crafted.TryGetValue(u.ClientId, out var c) ? u with { Delta = c } : u;
            // the plain loop keeps every update (it is the baseline), but refuses what a streaming server would refuse
            state = state.OnUpdate(submitted, global.Length, sim, ms, summable: _rule is IStreamingRule { Streams: true });
        }
        var updates = state.OrderedUpdates;
        var (next, result, notAggregated) = pool.Run(slot => ServerStep.Run(experiment, slot, _rule, global, round, selected.Length, updates)).GetAwaiter().GetResult();
        return (state, next, result?.Accepted, notAggregated);
    }

    private static (T, long) Timed<T>(Func<T> work)
    {
        var clock = Stopwatch.StartNew();
        var result = work();
        return (result, clock.ElapsedMilliseconds);
    }

    public EvalOutcome Evaluate(ParameterVector weights) => EvaluateWithClients(weights).Total;

    /// <summary>The global model on the test set, and each client's accuracy under the <c>clients</c> protocol.</summary>
    public (EvalOutcome Total, ClientEvaluation? Clients) EvaluateWithClients(ParameterVector weights)
    {
        var chunks = experiment.EvaluationChunks().ToArray();
        var tasks = chunks.Select(chunk => pool.Run(slot => experiment.EvaluateChunk(slot, weights, chunk))).ToArray();
        return EvaluationChunk.Combine(chunks, tasks.Select(t => t.GetAwaiter().GetResult()).ToArray());
    }
}
