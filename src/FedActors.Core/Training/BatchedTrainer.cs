using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>One client's part of a batched training call: its training samples, its seeded shuffle, and the vector its
/// training starts from (null: the call's global model; a personalised client's own model otherwise).</summary>
public sealed record BatchedClient(IReadOnlyList<int> Indices, Rng Shuffle, ParameterVector? Start = null);

/// <summary>
/// Client-batched local training (issue #9): K clients' copies of the model trained together, one set of kernels per
/// step for all of them — each convolution one grouped convolution (groups = K, client r's channels side by side), each
/// linear layer a batched matmul over [K, batch, in] × [K, in, out], with per-client weights, biases and optimiser state.
/// Every client takes the same steps as <see cref="LocalTrainer"/> (its own seeded batches, mean cross-entropy per batch,
/// PyTorch's SGD with weight decay, momentum and gradient clamp). A partial batch is padded to the batch size with rows
/// that weigh 0; a client whose batches ran out takes part with rows that all weigh 0 and is masked (its parameters and
/// momentum stay), so every call's kernels have shapes set by K alone. The loss is the sum of the clients'
/// losses, so each client's gradient is its own. Results equal sequential training to float tolerance (tested for every
/// registered model: max |Δ| ≤ 1e-5), not bit for bit (batched kernels add in another order).
/// </summary>
/// <remarks>Takes convolutions, ReLU and max pooling before a flatten, then linear layers and ReLU: every model in the
/// registry. <see cref="WhyNot"/> names a layer it cannot take (batch normalisation mixes a batch's samples, for one).
/// Data-poisoning clients are trained sequentially by the caller. On this project's 2-core CPU the batched step is slower
/// than K sequential ones (MLP 0.16–0.61×, FedAvgCNN 0.35–0.50×: libtorch's CPU <c>bmm</c> and grouped convolutions run
/// these shapes less efficiently than one client's <c>mm</c> and convolution; <c>fedactors bench device</c>); it is the
/// GPU path, where one client per kernel leaves the device idle.</remarks>
public static class BatchedTrainer
{
    private abstract record Op;
    private sealed record FlattenOp : Op;
    private sealed record ReluOp : Op;
    /// <summary>A layer that acts on each channel of each sample alone (max pooling): run as it is on the grouped layout.</summary>
    private sealed record PerChannelOp(nn.Module<Tensor, Tensor> Module) : Op;
    private abstract record ParameterOp(int WeightOffset, int WeightSize, int BiasOffset, int BiasSize) : Op
    {
        /// <summary>The weight's shape in the model (PyTorch's layout), without the client dimension.</summary>
        public abstract long[] WeightShape { get; }
    }
    private sealed record LinearOp(int In, int Out, int WeightOffset, int BiasOffset) : ParameterOp(WeightOffset, In * Out, BiasOffset, Out)
    {
        public override long[] WeightShape => [Out, In];
    }
    private sealed record ConvOp(int In, int Out, long[] Kernel, long[] Stride, long[] Padding, long[] Dilation, int WeightOffset, int BiasOffset)
        : ParameterOp(WeightOffset, (int)(Out * In * Kernel[0] * Kernel[1]), BiasOffset, Out)
    {
        public override long[] WeightShape => [Out, In, Kernel[0], Kernel[1]];
    }

    /// <summary>Null when the model can be batched, else why not.</summary>
    public static string? WhyNot(SplitModel model) => Plan(model, out var why) is null ? why : null;

