using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Personalisation;

/// <param name="LearningRate">η of the ALA weights (1.0).</param>
/// <param name="SamplePercent">s: percent of the client's training list used to learn the weights (80).</param>
/// <param name="AdaptedTensors">p: how many of the last parameter tensors are adapted (PFLlib's layer_idx = 2: the head's
/// weight and bias). 0 adapts every tensor, as Python's [-0:] does.</param>
/// <param name="Threshold">Convergence test of the first adapted round: std of the last 10 pass losses below this (0.1 in
/// PFLlib today, 0.01 in the paper).</param>
/// <param name="NumPreLoss">Passes needed before the convergence test applies (10).</param>
/// <param name="MaxPasses">Our cap on the first round's passes (PFLlib has none); large enough not to bind in practice.</param>
/// <param name="KeepWholeModel">What a client keeps between rounds (<c>keep</c>): false (<c>adapted</c>, the default) keeps
/// only the adapted tensors of its local model and a fingerprint of its first tensor; true (<c>whole</c>) keeps the whole
/// local model, as PFLlib's client object does. See <see cref="FedAlaMethod"/> for why both give the same run.</param>
public sealed record FedAlaOptions(double LearningRate = 1.0, int SamplePercent = 80, int AdaptedTensors = 2, double Threshold = 0.1,
    int NumPreLoss = 10, int BatchSize = 10, int MaxPasses = 500, bool KeepWholeModel = false);

/// <summary>A client's ALA state: its local model, the ALA weights of the adapted tensors, and whether the first
/// (converging) phase is still ahead.</summary>
public sealed record FedAlaState(ParameterVector Local, float[]? Weights, bool StartPhase);

/// <summary>What one ALA step did.</summary>
public sealed record FedAlaResult(FedAlaState State, bool Skipped, int Passes);

/// <summary>
/// FedALA — Zhang et al., "FedALA: Adaptive Local Aggregation for Personalized Federated Learning", AAAI 2023: before
/// local training a client starts from Θ̂ = Θ_local + (Θ_global − Θ_local) ⊙ W, where W = 1 for the lower tensors and is
/// learned element-wise (clipped to [0, 1]) on a random s % contiguous slice of its data for the top p tensors:
/// W ← clip(W − η·∂L/∂Θ̂ ⊙ (Θ_global − Θ_local)). The first adapted round trains W to convergence, later rounds one pass.
/// </summary>
/// <remarks>Follows PFLlib's <c>ALA.adaptive_local_aggregation</c> step by step (spec §1.1): the skip test on the first
/// tensor's element sum, the contiguous slice with a seeded start, unshuffled batches keeping the last partial one, the
/// last batch's loss per pass, population std over the last 10.</remarks>
public static class FedAla
{
    /// <param name="skipTest">PFLlib's step 2; false when the caller has already made it (a client that keeps only the
    /// adapted tensors makes it on a fingerprint).</param>
    public static FedAlaResult Adapt(SplitModel model, ParameterVector global, FedAlaState state, Dataset data, IReadOnlyList<int> train,
        FedAlaOptions o, Rng rng, bool skipTest = true)
    {
        var parameters = model.parameters().ToArray();
        var sizes = parameters.Select(p => (int)p.numel()).ToArray();
        var offsets = new int[sizes.Length];
        for (int i = 1; i < sizes.Length; i++) offsets[i] = offsets[i - 1] + sizes[i - 1];
        var g = global.Values;
        var l = state.Local.Values;

        // Step 2: skip when the first tensors agree (round 0: local = global).
        if (skipTest)
        {
            double firstDiff = 0;
            for (int k = 0; k < sizes[0]; k++) firstDiff += g[k] - l[k];
            if (firstDiff == 0) return new FedAlaResult(state, Skipped: true, Passes: 0);
        }

        int p = o.AdaptedTensors == 0 ? parameters.Length : Math.Min(o.AdaptedTensors, parameters.Length);
        int firstAdapted = parameters.Length - p, adaptedStart = offsets[firstAdapted], adaptedLength = g.Length - adaptedStart;

        // Step 3: lower tensors take the global values. Step 4: weights start at 1.
        var local = (float[])l.Clone();
        Array.Copy(g, local, adaptedStart);
        var weights = state.Weights ?? Enumerable.Repeat(1f, adaptedLength).ToArray();

        // Step 1: the contiguous s % slice with a seeded start.
        int n = train.Count, ns = (int)Math.Floor(o.SamplePercent / 100.0 * n);
        int start = rng.NextInt(n - ns + 1);
        var slice = train.Skip(start).Take(ns).ToArray();

        using var scope = torch.NewDisposeScope();
        // Owned scalars: an implicit Scalar can be finalised while native code still reads it (see Sgd).
        using var eta = o.LearningRate.ToScalar();
        using var zero = 0.0.ToScalar();
        using var one = 1.0.ToScalar();
        var device = parameters[0].device; // where the model and the data are (an accelerator's, or the CPU)
        var gTop = torch.tensor(g[adaptedStart..], device: device);
        var lTop = torch.tensor(local[adaptedStart..], device: device);
        var diff = gTop.Minus(lTop);
        var w = torch.tensor(weights, device: device);
        new ParameterVector(local).CopyTo(model);
        void LoadTemporary()
        {
            using var _ = torch.no_grad();
            var t = lTop.Plus(diff * w);
            for (int j = firstAdapted; j < parameters.Length; j++)
                parameters[j].copy_(t.narrow(0, offsets[j] - adaptedStart, sizes[j]).view_as(parameters[j]));
        }
        LoadTemporary();
        model.train();

        // Steps 5–6: learn W; the model itself takes no step.
        var losses = new List<double>();
        int passes = 0;
        while (slice.Length > 0)
        {
            double last = double.NaN;
            for (int b = 0; b < slice.Length; b += o.BatchSize)
            {
                using var step = torch.NewDisposeScope();
                var (x, y) = data.Batch(slice.AsSpan(b, Math.Min(o.BatchSize, slice.Length - b)));
                model.zero_grad();
                var loss = nn.functional.cross_entropy(model.forward(x), y);
                loss.backward();
                last = loss.item<float>();
                var grad = torch.cat(parameters[firstAdapted..].Select(q => q.grad!.flatten()).ToArray());
                using (torch.no_grad()) w.MinusInPlace(eta * grad * diff).clamp_(zero, one);
                LoadTemporary();
            }
            losses.Add(last);
            passes++;
            if (!state.StartPhase) break;
            if (losses.Count > o.NumPreLoss && Std(losses.TakeLast(o.NumPreLoss)) < o.Threshold) break;
            if (passes >= o.MaxPasses) break;
        }
        model.zero_grad();

        // Steps 7–8: write the temporary model back; the first phase is over for good.
        var adapted = lTop.Plus(diff * w).cpu().data<float>().ToArray();
        Array.Copy(adapted, 0, local, adaptedStart, adaptedLength);
        return new FedAlaResult(new FedAlaState(new ParameterVector(local), w.cpu().data<float>().ToArray(), StartPhase: false), Skipped: false, passes);
    }

