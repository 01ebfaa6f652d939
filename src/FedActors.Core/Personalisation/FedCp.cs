using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FedActors.Core.Personalisation;

/// <param name="Lambda">λ of the MMD term (the FedCP repo: 5; PFLlib's generic 1.0).</param>
/// <param name="Tau">Gumbel-softmax temperature τ (1, soft).</param>
/// <param name="HeadMix">Share of the personal head in the uploaded head, the rest the client's global head (0.5).</param>
/// <param name="NoisyEvaluation">Sample Gumbel noise in evaluation too, as PyTorch does in eval mode and as the reported
/// numbers were made (spec §7.9); off = the noise-free policy.</param>
public sealed record FedCpOptions(double Lambda = 5, double Tau = 1, double HeadMix = 0.5, bool NoisyEvaluation = true);

/// <summary>FedCP's conditional policy network: Linear(D→2D) → LayerNorm(2D) → ReLU.</summary>
public sealed class PolicyNetwork : Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Linear linear;
    private readonly TorchSharp.Modules.LayerNorm norm;

    /// <param name="device">Where its parameters are (the model's: see <see cref="Models.SplitModel.Device"/>).</param>
    public PolicyNetwork(int features, Device device) : base("CPN")
    {
        linear = Linear(features, 2 * features, device: device);
        norm = LayerNorm(2 * features, device: device);
        RegisterComponents();
    }

    public static int ParameterCount(int d) => d * 2 * d + 2 * d + 2 * 2 * d;
    public void Initialise(Generator g) => ModuleInit.Linear(linear, g);
    public override Tensor forward(Tensor u) => functional.relu(norm.forward(linear.forward(u)));
}

/// <summary>
/// FedCP — Zhang et al., "FedCP: Separating Feature Information for Personalized Federated Learning via Conditional
/// Policy", KDD 2023 (<c>fedcp</c>), as <c>clientcp.py</c>/<c>servercp.py</c> (spec §4). Per sample, h = φ(x); the policy
/// network reads h ⊙ v̂ᵢ (vᵢ the client vector, normalised) and a soft Gumbel-softmax over its [2, D] output splits every
/// feature into a personal share r and a global share s = 1 − r; logits = ψᵢ(h ⊙ r) + ψ_g(h ⊙ s). Loss: CE + λ·MMD²(h,
/// φ̄(x)) with φ̄ the frozen received extractor (four RBF kernels, σ ∈ {10, 15, 20, 50} as variances, biased estimator).
/// Shared: φ, the global head ψ_g (uploaded as ½ψᵢ + ½ψ_g) and the policy network; personal: ψᵢ and vᵢ.
/// </summary>
/// <remarks>Shared vector: [φ | ψ_g | CPN]. vᵢ starts U(0, 1) (seeded per client) and is reset to the column sums of ψᵢ's
/// weight each time the client takes in a new global head (from round 2 on). The code sends ψ_g and the CPN back only to
/// the clients selected in the round; here every client takes in the whole shared vector of each new global model: the
/// same when all clients join every round (PFLlib's setting), different under partial participation. The model and the
/// policy network share one optimiser, as in the code: <c>fedactors.train</c>'s (<see cref="Sgd.For"/>, plain SGD by
/// default).</remarks>
public sealed class FedCpMethod(FedCpOptions options) : IPersonalisation
{
    public const string HeadPart = "head", VectorPart = "v";
    public static readonly double[] Bandwidths = [10, 15, 20, 50];
    public string Name => "fedcp";
    public bool SharesWholeModel => false;
    public FedCpOptions Options { get; } = options;
    private readonly InitialModel _initial = new();

    private sealed record Layout(int Body, int Head, int Classes, int Features)
    {
        public int Policy => PolicyNetwork.ParameterCount(Features);
    }

    private static Layout LayoutOf(Models.SplitModel m)
    {
        int body = Personal.BodyCount(m);
        return new(body, (int)m.ParameterCount - body, (int)m.Head.parameters().First().shape[0], Personal.FeatureSize(m));
    }