    private static List<Op>? Plan(SplitModel model, out string? why)
    {
        var ops = new List<Op>();
        int offset = 0;
        why = null;
        bool flat = false;
        foreach (var part in new[] { model.Body, model.Head })
        {
            var modules = part is TorchSharp.Modules.Sequential seq ? seq.children().ToArray() : [part];
            foreach (var m in modules)
                switch (m)
                {
                    case TorchSharp.Modules.Flatten: ops.Add(new FlattenOp()); flat = true; break;
                    case TorchSharp.Modules.ReLU: ops.Add(new ReluOp()); break;
                    case TorchSharp.Modules.MaxPool2d pool when !flat: ops.Add(new PerChannelOp(pool)); break;
                    case TorchSharp.Modules.Linear { bias: not null } l when flat || ops.Count == 0:
                        int output = (int)l.weight!.shape[0], input = (int)l.weight.shape[1];
                        ops.Add(new LinearOp(input, output, offset, offset + input * output));
                        offset += input * output + output;
                        flat = true;
                        break;
                    case TorchSharp.Modules.Conv2d { bias: not null } c when !flat && c.groups == 1 && c.padding_mode == PaddingModes.Zeros && c.padding is not null:
                        var shape = c.weight!.shape;
                        var conv = new ConvOp((int)shape[1], (int)shape[0], [shape[2], shape[3]], c.stride, c.padding, c.dilation, offset, 0);
                        conv = conv with { BiasOffset = offset + conv.WeightSize };
                        ops.Add(conv);
                        offset += conv.WeightSize + conv.BiasSize;
                        break;
                    default:
                        why = $"{model.GetName()} has a {m.GetType().Name} layer where batched training cannot take it; it takes convolutions "
                            + "(2-D, bias, one group, zero or explicit padding), ReLU and max pooling before a flatten, then linear layers (with bias) and ReLU";
                        return null;
                }
        }
        if (!flat)
        {
            why = $"{model.GetName()} ends without a flatten or linear layer; batched training needs one before the loss";
            return null;
        }
        long parameters = model.parameters().Sum(p => p.numel());
        if (offset != parameters)
        {
            why = $"{model.GetName()} has {parameters} parameters, of which batched training would train {offset}";
            return null;
        }
        return ops;
    }

