using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Aggregation;

/// <param name="MaskLearningRate">lr_m of plain SGD on the mask logits (1e7 for CNN/LR in the code).</param>
/// <param name="MaskGradientClamp">Every mask-gradient element is clamped to ±this before the step (1e-7), so a step moves a
/// logit by at most lr_m × clamp.</param>
/// <param name="MaxIterations">Mask-training iterations (20); the loss is checked at iterations 0 and 10 and training
/// stops when it fell by less than <paramref name="EarlyStopDelta"/> since the last check (spec A6).</param>
/// <param name="Threshold">τ: a mask entry is 1 when σ(M) &gt; τ (0.5).</param>
/// <param name="NoAttackCheck">Spec §1.7 A3, our choice: <c>separation</c> keeps everyone unless the two mixture components
/// are well apart — Ashman's D = √2·|μ₁ − μ₂| / √(s₁² + s₂²) along the line through the two means must reach
/// <paramref name="MinSeparation"/>; <c>bic</c> keeps everyone when one Gaussian fits the 2-D points at least as well
/// (BIC) as two; <c>off</c> always splits, as the authors' code does. Measured on FMNIST with the bias-0.5 split and no
/// attack, <c>bic</c> still split the non-IID benign clients in most rounds.</param>
/// <param name="MinSeparation">Ashman's D needed to split (for <c>separation</c>). Measured on FMNIST (bias 0.5, 100 clients,
/// rounds 1–4): 3.6–4.5 without attack, 11.9–16.1 under Min-Max; the default 6 lies between.</param>
/// <param name="RootScale"><c>raw</c>: the root model is w + Δ₀ as trained (the authors' code); <c>client-mean</c>: Δ₀ is
/// first rescaled to the clients' mean update norm (our deviation: 100 root samples give ~4 steps against a client's
/// ~19, so the raw root model sits near the global model, where a shrunken Min-Max update also sits).</param>
/// <param name="BenignCluster"><c>root</c>: the component holding the root model's point is benign (the authors' code);
/// <c>largest</c>: the larger component is benign (our deviation, assumes f &lt; n/2). Measured on FMNIST under Min-Max:
/// the root's mask vector lies nearer the colluders' identical averaged update than the diverse non-IID benign ones, so
/// <c>root</c> can pick the wrong side (README, fidelity).</param>
/// <param name="StepOrder"><c>step-then-check</c>: each iteration takes its mask step and then makes the early-stop test, as
/// the authors' code does (<c>optimizer.step()</c> before the check: a stop at iteration 10 leaves 11 steps);
/// <c>check-then-step</c>: the test comes first and a stop skips that iteration's step (10), this project's earlier order.</param>
/// <remarks>No defaults here: they live in reference.conf (<c>fedactors.defence.skymask</c>), the one home of defaults.</remarks>
public sealed record SkyMaskOptions(double MaskLearningRate, double MaskGradientClamp, int MaxIterations,
    double EarlyStopDelta, double Threshold, string NoAttackCheck, string BenignCluster,
    double MinSeparation, string RootScale, string StepOrder);

/// <summary>
/// SkyMask — Yan et al., "SkyMask: Attack-agnostic Robust Federated Learning with Fine-grained Learnable Masks",
/// ECCV 2024. The server mixes the n client models and its root model W₀ parameter by parameter with learnable
/// masks, W̃ = Σ σ(Mᵢ)·Wᵢ / Σ σ(Mᵢ) (masks start at 1), trains the masks on its root set, binarises them at τ, projects
/// the n + 1 mask vectors to 2-D with PCA, fits a 2-component Gaussian mixture and keeps the clients in the root
/// model's component; the aggregate is the plain mean of their updates (η_g is the server learning rate).
/// </summary>
/// <remarks>
/// Decisions on the spec's ambiguities: A1 client models are w + Δᵢ (their real local models); A2 log-softmax is over
/// classes (cross-entropy); A3 see <see cref="SkyMaskOptions.NoAttackCheck"/>; A4 the root model is mixed and anchors the
/// benign cluster, and is left out of the mean; A5 malicious clients replace their own updates; A7 our CNN has no BN.
/// The mask gradient is computed exactly by the chain rule through W̃ (∂W̃/∂Mᵢ = σ'(Mᵢ)(Wᵢ − W̃)/Σσ), so the model's
/// own forward/backward is reused instead of a masked copy of every layer.
/// </remarks>
public sealed class SkyMask(SkyMaskOptions options) : IAggregationRule
{
    public bool NeedsRootUpdate => true;

