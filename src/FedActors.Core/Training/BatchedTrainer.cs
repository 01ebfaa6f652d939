using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>One client's part of a batched training call: its training samples and its seeded shuffle.</summary>
public sealed record BatchedClient(IReadOnlyList<int> Indices, Rng Shuffle);

/// <summary>
/// Client-batched local training (issue #9): K clients' copies of the model trained together, one set of kernels per
/// step for all of them — each linear layer a batched matmul over [K, batch, in] × [K, in, out] with per-client weights,
/// biases and optimiser state. Every client takes the same steps as <see cref="LocalTrainer"/> (its own seeded batches,
/// mean cross-entropy per batch, PyTorch's SGD with weight decay, momentum and gradient clamp); a client whose batches ran
/// out, or whose last batch is partial, is masked (its padded rows weigh 0, its parameters and momentum stay). The loss is
/// the sum of the clients' losses, so each client's gradient is its own. Results equal sequential training to float
/// tolerance (tested: max |Δ| ≤ 1e-5), not bit for bit (batched matmuls add in another order).
/// </summary>
/// <remarks>Models made of flatten, linear and ReLU layers (the registry's <c>mlp</c>) can be batched; the convolutional
/// ones cannot yet (grouped convolutions would do it) and <see cref="WhyNot"/> says so. Data-poisoning clients are trained
/// sequentially by the caller. On this project's 2-core CPU the batched step is slower than K sequential ones (the MLP step
/// is compute-bound, and <c>bmm</c> runs these shapes less efficiently than <c>mm</c>: <c>fedactors bench device</c>); it is
/// the GPU path, where one client per kernel leaves the device idle.</remarks>
public static class BatchedTrainer
{
    private abstract record Op;
    private sealed record FlattenOp : Op;
    private sealed record ReluOp : Op;
    private sealed record LinearOp(int In, int Out, int WeightOffset, int BiasOffset) : Op;

    /// <summary>Null when the model can be batched, else why not.</summary>
    public static string? WhyNot(SplitModel model) => Plan(model, out var why) is null ? why : null;

    private static List<Op>? Plan(SplitModel model, out string? why)
    {
        var ops = new List<Op>();
        int offset = 0;
        why = null;
        foreach (var part in new[] { model.Body, model.Head })
        {
            var modules = part is TorchSharp.Modules.Sequential seq ? seq.children().ToArray() : [part];
            foreach (var m in modules)
                switch (m)
                {
                    case TorchSharp.Modules.Flatten: ops.Add(new FlattenOp()); break;
                    case TorchSharp.Modules.ReLU: ops.Add(new ReluOp()); break;
                    case TorchSharp.Modules.Linear { bias: not null } l:
                        int output = (int)l.weight!.shape[0], input = (int)l.weight.shape[1];
                        ops.Add(new LinearOp(input, output, offset, offset + input * output));
                        offset += input * output + output;
                        break;
                    default:
                        why = $"{model.GetName()} has a {m.GetType().Name} layer; batched training takes flatten, linear (with bias) and ReLU layers";
                        return null;
                }
        }
        return ops;
    }

