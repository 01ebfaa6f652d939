using FedActors.Core.Randomness;

namespace FedActors.Core.Training;

/// <summary>The mini-batches of local training, as PFLlib's train loader gives them: each epoch reshuffles the
/// client's samples (seeded) and, with <see cref="TrainOptions.DropLast"/>, leaves out the last incomplete batch — unless it
/// is the only one: a client with fewer samples than a batch trains on them rather than not at all (PFLlib's loader would
/// give it no batch, and such a client would silently contribute nothing).</summary>
public static class Batches
{
    public static IEnumerable<ArraySegment<int>> Shuffled(IReadOnlyList<int> indices, TrainOptions options, Rng shuffle)
    {
        var order = indices.ToArray();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            shuffle.Shuffle<int>(order);
            for (int start = 0; start < order.Length; start += options.BatchSize)
            {
                int size = Math.Min(options.BatchSize, order.Length - start);
                if (size < options.BatchSize && options.DropLast && start > 0) break;
                yield return new ArraySegment<int>(order, start, size);
            }
        }
    }
}
