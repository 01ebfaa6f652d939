using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.Core.Simulation;
using FedActors.Core.Training;

namespace FedActors.TestSupport;

/// <summary>Small, fast, seeded experiments on the synthetic dataset.</summary>
public static class TestExperiments
{
    public static ExperimentSettings Synthetic(int rounds = 3, int clients = 12, int perRound = 6, double dropout = 0,
        double deadline = 0, long seed = 7, string model = "mlp", int samples = 1200, int workers = 2) =>
        new("test", seed, rounds,
            new DataSettings("synthetic", "", "train+test", 0, samples, new PartitionOptions("dirichlet", 0.5, 2, true, 20, 0.75)),
            model,
            new TrainOptions(1, 10, 0.05),
            new PopulationSettings(clients, 0.5, perRound, new DropoutSettings(dropout, 0, 0.5), new SpeedSettings(100, 0.8, 1)),
            new RoundSettings(deadline, TimeSpan.FromSeconds(30), 1),
            "fedavg",
            new DeviceSettings("cpu", workers, 1));

    public static Experiment Load(ExperimentSettings settings) => Experiment.Load(settings);
}
