namespace FedActors.Core.Training;

/// <summary>Local training hyper-parameters (<c>fedactors.train</c>). Plain SGD as in PFLlib's clients.</summary>
/// <param name="DropLast">Drop the last incomplete batch of each epoch, as PFLlib's train loader does.</param>
/// <param name="GradientClamp">Clamp every gradient element to ±this before each step (SkyMask: 0.01); 0 = off.</param>
public sealed record TrainOptions(int Epochs, int BatchSize, double LearningRate, double Momentum = 0, double WeightDecay = 0, bool DropLast = true,
    double GradientClamp = 0)
{
    /// <summary>Number of SGD steps for <paramref name="samples"/> training samples.</summary>
    public int StepsFor(int samples)
    {
        // with drop-last, a client smaller than a batch still takes its one partial batch (see Batches)
        int perEpoch = DropLast ? Math.Max(samples / BatchSize, samples > 0 ? 1 : 0) : (samples + BatchSize - 1) / BatchSize;
        return perEpoch * Epochs;
    }
}
