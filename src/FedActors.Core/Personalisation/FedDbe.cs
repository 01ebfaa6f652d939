using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Personalisation;

/// <param name="Momentum">m: weight of the new batch mean in the running feature mean μ̂ (DBE's FMNIST script: 1.0; PFLlib 0.1).</param>
/// <param name="MrWeight">κ of the mean regulariser (DBE's FMNIST script: 50; PFLlib's default 0 turns it off). We follow the
/// authors' script.</param>
public sealed record FedDbeOptions(double Momentum = 1.0, double MrWeight = 50);

/// <summary>One DBE training call: the update, the client's new PRBM and its running feature mean μ̂.</summary>
public sealed record FedDbeOutcome(TrainOutcome Train, float[] Prbm, float[] RunningMean);

/// <summary>
/// FedDBE — Zhang et al., "Eliminating Domain Bias for Federated Learning in Representation Space", NeurIPS 2023. A
/// personal representation bias memory (PRBM) z̄ᵢᵖ, kept only on the client, is added to the body's output before the
/// head, in training and inference: logits = head(body(x) + z̄ᵢᵖ). A mean regulariser pulls the running feature mean μ̂ᵢ
/// toward the global mean z̄ᵍ (computed once, before round 0, from every client's μ̂ after one plain training call):
/// loss = CE + κ·(1/D)·Σ_d ½(μ̂ᵢ,d − z̄ᵍ_d)². The body and head take SGD steps, the PRBM its own SGD step at the same rate.
/// </summary>
/// <remarks>As PFLlib's <c>clientdbe.py</c>: μ̂ ← (1 − m)·μ̂ + m·mean_batch(z) with the previous μ̂ detached, reset at the
/// start of each training call. The model's optimiser is <c>fedactors.train</c>'s (<see cref="Sgd.For"/>: plain SGD by
/// default, as the reference); the PRBM's is plain SGD at the same rate.</remarks>
public static class FedDbe
{
    /// <summary>κ·(1/D)·Σ ½(μ̂ − z̄ᵍ)², the mean regulariser.</summary>
    public static Tensor MeanRegulariser(Tensor runningMean, Tensor globalMean, double weight)
    {
        using var half = (weight * 0.5).ToScalar(); // owned: an implicit Scalar can be finalised mid-call (see Sgd)
        using var d = runningMean.Minus(globalMean);
        using var square = d * d;
        using var mean = square.mean();
        return mean * half;
    }

    /// <param name="prbm">The client's PRBM (length = the body's output size); trained when <paramref name="globalMean"/>
    /// is given. With <paramref name="globalMean"/> null this is the initialisation call: plain CE, no PRBM, no MR, μ̂
    /// tracked.</param>
    public static FedDbeOutcome Train(SplitModel model, ParameterVector global, Dataset data, IReadOnlyList<int> indices, TrainOptions t,
        FedDbeOptions o, float[] prbm, float[]? globalMean, Rng shuffle, Attacks.IDataPoisoningAttack? poison = null, Rng? poisonRng = null)
    {
        global.CopyTo(model);
        model.train();
        using var scope = torch.NewDisposeScope();
        var device = model.Device;
        var bias = new TorchSharp.Modules.Parameter(torch.tensor(prbm, device: device), requires_grad: globalMean is not null);
        var zg = globalMean is null ? null : torch.tensor(globalMean, device: device);
        using var optimizer = Sgd.For(model.parameters(), t);
        using var prbmOptimizer = new Sgd([bias], t.LearningRate);
        var mean = torch.zeros(prbm.Length, device: device);
        using var keep = (1 - o.Momentum).ToScalar();
        using var momentum = o.Momentum.ToScalar();
        using var batches = new TrainingBatches(data, indices, t, shuffle, poison, poisonRng); // as LocalTrainer: no sync in the loop
        using var losses = new StepLosses();
        for (int s = 0; s < batches.Count; s++)
        {
            using var step = torch.NewDisposeScope();
            var (x, y) = batches.Batch(s);
            var z = model.Body.forward(x);
            var running = (keep * mean).Plus(momentum * z.mean([0]));
            var logits = model.Head.forward(zg is null ? z : z.Plus(bias));
            var loss = nn.functional.cross_entropy(logits, y);
            if (zg is not null) loss = loss.Plus(MeanRegulariser(running, zg, o.MrWeight));
            optimizer.ZeroGrad();
            prbmOptimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
            if (zg is not null) prbmOptimizer.Step();
            mean.Dispose();
            mean = running.detach().MoveToOuterDisposeScope();
            losses.Add(loss);
        }
        var delta = ParameterVector.DeltaFrom(model, global);
        return new FedDbeOutcome(new TrainOutcome(delta, indices.Count, losses.Mean(), losses.Count),
            bias.detach().cpu().data<float>().ToArray(), mean.cpu().data<float>().ToArray());
    }

