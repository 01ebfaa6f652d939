using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>Correct predictions and summed cross-entropy over some samples. Outcomes add up exactly (integers and
/// a loss sum), so partial evaluations can be combined in any fixed order.</summary>
/// <param name="BackdoorHits">Triggered test samples (of labels other than the target) classified as the target.</param>
public sealed record EvalOutcome(long Correct, double LossSum, long Count, long BackdoorHits = 0, long BackdoorCount = 0)
{
    public static readonly EvalOutcome Empty = new(0, 0, 0);
    public double Accuracy => Count == 0 ? double.NaN : (double)Correct / Count;
    public double MeanLoss => Count == 0 ? double.NaN : LossSum / Count;
    /// <summary>Attack success rate of a backdoor; NaN without one.</summary>
    public double AttackSuccess => BackdoorCount == 0 ? double.NaN : (double)BackdoorHits / BackdoorCount;
    public EvalOutcome Plus(EvalOutcome o) =>
        new(Correct + o.Correct, LossSum + o.LossSum, Count + o.Count, BackdoorHits + o.BackdoorHits, BackdoorCount + o.BackdoorCount);
}

/// <summary>Evaluates weights on samples under <c>no_grad</c> and <c>eval()</c>.</summary>
public static class Evaluator
{
    /// <param name="forward">The prediction path; null = the model's own forward (DBE adds its PRBM here).</param>
    public static EvalOutcome Evaluate(SplitModel model, ParameterVector weights, Dataset data, IReadOnlyList<int> indices, int batchSize = 500,
        Func<Tensor, Tensor>? forward = null)
    {
        weights.CopyTo(model);
        model.eval();
        forward ??= model.forward;
        using var noGrad = torch.no_grad();
        var idx = indices as int[] ?? indices.ToArray();
        long correct = 0;
        double lossSum = 0;
        for (int start = 0; start < idx.Length; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = data.Batch(idx.AsSpan(start, Math.Min(batchSize, idx.Length - start)));
            var logits = forward(x);
            lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(y).sum().item<long>();
        }
        return new EvalOutcome(correct, lossSum, idx.Length);
    }

    /// <summary>The same weights on several groups of samples (clients' test splits) in shared batches: one forward pass per
    /// <paramref name="batchSize"/> samples whoever they belong to, then each sample's loss and hit credited to its group.
    /// Evaluating 10,000 small clients one by one is 10,000 tiny passes; this is as many passes as pooled evaluation.</summary>
    /// <returns>One outcome per group; each group's loss is summed in its samples' order.</returns>
    public static EvalOutcome[] EvaluateGroups(SplitModel model, ParameterVector weights, Dataset data, IReadOnlyList<IReadOnlyList<int>> groups,
        int batchSize = 500)
    {
        weights.CopyTo(model);
        model.eval();
        using var noGrad = torch.no_grad();
        int total = groups.Sum(g => g.Count);
        var idx = new int[total];
        var owner = new int[total];
        for (int g = 0, k = 0; g < groups.Count; g++)
            foreach (var i in groups[g]) { idx[k] = i; owner[k++] = g; }
        var correct = new long[groups.Count];
        var loss = new double[groups.Count];
        for (int start = 0; start < total; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(batchSize, total - start);
            var (x, y) = data.Batch(idx.AsSpan(start, n));
            var logits = model.forward(x);
            var losses = nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.None).cpu().data<float>().ToArray(); // host reads
            var hits = logits.argmax(1).eq(y).cpu().data<bool>().ToArray();
            for (int j = 0; j < n; j++)
            {
                loss[owner[start + j]] += losses[j];
                if (hits[j]) correct[owner[start + j]]++;
            }
        }
        return [.. groups.Select((g, i) => new EvalOutcome(correct[i], loss[i], g.Count))];
    }

    /// <summary>Counts triggered samples (labels other than the target) that the model classifies as the target.</summary>
    public static EvalOutcome Backdoor(SplitModel model, Dataset data, IReadOnlyList<int> indices, Attacks.IBackdoor backdoor, int batchSize = 500) =>
        BackdoorGroups(model, data, [indices], backdoor, batchSize)[0];

    /// <summary><see cref="Backdoor"/> over several groups of samples (clients' test splits) in shared batches, as
    /// <see cref="EvaluateGroups"/>: the same passes as one pooled count, each hit credited to its sample's group.</summary>
    public static EvalOutcome[] BackdoorGroups(SplitModel model, Dataset data, IReadOnlyList<IReadOnlyList<int>> groups, Attacks.IBackdoor backdoor,
        int batchSize = 500)
    {
        model.eval();
        using var noGrad = torch.no_grad();
        var idx = new List<int>();
        var owner = new List<int>();
        var counts = new long[groups.Count];
        for (int g = 0; g < groups.Count; g++)
            foreach (var i in groups[g])
                if (data.Labels[i] != backdoor.TargetLabel) { idx.Add(i); owner.Add(g); counts[g]++; }
        using var target = ((long)backdoor.TargetLabel).ToScalar(); // owned: see TensorMath
        var hits = new long[groups.Count];
        var all = idx.ToArray();
        for (int start = 0; start < all.Length; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(batchSize, all.Length - start);
            var (x, _) = data.Batch(all.AsSpan(start, n));
            var hit = model.forward(backdoor.Stamp(x)).argmax(1).eq(target).cpu().data<bool>().ToArray(); // host reads
            for (int j = 0; j < n; j++) if (hit[j]) hits[owner[start + j]]++;
        }
        return [.. counts.Select((c, g) => new EvalOutcome(0, 0, 0, hits[g], c))];
    }
}
