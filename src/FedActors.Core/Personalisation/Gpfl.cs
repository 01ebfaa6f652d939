using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FedActors.Core.Personalisation;

/// <param name="Lambda">λ of the magnitude-level guidance (the GPFL repo: 0.01 for the 4-layer CNN; PFLlib's generic 1.0).</param>
/// <param name="Mu">μ: weight decay of the GCE and CoV optimisers (the GPFL repo: 0.1 for the 4-layer CNN; PFLlib 0).</param>
public sealed record GpflOptions(double Lambda = 0.01, double Mu = 0.1);

/// <summary>GPFL's conditional valve: two branches Linear(D→D) → ReLU → LayerNorm(D) turn a conditional vector c into
/// γ and β; the output is ReLU(f ⊙ (γ + 1) + β), with γ, β broadcast over the batch (they depend on c only).</summary>
public sealed class ConditionalValve : Module<Tensor, Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Linear gammaLinear, betaLinear;
    private readonly TorchSharp.Modules.LayerNorm gammaNorm, betaNorm;

    /// <param name="device">Where its parameters are (the model's: see <see cref="Models.SplitModel.Device"/>).</param>
    public ConditionalValve(int features, Device device) : base("CoV")
    {
        gammaLinear = Linear(features, features, device: device);
        gammaNorm = LayerNorm(features, device: device);
        betaLinear = Linear(features, features, device: device);
        betaNorm = LayerNorm(features, device: device);
        RegisterComponents();
    }

    public static int ParameterCount(int d) => 2 * (d * d + d + 2 * d);

    public void Initialise(Generator g)
    {
        ModuleInit.Linear(gammaLinear, g);
        ModuleInit.Linear(betaLinear, g);
    }

    public override Tensor forward(Tensor f, Tensor condition)
    {
        using var scope = NewDisposeScope();
        var gamma = gammaNorm.forward(functional.relu(gammaLinear.forward(condition)));
        var beta = betaNorm.forward(functional.relu(betaLinear.forward(condition)));
        return functional.relu((f * gamma).Plus(f).Plus(beta)).MoveToOuterDisposeScope(); // f ⊙ (γ + 1) + β
    }
}

/// <summary>
/// GPFL — Zhang et al., "GPFL: Simultaneously Learning Global and Personalized Feature Information for Personalized
/// Federated Learning", ICCV 2023 (<c>gpfl</c>), as <c>clientgp.py</c>/<c>servergp.py</c> (spec §3). Shared: the feature
/// extractor φ, the global category embedding E ∈ ℝ^{C×D} and the conditional valve; personal: the head ψ. Per batch,
/// f = φ(x), fᴾ = CoV(f, pᵢ), fᴳ = CoV(f, g) and L = CE(ψ(fᴾ), y) + CE(cos(fᴳ, E), y) + λ‖fᴳ − Ē[y]‖_F, with Ē the E received
/// this round (frozen). g = mean of E's rows and pᵢ = Σ_c αᵢ,c E[c] (αᵢ the client's label shares) come from the
/// client's own E before it takes in the new global one; both are zero until the first server update.
/// </summary>
/// <remarks>Shared vector: [φ | E | CoV]. αᵢ is computed from the client's whole training split (the code counts a
/// shuffled drop-last loader: spec §7.7, a harmless deviation). Every client takes in φ, E and the CoV of each new global
/// model, as the code sends them to all clients. The model's optimiser is <c>fedactors.train</c>'s (<see cref="Sgd.For"/>:
/// plain SGD by default, as the code); E's and the CoV's are SGD with weight decay μ.</remarks>
public sealed class GpflMethod(GpflOptions options) : IPersonalisation
{
    public const string HeadPart = "head", EmbeddingPart = "gce", PersonalInputPart = "p", GlobalInputPart = "g";
    public string Name => "gpfl";
    public bool SharesWholeModel => false;
    public GpflOptions Options { get; } = options;
    private readonly InitialModel _initial = new();

    private sealed record Layout(int Body, int Classes, int Features)
    {
        public int Embedding => Classes * Features;
        public int Valve => ConditionalValve.ParameterCount(Features);
        public int Length => Body + Embedding + Valve;
    }

    private static Layout LayoutOf(Models.SplitModel m) => new(Personal.BodyCount(m), (int)m.Head.parameters().First().shape[0], Personal.FeatureSize(m));

    public ParameterVector InitialGlobal(Experiment experiment)
    {
        using var scope = torch.NewDisposeScope(); // nothing left to the GC (TensorLifetimeTests)
        using var model = experiment.CreateModel();
        var l = LayoutOf(model);
        var init = experiment.InitialWeights();
        using var g = new Generator(SeedStream.For(experiment.Seed, -1, -2, Purpose.ModelInit));
        using var embedding = torch.randn([l.Classes, l.Features], generator: g, device: CPU); // nn.Embedding's N(0, 1)
        using var valve = new ConditionalValve(l.Features, CPU);
        valve.Initialise(g);
        return SharedVector.Concat(SharedVector.Slice(init, 0, l.Body), embedding.data<float>().ToArray(), ParameterVector.From(valve).Values);
    }

    public PersonalState Initial(Experiment experiment, int clientId) => PersonalState.Empty;