    /// <summary>z̄ᵍ = Σᵢ nᵢ/Σn · μ̂ᵢ, computed once from every client's initialisation call.</summary>
    public static float[] GlobalMean(IReadOnlyList<(int Samples, float[] RunningMean)> clients)
    {
        double total = clients.Sum(c => (double)c.Samples);
        var acc = new double[clients[0].RunningMean.Length];
        foreach (var (n, m) in clients) for (int d = 0; d < acc.Length; d++) acc[d] += n / total * m[d];
        return acc.Select(v => (float)v).ToArray();
    }

    /// <summary>Personalised evaluation: argmax head(body(x) + z̄ᵢᵖ).</summary>
    public static EvalOutcome Evaluate(SplitModel model, ParameterVector weights, float[] prbm, Dataset data, IReadOnlyList<int> indices, int batchSize = 500)
    {
        using var scope = torch.NewDisposeScope(); // nothing left to the GC (TensorLifetimeTests)
        var bias = torch.tensor(prbm, device: model.Device);
        return Evaluator.Evaluate(model, weights, data, indices, batchSize, x => model.Head.forward(model.Body.forward(x).Plus(bias)));
    }
}

/// <summary>FedDBE as a personalisation method (<c>dbe</c>): the whole model is shared as in FedAvg; the PRBM is personal;
/// the global mean z̄ᵍ is the server's extra vector, made once in the preparation step from every client's μ̂.</summary>
public sealed class FedDbeMethod(FedDbeOptions options) : IPersonalisation
{
    public const string PrbmPart = "prbm";
    public string Name => "dbe";
    public bool SharesWholeModel => true;
    public FedDbeOptions Options { get; } = options;

    public ParameterVector InitialGlobal(Simulation.Experiment experiment) => experiment.InitialWeights();
    public PersonalState Initial(Simulation.Experiment experiment, int clientId) => PersonalState.Empty;
    public PersonalState Receive(PersonalContext c, PersonalState state) => state;

    private static float[] Prbm(PersonalContext c, PersonalState s) => s.Get(PrbmPart) ?? new float[Personal.FeatureSize(c.Model)];

    /// <summary>The initialisation period (spec §2.1 steps 1–3): one plain training call from the global model, μ̂ tracked;
    /// the trained weights are thrown away.</summary>
    public float[]? Prepare(PersonalContext c, PersonalState state) =>
        FedDbe.Train(c.Model, c.Global, c.Data, c.TrainIndices, c.Options, Options, Prbm(c, state), null, c.Rng(Randomness.Purpose.Shuffle)).RunningMean;

    public bool NeedsPreparation => true;

    public float[] CombinePreparation(IReadOnlyList<(int Samples, float[] Contribution)> contributions) => FedDbe.GlobalMean(contributions);

    public EvalOutcome Evaluate(PersonalContext c, PersonalState state) => FedDbe.Evaluate(c.Model, c.Global, Prbm(c, state), c.Data, c.TestIndices);

    public PersonalTrainResult Train(PersonalContext c, PersonalState state)
    {
        var globalMean = c.ServerExtra ?? throw new InvalidOperationException("DBE trains only after its preparation step (no global mean)");
        var r = FedDbe.Train(c.Model, c.Global, c.Data, c.TrainIndices, c.Options, Options, Prbm(c, state), globalMean, c.Rng(Randomness.Purpose.Shuffle),
            c.Poison, c.Rng(Randomness.Purpose.Poison));
        return new PersonalTrainResult(r.Train, state.With(PrbmPart, r.Prbm));
    }
}