    private static double Std(IEnumerable<double> xs)
    {
        var v = xs.ToArray();
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length);
    }
}

/// <summary>FedALA as a personalisation method (<c>fedala</c>): the whole model is shared and averaged as in FedAvg; the
/// client keeps its local model Θᵢ and ALA weights (their absence is the start phase), runs ALA when it takes in a new
/// global model, and trains and is evaluated on the adapted Θᵢ.</summary>
/// <remarks>
/// <para>PFLlib runs ALA on every client every round; here a client runs it when it is contacted (trained or evaluated)
/// for a new global model. With all clients evaluated every round (the PFLlib setting) that is the same; with sampled
/// evaluation a client skips the versions it was not contacted for.</para>
/// <para>What a client keeps (<see cref="FedAlaOptions.KeepWholeModel"/>). ALA overwrites the local model's lower tensors
/// with the global ones before anything reads them (step 3), and a client always takes in a new version before it is
/// evaluated or trained on it; so of the lower tensors only the skip test (step 2: do the first tensors of local and
/// global differ?) ever looks at what was kept. <c>adapted</c> keeps the adapted (top) tensors, the ALA weights and a
/// 64-bit fingerprint of the local first tensor, and makes the skip test as "the fingerprints are equal" — PFLlib's test
/// is "Σ(global − local) over the first tensor is 0", which differs only if differences cancel exactly or fingerprints
/// collide. One more case differs: when the test skips ALA (first tensors equal) but later lower tensors are not the
/// global's — a client whose training left its first tensor bit for bit equal to the next global one — <c>whole</c> goes
/// on with its own lower tensors and <c>adapted</c> with the global's. 10,000 MLP clients keep ~160 MB instead of 8 GB.
/// <c>whole</c> keeps PFLlib's whole local model.</para>
/// </remarks>
public sealed class FedAlaMethod(FedAlaOptions options) : IPersonalisation, IBatchableClient
{
    public const string LocalPart = "local", WeightsPart = "ala-weights", TopPart = "local-top", FirstTensorPart = "first-tensor-hash";
    public string Name => "fedala";
    public bool SharesWholeModel => true;
    public FedAlaOptions Options { get; } = options;

    public ParameterVector InitialGlobal(Simulation.Experiment experiment) => experiment.InitialWeights();
    public PersonalState Initial(Simulation.Experiment experiment, int clientId) => PersonalState.Empty;

