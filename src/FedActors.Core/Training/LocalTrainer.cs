using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>What one client's local training produced.</summary>
/// <param name="Delta">Δ = w_local − w_global over the trainable parameters, in module order.</param>
public sealed record TrainOutcome(ParameterVector Delta, int NumSamples, double MeanLoss, int Steps);

/// <summary>
/// The only local training loop: load the global weights into a (reused) model, run mini-batch SGD with
/// cross-entropy over the client's samples for E epochs in a seeded order, and return Δ. Runs synchronously on the
/// calling thread; every tensor it makes dies in its dispose scope.
/// </summary>
public static class LocalTrainer
{
    /// <param name="poison">A data-poisoning attack applied to every batch (malicious clients only), with its own
    /// seeded stream <paramref name="poisonRng"/>.</param>
    public static TrainOutcome Train(SplitModel model, ParameterVector global, Dataset data, IReadOnlyList<int> indices,
        TrainOptions options, Rng shuffle, Attacks.IDataPoisoningAttack? poison = null, Rng? poisonRng = null)
    {
        global.CopyTo(model);
        model.train();
        using var call = torch.NewDisposeScope(); // every tensor of the call in a scope (TensorLifetimeTests)
        using var optimizer = Sgd.For(model.parameters(), options);
        // the call's sample rows go to the data's device in one copy and the losses stay there until the end: on a GPU the
        // loop never waits for the device; on the CPU the same bits
        using var batches = new TrainingBatches(data, indices, options, shuffle, poison, poisonRng);
        using var losses = new StepLosses();
        for (int s = 0; s < batches.Count; s++)
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = batches.Batch(s);
            optimizer.ZeroGrad();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            loss.backward();
            optimizer.Step();
            losses.Add(loss);
        }
        var delta = ParameterVector.DeltaFrom(model, global);
        return new TrainOutcome(delta, indices.Count, losses.Mean(), losses.Count);
    }
}
