using FedActors.Core.Config;
using FedActors.Core.Randomness;
using FedActors.Core.Training;

namespace FedActors.Core.Simulation;

/// <summary>Why a selected client contributed nothing to a round.</summary>
public enum DropReason
{
    /// <summary>Simulated: its seeded dropout draw said so.</summary>
    DroppedOut,
    /// <summary>Simulated: its seeded device speed put its finish after the round deadline.</summary>
    MissedDeadline,
    /// <summary>Real: no answer within the wall-clock safety timeout (a crash, a lost message, a dead node).</summary>
    TimedOut,
    /// <summary>Real: the client reported that its work failed (an exception in training).</summary>
    Failed,
    /// <summary>Its update was malformed (NaN/Inf or wrong length) and was not aggregated.</summary>
    Rejected,
}

/// <summary>A client's fixed simulated traits, derived from the seed and its id alone (so any node can rebuild it).</summary>
public sealed record ClientProfile(int ClientId, bool Flaky, double DropoutProbability, double SamplesPerSecond, double LinkSeconds)
{
    public static ClientProfile For(long seed, int clientId, PopulationSettings population)
    {
        var d = population.Dropout;
        bool flaky = SeedStream.Rng(seed, -1, clientId, Purpose.Flaky).NextDouble() < d.FlakyFraction;
        var s = population.Speed;
        double speed = s.SamplesPerSecond * Math.Exp(s.Sigma * SeedStream.Rng(seed, -1, clientId, Purpose.DeviceSpeed).NextGaussian());
        return new ClientProfile(clientId, flaky, flaky ? d.FlakyProbability : d.Probability, speed, s.LinkSeconds);
    }

    /// <summary>Simulated seconds to receive the model, train on <paramref name="samples"/> and send the update.</summary>
    public double SimulatedSeconds(int samples, TrainOptions train) => LinkSeconds + (double)samples * train.Epochs / SamplesPerSecond;
}

/// <summary>Whether a selected client delivers this round, decided in simulated time before any work is done.</summary>
public sealed record Participation(bool Delivers, DropReason? Reason, double SimSeconds)
{
    /// <param name="deadlineSeconds">Simulated round deadline, 0 = none.</param>
    /// <param name="extraSeconds">Simulated delay a <c>straggle</c> fault adds.</param>
    public static Participation Decide(ClientProfile profile, long seed, int round, int samples, TrainOptions train, double deadlineSeconds,
        double extraSeconds = 0)
    {
        double duration = profile.SimulatedSeconds(samples, train) + extraSeconds;
        var rng = SeedStream.Rng(seed, round, profile.ClientId, Purpose.Dropout);
        if (rng.NextDouble() < profile.DropoutProbability)
            return new Participation(false, DropReason.DroppedOut, rng.NextDouble() * duration);
        if (deadlineSeconds > 0 && duration > deadlineSeconds)
            return new Participation(false, DropReason.MissedDeadline, deadlineSeconds);
        return new Participation(true, null, duration);
    }
}
