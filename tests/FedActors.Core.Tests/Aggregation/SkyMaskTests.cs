using FedActors.Core.Aggregation;
using FedActors.Core.Randomness;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Aggregation;

[Collection("Torch")]
public class SkyMaskTests
{
    [Theory]
    [InlineData("step-then-check", 1e9, 1)] // stops at the first check: the reference has already stepped once
    [InlineData("check-then-step", 1e9, 0)]
    [InlineData("step-then-check", 100, 11)] // passes the check at 0 (the loss falls from 1e4), stops at 10
    [InlineData("check-then-step", 100, 10)]
    [InlineData("step-then-check", -1e9, 20)] // never stops
    public void Mask_training_should_take_its_steps_in_the_references_order(string order, double earlyStopDelta, int steps)
    {
        // arrange: a tiny model, three client models around the global one, a 20-sample root set
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 4, samples: 400));
        using var model = e.CreateModel();
        var global = e.InitialWeights();
        var rng = new Rng(9);
        var deltas = Enumerable.Range(0, 3).Select(_ => new Updates.ParameterVector([.. Enumerable.Range(0, global.Length).Select(_ => (float)(0.01 * rng.NextGaussian()))])).ToArray();
        var server = new ServerResources(model, e.Data, [.. Enumerable.Range(0, 20)], e.Settings.Train);
        var rule = new SkyMask(new SkyMaskOptions(1e7, 1e-7, 20, earlyStopDelta, 0.5, "off", "root", 6, "raw", order));

        // act
        rule.TrainMasks(new RoundContext(1, global, 3, Seed: 1), deltas, server);

        // assert
        Assert.Equal(steps, rule.LastSteps);
    }

    [Fact]
    public void The_split_should_drop_the_pushed_clients_and_the_no_attack_gate_should_only_read_the_separation()
    {
        // arrange: six client updates around the global model, clients 4 and 5 pushed far along one direction
        using var e = TestExperiments.Load(TestExperiments.Synthetic(clients: 4, samples: 400));
        using var model = e.CreateModel();
        var global = e.InitialWeights();
        var rng = new Rng(4);
        var push = Enumerable.Range(0, global.Length).Select(_ => (float)rng.NextGaussian()).ToArray();
        var updates = Enumerable.Range(0, 6).Select(id => new ClientUpdate(id, new Updates.ParameterVector([.. Enumerable.Range(0, global.Length)
            .Select(j => (float)(0.01 * rng.NextGaussian() + (id >= 4 ? 0.5 * push[j] : 0)))]), 50, 0)).ToArray();
        var root = new Updates.ParameterVector([.. Enumerable.Range(0, global.Length).Select(_ => (float)(0.01 * rng.NextGaussian()))]);
        var server = new ServerResources(model, e.Data, [.. Enumerable.Range(0, 20)], e.Settings.Train);
        AggregationResult Aggregate(double minSeparation, out SkyMask rule)
        {
            rule = new SkyMask(new SkyMaskOptions(1e7, 1e-7, 20, 0.01, 0.5, "separation", "root", minSeparation, "raw", "step-then-check"));
            return rule.Aggregate(new RoundContext(1, global, 6, Seed: 1, RootUpdate: root, Server: server), updates);
        }

        // act: a gate every D passes (0) and one none does (∞), on the same round
        var split = Aggregate(0.0, out var splitRule);
        var kept = Aggregate(double.PositiveInfinity, out _);

        // assert: the same masks and D either way (the gate only reads D)
        Assert.True(double.IsFinite(split.Diagnostics!["separation"]) && split.Diagnostics["separation"] > 0, $"D = {split.Diagnostics["separation"]}");
        Assert.Equal(split.Diagnostics["separation"], kept.Diagnostics!["separation"]);
        Assert.Equal(split.Diagnostics["mask_steps"], kept.Diagnostics["mask_steps"]);
        Assert.Equal(splitRule.LastSteps, split.Diagnostics["mask_steps"]);
        // the split stands and drops exactly the pushed clients; their mean is what is aggregated
        Assert.Equal((1.0, 4.0), (split.Diagnostics["split"], split.Diagnostics["kept"]));
        Assert.Equal([0, 1, 2, 3], split.Accepted.Order());
        AssertMean(updates.Take(4), split.Delta);
        // the gate keeps everyone: the plain mean of all six
        Assert.Equal((0.0, 6.0), (kept.Diagnostics["split"], kept.Diagnostics["kept"]));
        Assert.Equal([0, 1, 2, 3, 4, 5], kept.Accepted.Order());
        AssertMean(updates, kept.Delta);
    }

    private static void AssertMean(IEnumerable<ClientUpdate> updates, Updates.ParameterVector delta)
    {
        var u = updates.ToArray();
        for (int j = 0; j < delta.Length; j++)
        {
            double mean = u.Average(x => (double)x.Delta.Values[j]);
            Assert.True(Math.Abs(delta.Values[j] - mean) <= 1e-6 + 1e-5 * Math.Abs(mean), $"coordinate {j}: {delta.Values[j]} vs mean {mean}");
        }
    }

    [Fact]
    public void Eigen_and_PCA_should_recover_a_known_spectrum()
    {
        var (values, vectors) = Clustering.SymmetricEigen(new double[,] { { 2, 1 }, { 1, 2 } });
        Assert.Equal([1.0, 3.0], values.Order().Select(v => Math.Round(v, 9)));
        int top = values[0] > values[1] ? 0 : 1;
        Assert.Equal(1 / Math.Sqrt(2), Math.Abs(vectors[0, top]), 9);
        // points on a line: PCA's first score carries all the spread
        double[][] rows = [[0, 0], [1, 1], [2, 2], [3, 3]];
        var gram = new double[4, 4];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) gram[i, j] = rows[i][0] * rows[j][0] + rows[i][1] * rows[j][1];
        var scores = Clustering.PcaScoresFromCentredGram(Clustering.CentreGram(gram), 2);
        Assert.Equal(Math.Sqrt(2) * 3, Math.Abs(scores[3][0] - scores[0][0]), 6);
        Assert.All(scores, s => Assert.Equal(0, s[1], 6));
    }

    [Fact]
    public void The_mixture_should_separate_two_blobs_and_BIC_should_prefer_one_for_one_blob()
    {
        var rng = new Rng(3);
        var two = Enumerable.Range(0, 40).Select(i => new[] { (i < 30 ? 0 : 8) + rng.NextGaussian(), rng.NextGaussian() }).ToArray();
        var fit = Clustering.FitGaussianMixture(two, 2, new Rng(1));
        Assert.Single(fit.Labels.Take(30).Distinct());
        Assert.Single(fit.Labels.Skip(30).Distinct());
        Assert.NotEqual(fit.Labels[0], fit.Labels[39]);
        Assert.True(fit.Bic < Clustering.FitGaussianMixture(two, 1, new Rng(1)).Bic);
        var one = Enumerable.Range(0, 40).Select(_ => new[] { rng.NextGaussian(), rng.NextGaussian() }).ToArray();
        Assert.True(Clustering.FitGaussianMixture(one, 1, new Rng(1)).Bic <= Clustering.FitGaussianMixture(one, 2, new Rng(1)).Bic);
    }

    private static readonly Core.Config.ExperimentSettings Setting =
        TestExperiments.Synthetic(rounds: 4, clients: 20, perRound: 20, samples: 2400, seed: 5, model: "mlp")
            with { Server = new Core.Config.ServerSettings(1.0, 100, 0.1, 1) };

    private static List<RoundSummary> Run(Core.Config.ExperimentSettings s)
    {
        using var e = TestExperiments.Load(s);
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        return new PlainSimulation(e, pool).Run().ToList();
    }

    private static readonly Dictionary<string, object> Defaults = new()
    {
        ["mask-learning-rate"] = 1e7, ["mask-gradient-clamp"] = 1e-7, ["max-iterations"] = 20, ["early-stop-delta"] = 0.01, ["threshold"] = 0.5, ["no-attack-check"] = "bic", ["benign-cluster"] = "root", ["min-separation"] = 6.0, ["root-scale"] = "raw",
    };

    [Fact]
    public void SkyMask_should_keep_every_client_without_an_attack()
    {
        var rounds = Run(Setting.WithRule("skymask", Defaults));
        Assert.All(rounds, r => Assert.Equal(0, r.Flagged));
        Assert.True(rounds[^1].Accuracy > 0.5, $"accuracy {rounds[^1].Accuracy}");
    }

    /// <summary>From round 3 on: in the first rounds the model is near its random start, the root loss says little
    /// and the mask patterns are noisy (measured: round 1 caught 0–2 of 4).</summary>
    [Theory]
    [InlineData("sign-flip")]
    [InlineData("min-max")]
    public void SkyMask_should_flag_clearly_poisoned_updates_once_the_model_has_learnt_something(string attack)
    {
        var rounds = Run(Setting.WithAttack(attack, 0.2, options: new Dictionary<string, object> { ["scale"] = 4.0 }).WithRule("skymask", Defaults));
        foreach (var r in rounds.Skip(2))
        {
            Assert.Equal(4, r.Malicious);
            Assert.True(r.TruePositives == 4, $"round {r.Round}: caught {r.TruePositives} of 4");
            Assert.True(r.FalsePositives <= 1, $"round {r.Round}: {r.FalsePositives} benign updates flagged");
        }
        var fedavg = Run(Setting.WithAttack(attack, 0.2, options: new Dictionary<string, object> { ["scale"] = 4.0 }));
        Assert.True(rounds[^1].Accuracy > fedavg[^1].Accuracy, $"SkyMask {rounds[^1].Accuracy:F3} vs FedAvg {fedavg[^1].Accuracy:F3}");
    }
}
