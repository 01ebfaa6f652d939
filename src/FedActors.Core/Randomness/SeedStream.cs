namespace FedActors.Core.Randomness;

/// <summary>What a random draw is for. Each purpose gets its own stream, so adding a draw for one
/// purpose never shifts the numbers another purpose sees.</summary>
public enum Purpose
{
    ModelInit = 1,
    Partition = 2,
    TrainTestSplit = 3,
    Sampling = 4,
    Dropout = 5,
    Flaky = 6,
    DeviceSpeed = 7,
    Shuffle = 8,
    Synthetic = 9,
    Evaluation = 10,
    Link = 11,
    Defence = 12,
    Attack = 13,
    Malicious = 14,
    Poison = 15,
    RootSet = 16,
    Personalisation = 17,
    Fault = 18,
    LostMessage = 19,
}

/// <summary>
/// Derives independent 64-bit seeds from (experiment seed, round, client id, purpose). Every random draw in
/// FedActors goes through here: nothing reads a global generator, so a run is reproducible whatever runs
/// where or in which order. Use round = -1 / client = -1 for draws that do not depend on them.
/// </summary>
public static class SeedStream
{
    public static ulong For(long seed, int round, int clientId, Purpose purpose)
    {
        ulong h = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ (ulong)(uint)round);
        h = Mix(h ^ ((ulong)(uint)clientId << 1));
        h = Mix(h ^ ((ulong)purpose << 3));
        return h;
    }

    public static Rng Rng(long seed, int round, int clientId, Purpose purpose) => new(For(seed, round, clientId, purpose));

    /// <summary>SplitMix64 finaliser: a bijective, well-mixed 64-bit hash.</summary>
    internal static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