    /// <summary>Where the adapted tensors start in the model's vector, and the length of its first tensor.</summary>
    private (int AdaptedStart, int FirstLength) Shape(SplitModel model)
    {
        var sizes = model.parameters().Select(p => (int)p.numel()).ToArray();
        int p = Options.AdaptedTensors == 0 ? sizes.Length : Math.Min(Options.AdaptedTensors, sizes.Length);
        return (sizes.Take(sizes.Length - p).Sum(), sizes[0]);
    }

    /// <summary>The local model a client that keeps only its adapted tensors works on: the global lower tensors (ALA's step 3
    /// puts them there, and nothing reads the local ones before it), then its own top.</summary>
    private static ParameterVector Local(ParameterVector global, int adaptedStart, float[] top) =>
        SharedVector.Concat(global.Values[..adaptedStart], top);

    /// <summary>A 64-bit fingerprint (FNV-1a over the bit patterns, 8 bytes at a time) as two floats' bits.</summary>
    internal static float[] Fingerprint(ReadOnlySpan<float> values)
    {
        ulong h = 14695981039346656037UL;
        foreach (var word in System.Runtime.InteropServices.MemoryMarshal.Cast<float, ulong>(values)) h = (h ^ word) * 1099511628211UL;
        if (values.Length % 2 == 1) h = (h ^ BitConverter.SingleToUInt32Bits(values[^1])) * 1099511628211UL;
        return [BitConverter.UInt32BitsToSingle((uint)h), BitConverter.UInt32BitsToSingle((uint)(h >> 32))];
    }

    private static bool SameBits(float[] a, float[] b) =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()));

    public PersonalState Receive(PersonalContext c, PersonalState state)
    {
        var alaOptions = Options with { BatchSize = c.Options.BatchSize };
        var weights = state.Get(WeightsPart);
        if (!Options.KeepWholeModel)
        {
            var (start, first) = Shape(c.Model);
            var globalFirst = Fingerprint(c.Global.Values.AsSpan(0, first));
            // a client that has no local model yet starts as a copy of the global one
            if (state.Get(TopPart) is not { } top) return state.With(TopPart, c.Global.Values[start..]).With(FirstTensorPart, globalFirst);
            if (SameBits(globalFirst, state.Require(FirstTensorPart))) return state; // step 2: the first tensors are the same
            var adapted = FedAla.Adapt(c.Model, c.Global, new FedAlaState(Local(c.Global, start, top), weights, StartPhase: weights is null),
                c.Data, c.TrainIndices, alaOptions, c.Rng(Purpose.Personalisation), skipTest: false);
            return state.With(TopPart, adapted.State.Local.Values[start..]).With(WeightsPart, adapted.State.Weights).With(FirstTensorPart, globalFirst);
        }
        // A client that has no local model yet starts as a copy of the global one (ALA's skip test then holds).
        if (state.Get(LocalPart) is not { } local) return state.With(LocalPart, (float[])c.Global.Values.Clone());
        var r = FedAla.Adapt(c.Model, c.Global, new FedAlaState(new ParameterVector(local), weights, StartPhase: weights is null),
            c.Data, c.TrainIndices, alaOptions, c.Rng(Purpose.Personalisation));
        return r.Skipped ? state : state.With(LocalPart, r.State.Local.Values).With(WeightsPart, r.State.Weights);
    }

    /// <summary>The model the client is evaluated and trained on, for the version it last took in.</summary>
    private ParameterVector Model(PersonalContext c, PersonalState state) =>
        Options.KeepWholeModel ? new ParameterVector(state.Require(LocalPart)) : Local(c.Global, Shape(c.Model).AdaptedStart, state.Require(TopPart));

    public Training.EvalOutcome Evaluate(PersonalContext c, PersonalState state) =>
        Training.Evaluator.Evaluate(c.Model, Model(c, state), c.Data, c.TestIndices);

    public PersonalTrainResult Train(PersonalContext c, PersonalState state) => IBatchableClient.TrainAlone(this, c, state);

    /// <summary>The local model the ALA step made (in <see cref="Receive"/>).</summary>
    public ParameterVector TrainingStart(PersonalContext c, PersonalState state) => Model(c, state);

    public PersonalTrainResult AfterTraining(PersonalContext c, PersonalState state, ParameterVector local, Training.TrainOutcome r)
    {
        var trained = local.Add(r.Delta);
        var upload = r with { Delta = trained.Subtract(c.Global) };
        if (Options.KeepWholeModel) return new PersonalTrainResult(upload, state.With(LocalPart, trained.Values));
        var (start, first) = Shape(c.Model);
        return new PersonalTrainResult(upload, state.With(TopPart, trained.Values[start..]).With(FirstTensorPart, Fingerprint(trained.Values.AsSpan(0, first))));
    }
}