    /// <summary>Trains every client from <paramref name="global"/> (or its own <see cref="BatchedClient.Start"/>) for
    /// <paramref name="options"/>' epochs, all together; each outcome's Δ is over the client's start.</summary>
    /// <exception cref="NotSupportedException">A model <see cref="WhyNot"/> refuses.</exception>
    /// <param name="stepChunk">How many steps' sample rows go to the device at once (memory against copies; no effect on the result).</param>
    public static TrainOutcome[] Train(SplitModel model, ParameterVector global, Dataset data, IReadOnlyList<BatchedClient> clients, TrainOptions options,
        int stepChunk = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepChunk, 1);
        var ops = Plan(model, out var why) ?? throw new NotSupportedException(why);
        int k = clients.Count, b = options.BatchSize;
        // each client's batches, exactly as LocalTrainer draws them (copied: Batches reuses its order array across epochs)
        var batches = clients.Select(c => Batches.Shuffled(c.Indices, options, c.Shuffle).Select(s => s.ToArray()).ToArray()).ToArray();
        int steps = batches.Max(x => x.Length);
        int firstSample = clients.SelectMany(c => c.Indices).FirstOrDefault();
        var starts = clients.Select(c => (c.Start ?? global).Values).ToArray();
        if (starts.Any(v => v.Length != global.Length)) throw new ArgumentException("every client's start vector has the global model's length");
        var device = data.Features.device; // the clients' copies live where the data does (CPU, or an accelerator)
        using var scope = torch.NewDisposeScope();
        // per-client parameters, stacked on a first dimension of K: a linear layer's W as [K, in, out] (so x·W is a batched
        // matmul) and b as [K, 1, out]; a convolution's W as [K, out, in, kh, kw] and b as [K, out] (one grouped convolution)
        var layers = ops.OfType<ParameterOp>().ToArray();
        // the clients' starts on the device, kept for their Δ: the global model once ([1, n], expanded to K there) when every
        // client starts from it, else one row a client ([K, n])
        int length = global.Length;
        var startBlock = clients.All(c => c.Start is null || ReferenceEquals(c.Start, global))
            ? torch.tensor(global.Values, [1, length], device: device)
            : torch.stack(starts.Select(v => torch.tensor(v, device: device)).ToArray());
        Tensor Stack(int from, long[] shape)
        {
            // a copy always: a view of the start block (one client's narrow slice is one) would train the start itself
            var copy = torch.empty([k, .. shape], device: device);
            copy.copy_(startBlock.narrow(1, from, shape.Aggregate(1L, (x, y) => x * y)).reshape([startBlock.shape[0], .. shape]).expand([k, .. shape]));
            return copy;
        }
        var weights = layers.Select(l => (l is LinearOp lin ? Stack(l.WeightOffset, l.WeightShape).transpose(1, 2).contiguous()
            : Stack(l.WeightOffset, l.WeightShape)).requires_grad_()).ToArray();
        var biases = layers.Select(l => (l is LinearOp ? Stack(l.BiasOffset, [1, l.BiasSize]) : Stack(l.BiasOffset, [l.BiasSize])).requires_grad_()).ToArray();
        var parameters = weights.Zip(biases).SelectMany(p => new[] { p.First, p.Second }).ToArray();
        var momentum = new Tensor?[parameters.Length];
        using var negativeLr = (-options.LearningRate).ToScalar();
        using var weightDecay = options.WeightDecay.ToScalar();
        using var momentumFactor = options.Momentum.ToScalar();
        using var clampLow = (-options.GradientClamp).ToScalar();
        using var clampHigh = options.GradientClamp.ToScalar();
        // the steps' sample rows, row weights and active clients, made on the host and moved to the device a chunk of steps
        // at a time (three copies a chunk, bounded memory): the steps then run without a transfer or a sync (the losses add
        // up on the device, read once at the end)
        int chunk = stepChunk;
        var idx = new long[Math.Min(steps, chunk) * k * b];
        var rowWeights = new float[idx.Length];
        var active = new float[steps * k];
        Tensor? stepIndices = null, stepRowWeights = null, stepActive = null, stepStepping = null;
        void Upload(int first)
        {
            int n = Math.Min(chunk, steps - first);
            Array.Clear(rowWeights);
            for (int s = first; s < first + n; s++)
                for (int c = 0; c < k; c++)
                {
                    // a client whose batches ran out takes part with rows that weigh 0 (no gradient) and is masked in the
                    // update; padded rows repeat one of the batch's samples (an idle client's, the call's first sample)
                    var batch = s < batches[c].Length ? batches[c][s] : null;
                    active[s * k + c] = batch is null ? 0 : 1;
                    for (int j = 0; j < b; j++)
                    {
                        int row = ((s - first) * k + c) * b + j;
                        idx[row] = batch is null ? firstSample : batch[Math.Min(j, batch.Length - 1)];
                        if (batch is not null && j < batch.Length) rowWeights[row] = 1f / batch.Length;
                    }
                }
            foreach (var t in new[] { stepIndices, stepRowWeights, stepActive, stepStepping }) t?.Dispose();
            stepIndices = torch.tensor(idx.AsSpan(0, n * k * b).ToArray(), [n, k * b], device: device);
            stepRowWeights = torch.tensor(rowWeights.AsSpan(0, n * k * b).ToArray(), [n, k * b], device: device);
            var flags = active.AsSpan(first * k, n * k).ToArray();
            stepActive = torch.tensor(flags, [n, k], device: device);
            stepStepping = torch.tensor(flags.Select(v => v > 0).ToArray(), [n, k], device: device);
        }
        var lossSums = torch.zeros(k, dtype: ScalarType.Float64, device: device);
        try
        {
            for (int s = 0; s < steps; s++)
            {
                if (s % chunk == 0) Upload(s);
                using var stepScope = torch.NewDisposeScope();
                // every step runs on all K clients, whether or not a client still has a batch: the kernels' shapes then
                // depend on K alone, and a client's result on nothing but its own data: bit for bit the same whichever
                // clients share its call and in whichever position (tested), so a worker may batch tasks in the order they arrive
                var (x, y) = data.Batch(stepIndices![s % chunk]);
                var h = Forward(ops, x, k, b, weights, biases);
                var perRow = nn.functional.cross_entropy(h.reshape(k * b, -1), y, reduction: nn.Reduction.None) * stepRowWeights![s % chunk];
                var perClient = perRow.view(k, b).sum(1); // each client's mean batch loss (0 for an idle client)
                foreach (var p in parameters) p.grad?.zero_();
                perClient.sum().backward();
                using var noGrad = torch.no_grad();
                var stepping = stepStepping![s % chunk];
                lossSums.PlusInPlace(torch.where(stepping, perClient.detach(), torch.zeros_like(perClient)).to(ScalarType.Float64));
                var activeFlags = stepActive![s % chunk];
                // most steps have every client training: then no mask is applied (the same bits as with a mask of ones),
                // which spares two parameter-sized temporaries a step
                bool allActive = active.AsSpan(s * k, k).IndexOf(0f) < 0;
                for (int i = 0; i < parameters.Length; i++)
                {
                    var p = parameters[i];
                    long[] perClientShape = [k, .. Enumerable.Repeat(1L, (int)p.dim() - 1)];
                    var mask = activeFlags.view(perClientShape);
                    var grad = p.grad!;
                    if (options.GradientClamp > 0) grad.clamp_(clampLow, clampHigh);
                    var d = options.WeightDecay != 0 ? grad.add(p, weightDecay) : grad;
                    if (options.Momentum != 0)
                    {
                        // PyTorch's SGD: the buffer starts as the first step's d (a copy: d may be the gradient, zeroed next
                        // step), then buf = m·buf + d; a masked client's stays
                        if (momentum[i] is null) momentum[i] = (allActive ? d.clone() : d * mask).detach().DetachFromDisposeScope();
                        else if (allActive) momentum[i]!.mul_(momentumFactor).PlusInPlace(d);
                        else
                        {
                            var kept = torch.where(stepping.view(perClientShape).expand_as(d), momentum[i]!.mul(momentumFactor).Plus(d), momentum[i]!);
                            momentum[i]!.Dispose();
                            momentum[i] = kept.detach().DetachFromDisposeScope();
                        }
                        d = momentum[i]!;
                    }
                    p.add_(allActive ? d : d * mask, negativeLr);
                }
            }
        }
        finally
        {
            // detached from the scopes: freed here, also when a step throws (an accelerator out of memory)
            foreach (var m in momentum) m?.Dispose();
        }