    /// <summary>Mask steps the last <see cref="TrainMasks"/> took.</summary>
    internal int LastSteps { get; private set; }

    public AggregationResult Aggregate(RoundContext context, IReadOnlyList<ClientUpdate> updates)
    {
        var server = context.Server ?? throw new InvalidOperationException("skymask runs on a device worker with the server's model and root set");
        var root = context.RootUpdate ?? throw new InvalidOperationException("skymask needs the server's root update");
        if (options.RootScale == "client-mean")
        {
            double rootNorm = VectorMath.Norm(root.Values), target = updates.Average(u => VectorMath.Norm(u.Delta.Values));
            if (rootNorm > 0) root = new ParameterVector(root.Values.Select(v => (float)(v * target / rootNorm)).ToArray());
        }
        var gram = TrainMasks(context, updates.Select(u => u.Delta).Append(root).ToArray(), server);
        var verdict = Classify(gram, context);
        var accepted = updates.Where((_, i) => verdict.Keep[i]).ToArray();
        if (accepted.Length == 0) accepted = [.. updates]; // cannot happen with the root anchoring a cluster; be safe
        return new AggregationResult(VectorMath.Mean(accepted.Select(u => u.Delta.Values).ToArray()).ToVector(), [.. accepted.Select(u => u.ClientId)])
        {
            // the Pill issue asks whether a pill passes because of its mask or because the no-attack gate kept everyone
            Diagnostics = new Dictionary<string, double>
            {
                ["separation"] = verdict.Separation,
                ["split"] = verdict.Split ? 1 : 0,
                ["mask_steps"] = LastSteps,
                ["kept"] = accepted.Length,
            },
        };
    }

    /// <summary>The clustering's outcome: keep flags for the n clients, Ashman's D of the two mixture components (whatever
    /// the no-attack check), and whether the check let the split stand (false: everyone kept as "no attack").</summary>
    internal sealed record Verdict(bool[] Keep, double Separation, bool Split);

