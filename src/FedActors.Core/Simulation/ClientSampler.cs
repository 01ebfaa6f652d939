using FedActors.Core.Randomness;

namespace FedActors.Core.Simulation;

/// <summary>Uniform sampling without replacement of the round's clients, seeded by (seed, round).</summary>
public static class ClientSampler
{
    /// <param name="purpose">Which stream: the round's training sample, or its evaluation sample.</param>
    public static int[] Sample(long seed, int round, int population, int count, Purpose purpose = Purpose.Sampling)
    {
        if (count > population) throw new ArgumentException($"cannot sample {count} of {population} clients");
        var rng = SeedStream.Rng(seed, round, -1, purpose);
        var ids = new int[population];
        for (int i = 0; i < population; i++) ids[i] = i;
        for (int i = 0; i < count; i++)
        {
            int j = i + rng.NextInt(population - i);
            (ids[i], ids[j]) = (ids[j], ids[i]);
        }
        var chosen = ids[..count];
        Array.Sort(chosen);
        return chosen;
    }
}