    public ParameterVector InitialGlobal(Experiment experiment)
    {
        using var scope = torch.NewDisposeScope(); // nothing left to the GC (TensorLifetimeTests)
        using var model = experiment.CreateModel();
        var l = LayoutOf(model);
        var init = experiment.InitialWeights();
        using var g = new Generator(SeedStream.For(experiment.Seed, -1, -3, Purpose.ModelInit));
        using var policy = new PolicyNetwork(l.Features, CPU);
        policy.Initialise(g);
        // ψ_g starts as a copy of the initial head, so it equals every personal head in round 1.
        return SharedVector.Concat(init.Values, ParameterVector.From(policy).Values);
    }

    public PersonalState Initial(Experiment experiment, int clientId) => PersonalState.Empty;

    public PersonalState Receive(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        var head = state.Get(HeadPart) ?? _initial.Head(c.Experiment);
        float[] v;
        if (c.Round > 1) v = ColumnSums(head, l.Classes, l.Features);
        else
        {
            var rng = SeedStream.Rng(c.Experiment.Seed, -1, c.ClientId, Purpose.Personalisation);
            v = state.Get(VectorPart) ?? Enumerable.Range(0, l.Features).Select(_ => (float)rng.NextDouble()).ToArray();
        }
        return state.With(HeadPart, head).With(VectorPart, v);
    }

    /// <summary>v[d] = Σ_c W[c, d] over the head's weight (its first C·D values).</summary>
    public static float[] ColumnSums(float[] head, int classes, int features)
    {
        var v = new float[features];
        for (int k = 0; k < classes; k++) for (int d = 0; d < features; d++) v[d] += head[k * features + d];
        return v;
    }

    /// <summary>The modules of one call: ψ_g and the policy network from the global vector, and vᵢ normalised. The client's
    /// model is φ from the global with ψᵢ its own (<see cref="ClientModel"/>).</summary>
    private sealed class Parts : IDisposable
    {
        public required Models.SplitModel Model;
        public required TorchSharp.Modules.Linear GlobalHead;
        public required PolicyNetwork Policy;
        public required Tensor Vector;
        public void Dispose() { GlobalHead.Dispose(); Policy.Dispose(); Vector.Dispose(); }
    }

    private static ParameterVector ClientModel(PersonalContext c, PersonalState state, Layout l) =>
        Personal.Model(SharedVector.Slice(c.Global, 0, l.Body), state.Require(HeadPart));

    private static Parts Load(PersonalContext c, PersonalState state, Layout l)
    {
        var device = c.Model.Device;
        var globalHead = Linear(l.Features, l.Classes, device: device);
        new ParameterVector(SharedVector.Slice(c.Global, l.Body, l.Head)).CopyTo(globalHead);
        foreach (var q in globalHead.parameters()) q.requires_grad = false;
        var policy = new PolicyNetwork(l.Features, device);
        new ParameterVector(SharedVector.Slice(c.Global, l.Body + l.Head, l.Policy)).CopyTo(policy);
        var v = torch.tensor(state.Require(VectorPart), device: device);
        return new Parts { Model = c.Model, GlobalHead = globalHead, Policy = policy, Vector = v / v.norm() };
    }

    /// <summary>The forward pass: logits and the features h. <paramref name="noise"/> null = no Gumbel noise; else a CPU
    /// generator: the noise is drawn on the host and moved to the model's device, so a GPU run draws the CPU's numbers.</summary>
    public static (Tensor Logits, Tensor Features) Forward(Models.SplitModel model, TorchSharp.Modules.Linear globalHead, PolicyNetwork policy,
        Tensor unitVector, Tensor x, double tau, Generator? noise)
    {
        using var inverseTau = (1.0 / tau).ToScalar(); // owned: an implicit Scalar can be finalised mid-call (see Sgd)
        var h = model.Body.forward(x);
        long b = h.shape[0], d = h.shape[1];
        var a = policy.forward(h * unitVector).view(b, 2, d);
        if (noise is not null) a = a.Minus(torch.empty(a.shape, a.dtype, device: CPU).exponential_(generator: noise).log().to(a.device)); // + Gumbel(0, 1), as F.gumbel_softmax
        var split = functional.softmax(a * inverseTau, 1);
        var r = split.select(1, 0);
        var s = split.select(1, 1);
        return (model.Head.forward(h * r).Plus(globalHead.forward(h * s)), h);
    }

