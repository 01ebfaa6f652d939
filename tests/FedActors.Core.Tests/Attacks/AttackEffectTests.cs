using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Attacks;

/// <summary>Attacks and defences on real (small) runs of the plain loop.</summary>
[Collection("Torch")]
public class AttackEffectTests
{
    private static readonly Core.Config.ExperimentSettings Base =
        TestExperiments.Synthetic(rounds: 5, clients: 20, perRound: 20, samples: 2400, seed: 3);

    private static List<RoundSummary> Run(Core.Config.ExperimentSettings s)
    {
        using var e = TestExperiments.Load(s);
        using var pool = new TorchWorkerPool(2, 1, e.CreateModel);
        return new PlainSimulation(e, pool).Run().ToList();
    }

    [Fact]
    public void Sign_flipping_should_hurt_FedAvg_and_the_median_should_resist_it()
    {
        var clean = Run(Base)[^1].Accuracy;
        var attacked = Run(Base.WithAttack("sign-flip", 0.2, options: new Dictionary<string, object> { ["scale"] = 4.0 }))[^1].Accuracy;
        var defended = Run(Base.WithAttack("sign-flip", 0.2, options: new Dictionary<string, object> { ["scale"] = 4.0 }).WithRule("median"))[^1].Accuracy;
        Assert.True(attacked < clean - 0.2, $"FedAvg: clean {clean:F3}, under attack {attacked:F3}, median {defended:F3}");
        Assert.True(defended > attacked + 0.2, $"median {defended:F3} vs FedAvg {attacked:F3} under attack");
    }

    [Fact]
    public void FLTrust_with_a_root_set_should_resist_sign_flipping_and_keep_the_root_out_of_the_clients_data()
    {
        var attacked = Base.WithAttack("sign-flip", 0.2, options: new Dictionary<string, object> { ["scale"] = 4.0 })
            with { Server = new Core.Config.ServerSettings(1.0, 100, 0.1, 1) };
        using (var e = TestExperiments.Load(attacked))
        {
            Assert.Equal(100, e.RootIndices.Length);
            Assert.Empty(e.RootIndices.Intersect(e.Partition.Clients.SelectMany(c => c.Train.Concat(c.Test))));
        }
        var fedavg = Run(attacked)[^1].Accuracy;
        var rounds = Run(attacked.WithRule("fltrust"));
        Assert.True(rounds[^1].Accuracy > fedavg + 0.2, $"FLTrust {rounds[^1].Accuracy:F3} vs FedAvg {fedavg:F3}");
        Assert.True(rounds.Sum(r => r.TruePositives) >= rounds.Sum(r => r.Malicious) * 0.9, "FLTrust should give flipped updates no trust");
    }

    [Fact]
    public void The_scaling_backdoor_should_be_learnt_and_its_success_rate_measured()
    {
        // the same run with the attack active from round 1, and never active (start round 100)
        var attacked = Run(Base.WithAttack("scaling", 0.2));
        var honest = Run(Base.WithAttack("scaling", 0.2, startRound: 100));
        double asr = attacked[^1].AttackSuccess, baseline = honest[^1].AttackSuccess;
        Assert.True(asr > 0.5, $"backdoor success {asr:F3}");
        Assert.True(baseline < 0.3, $"trigger alone moves {baseline:F3} to the target");
        Assert.True(double.IsNaN(Run(Base)[^1].AttackSuccess));
        // each client's own share (clients.csv): every client measured on its own triggered samples, adding up to the
        // round's rate (before: the whole chunk's count on its first client)
        var clients = attacked[^1].PerClient.Outcomes;
        Assert.Equal(20, clients.Count);
        Assert.True(clients.Count(o => o.BackdoorCount > 0) > 10, string.Join(", ", clients.Select(o => o.BackdoorCount)));
        Assert.Equal(asr, (double)clients.Sum(o => o.BackdoorHits) / clients.Sum(o => o.BackdoorCount));
    }

    [Fact]
    public void Held_out_evaluation_should_test_on_samples_no_client_holds()
    {
        using var e = TestExperiments.Load(Base with { Data = Base.Data with { Evaluation = "held-out" } });
        Assert.Equal(2400 / 7, e.TestIndices.Length);
        Assert.Empty(e.TestIndices.Intersect(e.Partition.Clients.SelectMany(c => c.Train.Concat(c.Test))));
    }

    [Fact]
    public void Krum_should_flag_the_gaussian_attackers_and_the_counts_should_add_up()
    {
        var rounds = Run(Base.WithAttack("gaussian", 0.2).WithRule("multi-krum", new Dictionary<string, object> { ["f"] = 4 }));
        foreach (var r in rounds)
        {
            Assert.Equal(4, r.Malicious); // 20 % of 20, all selected, no dropouts
            // Multi-Krum keeps m = n − 2f − 2 = 10 of the 20: all 4 attackers flagged, and 6 benign clients with them
            Assert.Equal((10, 4, 6), (r.Flagged, r.TruePositives, r.FalsePositives));
            Assert.Equal(0.0, r.FalseNegativeRate);
        }
    }

    [Fact]
    public void Attacks_should_start_at_their_start_round()
    {
        var rounds = Run(Base.WithAttack("gaussian", 0.2, startRound: 4).WithRule("krum", new Dictionary<string, object> { ["f"] = 4 }));
        // Krum accepts one update and flags the other 19. Before round 4 the malicious clients send honest updates, so
        // Krum may well pick one of them; from round 4 on their noise is never picked.
        Assert.All(rounds, r => Assert.Equal(19, r.Flagged));
        Assert.All(rounds.Skip(3), r => Assert.Equal((4, 4), (r.Malicious, r.TruePositives)));
        Assert.True(rounds[^1].Accuracy > 0.5, $"accuracy {rounds[^1].Accuracy}");
        // before round 4 nobody attacks: no malicious update to count, none caught (as the actor runtime counts them),
        // and the rounds are the no-attack run's, bit for bit
        Assert.All(rounds.Take(3), r => Assert.Equal((0, 0), (r.Malicious, r.TruePositives)));
        var honest = Run(Base.WithRule("krum", new Dictionary<string, object> { ["f"] = 4 }));
        Assert.Equal(honest.Take(3).Select(r => (r.Accuracy, r.Loss, r.TrainLoss)), rounds.Take(3).Select(r => (r.Accuracy, r.Loss, r.TrainLoss)));
    }

    [Fact]
    public async Task Label_flipping_should_poison_the_malicious_clients_training_data()
    {
        using var honest = TestExperiments.Load(Base);
        using var flipped = TestExperiments.Load(Base.WithAttack("label-flip", 0.2));
        int victim = flipped.Collusion.Malicious.First();
        int bystander = Enumerable.Range(0, 20).First(i => !flipped.Collusion.IsMalicious(i));
        using var pool = new TorchWorkerPool(1, 1, honest.CreateModel);
        var g = honest.InitialWeights();
        Assert.NotEqual((await pool.Run(s => honest.Train(s, g, victim, 1))).Delta.Values, (await pool.Run(s => flipped.Train(s, g, victim, 1))).Delta.Values);
        Assert.Equal((await pool.Run(s => honest.Train(s, g, bystander, 1))).Delta.Values, (await pool.Run(s => flipped.Train(s, g, bystander, 1))).Delta.Values);
    }
}