    /// <summary>Trains every client from <paramref name="global"/> for <paramref name="options"/>' epochs, all together.</summary>
    /// <exception cref="NotSupportedException">A model <see cref="WhyNot"/> refuses.</exception>
    public static TrainOutcome[] Train(SplitModel model, ParameterVector global, Dataset data, IReadOnlyList<BatchedClient> clients, TrainOptions options)
    {
        var ops = Plan(model, out var why) ?? throw new NotSupportedException(why);
        int k = clients.Count, b = options.BatchSize;
        // each client's batches, exactly as LocalTrainer draws them (copied: Batches reuses its order array across epochs)
        var batches = clients.Select(c => Batches.Shuffled(c.Indices, options, c.Shuffle).Select(s => s.ToArray()).ToArray()).ToArray();
        int steps = batches.Max(x => x.Length);
        var g = global.Values;
        using var scope = torch.NewDisposeScope();
        // per-client parameters: W as [K, in, out] (so x·W is a batched matmul), b as [K, 1, out]
        var linears = ops.OfType<LinearOp>().ToArray();
        var weights = linears.Select(l => torch.tensor(g[l.WeightOffset..(l.WeightOffset + l.In * l.Out)]).view(1, l.Out, l.In).transpose(1, 2)
            .expand(k, l.In, l.Out).contiguous().requires_grad_()).ToArray();
        var biases = linears.Select(l => torch.tensor(g[l.BiasOffset..(l.BiasOffset + l.Out)]).view(1, 1, l.Out).expand(k, 1, l.Out).contiguous().requires_grad_()).ToArray();
        var parameters = weights.Zip(biases).SelectMany(p => new[] { p.First, p.Second }).ToArray();
        var momentum = new Tensor?[parameters.Length];
        using var negativeLr = (-options.LearningRate).ToScalar();
        using var weightDecay = options.WeightDecay.ToScalar();
        using var momentumFactor = options.Momentum.ToScalar();
        using var clampLow = (-options.GradientClamp).ToScalar();
        using var clampHigh = options.GradientClamp.ToScalar();
        var lossSums = new double[k];
        var stepCounts = new int[k];
        var active = new float[k];
        for (int s = 0; s < steps; s++)
        {
            using var stepScope = torch.NewDisposeScope();
            // only the clients that still have a batch take part in this step's kernels (client sizes are skewed: most
            // finish long before the largest), gathered out of the stacked parameters; the others' rows get no gradient
            var taking = Enumerable.Range(0, k).Where(c => s < batches[c].Length).ToArray();
            int a = taking.Length;
            var idx = new int[a * b];
            var rowWeights = new float[a * b];
            for (int r = 0; r < a; r++)
            {
                var batch = batches[taking[r]][s];
                for (int j = 0; j < b; j++)
                {
                    // padded rows repeat one of the batch's samples and weigh 0
                    idx[r * b + j] = batch[Math.Min(j, batch.Length - 1)];
                    if (j < batch.Length) rowWeights[r * b + j] = 1f / batch.Length;
                }
            }
            for (int c = 0; c < k; c++) active[c] = s < batches[c].Length ? 1 : 0;
            var rows = a == k ? null : torch.tensor(taking.Select(c => (long)c).ToArray());
            Tensor Taking(Tensor stacked) => rows is null ? stacked : stacked.index_select(0, rows);
            var (x, y) = data.Batch(idx);
            var h = x;
            int layer = 0;
            foreach (var op in ops)
            {
                h = op switch
                {
                    FlattenOp => h.reshape(a, b, -1),
                    ReluOp => h.relu(),
                    LinearOp => h.reshape(a, b, -1).bmm(Taking(weights[layer])).Plus(Taking(biases[layer])),
                    _ => throw new InvalidOperationException(),
                };
                if (op is LinearOp) layer++;
            }
            var perRow = nn.functional.cross_entropy(h.reshape(a * b, -1), y, reduction: nn.Reduction.None) * torch.tensor(rowWeights);
            var perClient = perRow.view(a, b).sum(1); // each client's mean batch loss
            foreach (var p in parameters) p.grad?.zero_();
            perClient.sum().backward();
            var losses = perClient.detach().data<float>().ToArray();
            for (int r = 0; r < a; r++) { lossSums[taking[r]] += losses[r]; stepCounts[taking[r]]++; }
            using var noGrad = torch.no_grad();
            var mask = torch.tensor(active).view(k, 1, 1);
            var stepping = torch.tensor(active.Select(v => v > 0).ToArray()).view(k, 1, 1);
            for (int i = 0; i < parameters.Length; i++)
            {
                var p = parameters[i];
                var grad = p.grad!;
                if (options.GradientClamp > 0) grad.clamp_(clampLow, clampHigh);
                var d = options.WeightDecay != 0 ? grad.add(p, weightDecay) : grad;
                if (options.Momentum != 0)
                {
                    // PyTorch's SGD: the buffer starts as the first step's d, then buf = m·buf + d; a masked client's stays
                    var next = momentum[i] is null ? d : momentum[i]!.mul(momentumFactor).Plus(d);
                    var kept = momentum[i] is null ? next * mask : torch.where(stepping.expand_as(next), next, momentum[i]!);
                    momentum[i]?.Dispose();
                    momentum[i] = kept.detach().DetachFromDisposeScope();
                    d = momentum[i]!;
                }
                p.add_(d * mask, negativeLr);
            }
        }
        foreach (var m in momentum) m?.Dispose();

        // Δ per client in the model's parameter order: each layer's weight [out, in] row-major, then its bias
        var outcomes = new TrainOutcome[k];
        static float[] Floats(Tensor t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes).ToArray(); // one block copy
        var w = weights.Select(t => Floats(t.detach().transpose(1, 2).contiguous())).ToArray();
        var bs = biases.Select(t => Floats(t.detach().contiguous())).ToArray();
        for (int c = 0; c < k; c++)
        {
            var delta = new float[g.Length];
            for (int l = 0; l < linears.Length; l++)
            {
                var (input, output) = (linears[l].In, linears[l].Out);
                Array.Copy(w[l], c * input * output, delta, linears[l].WeightOffset, input * output);
                Array.Copy(bs[l], c * output, delta, linears[l].BiasOffset, output);
            }
            for (int i = 0; i < delta.Length; i++) delta[i] -= g[i];
            outcomes[c] = new TrainOutcome(new ParameterVector(delta), clients[c].Indices.Count,
                stepCounts[c] > 0 ? lossSums[c] / stepCounts[c] : double.NaN, stepCounts[c]);
        }
        return outcomes;
    }
}