    /// <summary>Trains the mask logits (one per parameter of each of the n + 1 models), binarises them and returns the
    /// Gram matrix of the binary mask vectors (entry i, j = parameters kept by both).</summary>
    internal double[,] TrainMasks(RoundContext context, ParameterVector[] deltas, ServerResources server)
    {
        var model = server.Model;
        var parameters = model.parameters().ToArray();
        int d = context.Global.Length, m = deltas.Length;
        using var scope = torch.NewDisposeScope();
        var device = model.Device; // the worker's: its data and the [m, d] blocks below live there
        using var global = torch.tensor(context.Global.Values, device: device);
        var w = torch.stack(deltas.Select(x => torch.tensor(x.Values, device: device).Plus(global)).ToArray()); // [m, d] frozen models
        var logits = torch.ones(m, d, device: device);
        // Owned scalars: an implicit Scalar can be finalised while native code still reads it (see Sgd).
        using var clampLow = (-options.MaskGradientClamp).ToScalar();
        using var clampHigh = options.MaskGradientClamp.ToScalar();
        using var maskLr = options.MaskLearningRate.ToScalar();
        var rng = SeedStream.Rng(context.Seed, context.Round, -1, Purpose.Defence);
        double lastChecked = 1e4;
        int steps = 0;
        model.train();
        for (int it = 0; it < options.MaxIterations; it++)
        {
            using var step = torch.NewDisposeScope();
            var s = logits.sigmoid();
            var total = s.sum(dim: 0);
            var mixed = (s * w).sum(dim: 0) / total; // W̃, [d]
            using (torch.no_grad())
            {
                long offset = 0;
                foreach (var p in parameters)
                {
                    p.copy_(mixed.narrow(0, offset, p.numel()).view_as(p));
                    offset += p.numel();
                }
            }
            model.zero_grad();
            var order = rng.Permutation(server.RootIndices.Length).Select(i => server.RootIndices[i]).ToArray();
            var (x, y) = server.Data.Batch(order);
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            loss.backward();
            double lossValue = loss.item<float>();
            bool stop = false;
            if (it == 0 || it == 10)
            {
                stop = lastChecked - lossValue < options.EarlyStopDelta;
                if (!stop) lastChecked = lossValue;
            }
            if (stop && options.StepOrder == "check-then-step") break;
            var grad = torch.cat(parameters.Select(p => p.grad!.flatten()).ToArray()); // ∂L/∂W̃
            var maskGrad = grad.unsqueeze(0) * s.Minus(s * s) * w.Minus(mixed.unsqueeze(0)) / total.unsqueeze(0); // σ' = s(1 − s)
            maskGrad.clamp_(clampLow, clampHigh);
            logits.MinusInPlace(maskGrad * maskLr);
            steps++;
            if (stop) break;
        }
        LastSteps = steps;
        model.zero_grad();
        using var logitThreshold = Math.Log(options.Threshold / (1 - options.Threshold)).ToScalar(); // σ(M) > τ ⇔ M > logit(τ)
        var binary = logits.gt(logitThreshold).to(ScalarType.Float64);
        var g = binary.mm(binary.t()).cpu().data<double>().ToArray();
        var result = new double[m, m];
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) result[i, j] = g[i * m + j];
        return result;
    }

    /// <summary>Ashman's D of the two labelled groups, measured along the line through their means (∞ if both are points).</summary>
    internal static double Separation(double[][] points, int[] labels)
    {
        var a = points.Where((_, i) => labels[i] == 0).ToArray();
        var b = points.Where((_, i) => labels[i] == 1).ToArray();
        if (a.Length == 0 || b.Length == 0) return 0;
        double[] Mean(double[][] g) => [g.Average(p => p[0]), g.Average(p => p[1])];
        var ma = Mean(a); var mb = Mean(b);
        double dx = mb[0] - ma[0], dy = mb[1] - ma[1], len = Math.Sqrt(dx * dx + dy * dy);
        if (len == 0) return 0;
        double Var(double[][] g, double[] m) => g.Average(p => Math.Pow(((p[0] - m[0]) * dx + (p[1] - m[1]) * dy) / len, 2));
        double spread = Var(a, ma) + Var(b, mb);
        double d = Math.Sqrt(2) * len / Math.Sqrt(spread);
        return spread == 0 ? double.PositiveInfinity : d;
    }

    /// <summary>PCA to 2-D, 2-component GMM, the root's component is benign. Returns keep flags for the n clients.</summary>
    internal Verdict Classify(double[,] gram, RoundContext context)
    {
        int m = gram.GetLength(0), n = m - 1;
        var points = Clustering.PcaScoresFromCentredGram(Clustering.CentreGram(gram), 2);
        var rng = SeedStream.Rng(context.Seed, context.Round, -2, Purpose.Defence);
        var two = Clustering.FitGaussianMixture(points, 2, rng);
        double separation = Separation(points, two.Labels);
        var everyone = new Verdict(Enumerable.Repeat(true, n).ToArray(), separation, Split: false);
        if (options.NoAttackCheck == "bic")
        {
            var one = Clustering.FitGaussianMixture(points, 1, rng);
            if (one.Bic <= two.Bic) return everyone;
        }
        if (options.NoAttackCheck == "separation" && separation < options.MinSeparation)
            return everyone;
        int benign = options.BenignCluster == "largest"
            ? two.Labels.Take(n).GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key
            : two.Labels[n];
        return new Verdict([.. Enumerable.Range(0, n).Select(i => two.Labels[i] == benign)], separation, Split: true);
    }
}