        // Δ per client in the model's parameter order (each layer's weight in PyTorch's layout, then its bias), made on the
        // device as one [K, n] block and brought back a client's row at a time
        var outcomes = new TrainOutcome[k];
        var losses = lossSums.cpu().data<double>().ToArray();
        using var noGradient = torch.no_grad();
        var trained = torch.cat(layers.SelectMany((l, i) => new[]
            { (l is LinearOp ? weights[i].detach().transpose(1, 2) : weights[i].detach()).reshape(k, -1), biases[i].detach().reshape(k, -1) }).ToArray(), 1);
        var deltas = trained.Minus(startBlock).contiguous();
        for (int c = 0; c < k; c++)
        {
            using var row = deltas[c];
            using var host = row.device_type == DeviceType.CPU ? null : row.cpu();
            var delta = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((host ?? row).bytes).ToArray(); // one block copy
            int stepCount = batches[c].Length;
            outcomes[c] = new TrainOutcome(new ParameterVector(delta), clients[c].Indices.Count,
                stepCount > 0 ? losses[c] / stepCount : double.NaN, stepCount);
        }
        return outcomes;
    }

    /// <summary>The forward pass of <paramref name="a"/> clients' batches of <paramref name="b"/> rows (x: [a·b, …], client
    /// after client). Before the flatten the activations are in the grouped layout [b, a·C, H, W] — client r's channels
    /// are r·C … r·C + C − 1 — so a convolution of all clients is one convolution with a groups; from the flatten on they
    /// are stacked, [a, b, features], for the batched matmuls.</summary>
    private static Tensor Forward(List<Op> ops, Tensor x, int a, int b, Tensor[] weights, Tensor[] biases)
    {
        var h = x;
        bool grouped = false;
        int layer = 0;
        foreach (var op in ops)
        {
            if (op is ConvOp && !grouped)
            {
                long[] sample = h.shape[1..];
                h = h.view([a, b, .. sample]).transpose(0, 1).reshape([b, a * sample[0], .. sample[1..]]);
                grouped = true;
            }
            h = op switch
            {
                FlattenOp when grouped => h.reshape(b, a, -1).transpose(0, 1),
                FlattenOp => h.reshape(a, b, -1),
                ReluOp => h.relu(),
                PerChannelOp p => p.Module.call(h),
                LinearOp => h.reshape(a, b, -1).bmm(weights[layer]).Plus(biases[layer]),
                ConvOp c => nn.functional.conv2d(h, weights[layer].reshape([a * c.Out, c.In, .. c.Kernel]), biases[layer].reshape(a * c.Out),
                    strides: c.Stride, padding: c.Padding, dilation: c.Dilation, groups: a),
                _ => throw new InvalidOperationException(),
            };
            if (op is FlattenOp) grouped = false;
            if (op is ParameterOp) layer++;
        }
        return h;
    }
}