    public PersonalState Receive(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        var head = state.Get(HeadPart) ?? _initial.Head(c.Experiment);
        var globalE = SharedVector.Slice(c.Global, l.Body, l.Embedding);
        float[] p = new float[l.Features], g = new float[l.Features];
        if (state.Get(EmbeddingPart) is { } localE)
        {
            var shares = LabelShares(c, l.Classes);
            for (int k = 0; k < l.Classes; k++)
                for (int d = 0; d < l.Features; d++)
                {
                    float e = localE[k * l.Features + d];
                    g[d] += e / l.Classes;
                    p[d] += (float)shares[k] * e;
                }
        }
        return state.With(HeadPart, head).With(EmbeddingPart, globalE).With(PersonalInputPart, p).With(GlobalInputPart, g);
    }

    private static double[] LabelShares(PersonalContext c, int classes)
    {
        var counts = new double[classes];
        foreach (var i in c.TrainIndices) counts[c.Data.Labels[i]]++;
        double n = Math.Max(1, c.TrainIndices.Count);
        return counts.Select(k => k / n).ToArray();
    }

    public EvalOutcome Evaluate(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        // Every tensor of the call lives in a scope: a temporary left to the GC can be finalised mid-call (ScalarAudit).
        using var scope = torch.NewDisposeScope();
        using var valve = LoadValve(c.Global, l, c.Model.Device);
        using var p = torch.tensor(state.Require(PersonalInputPart), device: c.Model.Device);
        var weights = Personal.Model(SharedVector.Slice(c.Global, 0, l.Body), state.Require(HeadPart));
        return Evaluator.Evaluate(c.Model, weights, c.Data, c.TestIndices, forward: x => c.Model.Head.forward(valve.forward(c.Model.Body.forward(x), p)));
    }

    private static ConditionalValve LoadValve(ParameterVector global, Layout l, Device device)
    {
        var valve = new ConditionalValve(l.Features, device);
        new ParameterVector(SharedVector.Slice(global, l.Body + l.Embedding, l.Valve)).CopyTo(valve);
        return valve;
    }

    /// <summary>The three losses of one batch (exposed for tests).</summary>
    public (Tensor Ce, Tensor Angle, Tensor Magnitude) Losses(Models.SplitModel model, ConditionalValve valve, Tensor embedding, Tensor frozen,
        Tensor p, Tensor g, Tensor x, Tensor y)
    {
        var f = model.Body.forward(x);
        var ce = functional.cross_entropy(model.Head.forward(valve.forward(f, p)), y);
        var fg = valve.forward(f, g);
        var cosine = functional.normalize(fg, dim: 1).matmul(functional.normalize(embedding, dim: 1).t());
        var angle = functional.cross_entropy(cosine, y);
        var gap = fg.Minus(frozen.index_select(0, y));
        var magnitude = (gap * gap).sum().sqrt();
        return (ce, angle, magnitude);
    }

    public PersonalTrainResult Train(PersonalContext c, PersonalState state)
    {
        var l = LayoutOf(c.Model);
        var body = SharedVector.Slice(c.Global, 0, l.Body);
        Personal.Model(body, state.Require(HeadPart)).CopyTo(c.Model);
        c.Model.train();
        using var scope = torch.NewDisposeScope();
        var device = c.Model.Device;
        using var valve = LoadValve(c.Global, l, device);
        var globalE = SharedVector.Slice(c.Global, l.Body, l.Embedding);
        var frozen = torch.tensor(globalE, device: device).view(l.Classes, l.Features);
        var embedding = new TorchSharp.Modules.Parameter(torch.tensor(globalE, device: device).view(l.Classes, l.Features));
        var p = torch.tensor(state.Require(PersonalInputPart), device: device);
        var g = torch.tensor(state.Require(GlobalInputPart), device: device);
        using var modelOptimizer = Sgd.For(c.Model.parameters(), c.Options);
        using var embeddingOptimizer = new Sgd([embedding], c.Options.LearningRate, weightDecay: Options.Mu);
        using var valveOptimizer = new Sgd(valve.parameters(), c.Options.LearningRate, weightDecay: Options.Mu);
        using var lambda = Options.Lambda.ToScalar(); // owned, as in Sgd
        using var batches = c.TrainingBatches(); // as LocalTrainer, poisoned for a data-poisoning attacker
        using var losses = new StepLosses();
        for (int s = 0; s < batches.Count; s++)
        {
            using var step = torch.NewDisposeScope();
            var (x, y) = batches.Batch(s);
            var (ce, angle, magnitude) = Losses(c.Model, valve, embedding, frozen, p, g, x, y);
            var loss = ce.Plus(angle).Plus(lambda * magnitude);
            modelOptimizer.ZeroGrad();
            embeddingOptimizer.ZeroGrad();
            valveOptimizer.ZeroGrad();
            loss.backward();
            modelOptimizer.Step();
            embeddingOptimizer.Step();
            valveOptimizer.Step();
            losses.Add(loss);
        }
        var trained = ParameterVector.From(c.Model);
        var trainedE = embedding.detach().contiguous().cpu().data<float>().ToArray();
        var upload = SharedVector.Concat(SharedVector.Slice(trained, 0, l.Body), trainedE, ParameterVector.From(valve).Values).Subtract(c.Global);
        var head = SharedVector.Slice(trained, l.Body, trained.Length - l.Body);
        return new PersonalTrainResult(new TrainOutcome(upload, c.TrainIndices.Count, losses.Mean(), losses.Count),
            state.With(HeadPart, head).With(EmbeddingPart, trainedE));
    }
}