    /// <summary>Biased MMD² between two batches of features with the sum of RBF kernels exp(−‖a − b‖² / (2σ)).</summary>
    public static Tensor Mmd(Tensor x, Tensor y)
    {
        using var two = 2.0.ToScalar(); // owned scalars, as in Sgd
        var xx = x.matmul(x.t());
        var yy = y.matmul(y.t());
        var xy = x.matmul(y.t());
        var rx = xx.diag().unsqueeze(0).expand_as(xx);
        var ry = yy.diag().unsqueeze(0).expand_as(yy);
        var dxx = rx.t().Plus(rx).Minus(two * xx);
        var dyy = ry.t().Plus(ry).Minus(two * yy);
        var dxy = rx.t().Plus(ry).Minus(two * xy);
        Tensor? k = null;
        foreach (var sigma in Bandwidths)
        {
            using var scale = (-0.5 / sigma).ToScalar();
            var term = (dxx * scale).exp().Plus((dyy * scale).exp()).Minus(two * (dxy * scale).exp());
            k = k is null ? term : k.Plus(term);
        }
        return k!.mean();
    }

    public EvalOutcome Evaluate(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        // Every tensor of the call lives in a scope: a temporary left to the GC can be finalised mid-call (ScalarAudit).
        using var scope = torch.NewDisposeScope();
        using var parts = Load(c, state, l);
        using var noise = Options.NoisyEvaluation ? new Generator(SeedStream.For(c.Experiment.Seed, c.Round, c.ClientId, Purpose.Evaluation)) : null;
        return Evaluator.Evaluate(c.Model, ClientModel(c, state, l), c.Data, c.TestIndices,
            forward: x => Forward(c.Model, parts.GlobalHead, parts.Policy, parts.Vector, x, Options.Tau, noise).Logits);
    }

    public PersonalTrainResult Train(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        using var scope = torch.NewDisposeScope(); // as in Evaluate
        using var parts = Load(c, state, l);
        var start = ClientModel(c, state, l);
        start.CopyTo(c.Model);
        using var frozen = c.Experiment.CreateModel(); // φ̄: the received extractor, frozen (its head is unused)
        start.CopyTo(frozen);
        frozen.eval();
        c.Model.train();
        using var noise = new Generator(SeedStream.For(c.Experiment.Seed, c.Round, c.ClientId, Purpose.Personalisation));
        using var optimizer = Sgd.For(c.Model.parameters().Concat(parts.Policy.parameters()), c.Options); // one optimiser, as clientcp.py
        using var lambda = Options.Lambda.ToScalar(); // owned, as in Sgd
        using var batches = c.TrainingBatches(); // as LocalTrainer, poisoned for a data-poisoning attacker
        using var losses = new StepLosses();
        for (int s = 0; s < batches.Count; s++)
        {
            using var step = torch.NewDisposeScope();
            var (x, y) = batches.Batch(s);
            var (logits, h) = Forward(c.Model, parts.GlobalHead, parts.Policy, parts.Vector, x, Options.Tau, noise);
            Tensor reference;
            using (torch.no_grad()) reference = frozen.Body.forward(x);
            var loss = functional.cross_entropy(logits, y).Plus(lambda * Mmd(h, reference));
            optimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
            losses.Add(loss);
        }
        var trained = ParameterVector.From(c.Model);
        var personalHead = SharedVector.Slice(trained, l.Body, l.Head);
        var globalHead = SharedVector.Slice(c.Global, l.Body, l.Head);
        var mixed = new float[l.Head];
        for (int i = 0; i < mixed.Length; i++) mixed[i] = (float)(Options.HeadMix * personalHead[i] + (1 - Options.HeadMix) * globalHead[i]);
        var upload = SharedVector.Concat(SharedVector.Slice(trained, 0, l.Body), mixed, ParameterVector.From(parts.Policy).Values).Subtract(c.Global);
        return new PersonalTrainResult(new TrainOutcome(upload, c.TrainIndices.Count, losses.Mean(), losses.Count),
            state.With(HeadPart, personalHead));
    }
}
