using FedActors.Core.Config;
using FedActors.Core.Data;
using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

/// <summary>A data-poisoning attack on a personalised run: a malicious client's local training, in every method's own
/// loop, runs on poisoned batches, exactly as an honest client's would on data poisoned at the source — given the same
/// download step. The download steps (FedALA's ALA pass, GPFL's label shares) read the client's clean data, by choice
/// (README, "Attacks on personalised runs"), so from round 2 on a poisoned client's upload is not bit for bit the
/// flipped-data client's.</summary>
[Collection("Torch")]
public class PersonalPoisoningTests
{
    private const int Malicious = 2;

    private static ExperimentSettings Attacked(ExperimentSettings s) =>
        s with { Attack = new AttackSettings("label-flip", 0, [Malicious], 1, "colluders", TestOptions.For("fedactors.attack.label-flip")) };

    /// <summary>A copy of the samples (an experiment owns its data), with every label y turned into C − 1 − y when
    /// <paramref name="flip"/> (label flipping done to the data itself).</summary>
    private static Dataset Copy(Dataset d, bool flip = false) =>
        new(flip ? "flipped" : "copy", [.. d.Features.data<float>()], [.. d.Labels.Select(y => flip ? d.NumClasses - 1 - y : y)], d.SampleShape, d.NumClasses);

    [Theory]
    [InlineData("fedala")]
    [InlineData("dbe")]
    [InlineData("gpfl")]
    [InlineData("fedcp")]
    public async Task A_label_flipping_client_should_train_as_an_honest_client_on_flipped_data(string name)
    {
        // arrange: the run with client 2 flipping labels; the same run without an attack, on the same partition of data whose
        // labels are all flipped; and the same run without an attack on the true data
        var s = TestPersonalisation.NonIid(rounds: 2, clients: 6).WithPersonalisation(name);
        using var attacked = TestPersonalisation.Load(Attacked(s));
        using var atSource = new Experiment(s, Copy(attacked.Data, flip: true), attacked.Partition, attacked.TestIndices);
        using var honest = new Experiment(s, Copy(attacked.Data), attacked.Partition, attacked.TestIndices);
        var method = s.CreatePersonalisation()!;
        using var pool = new TorchWorkerPool(1, 1, attacked.CreateModel);
        var global = method.InitialGlobal(attacked);
        // DBE trains against the server's global feature mean: the same one for all three
        float[]? extra = method.NeedsPreparation ? await pool.Run(slot => Enumerable.Range(0, Personal.FeatureSize(slot.Model)).Select(i => 0.01f * i).ToArray()) : null;

        // act: the download step once (on the true data), then the training step in each of the three runs
        var trained = await pool.Run(slot =>
        {
            var received = method.Receive(new PersonalContext(attacked, slot, Malicious, 1, global, extra), method.Initial(attacked, Malicious)) with { ReceivedRound = 1 };
            return new[] { attacked, atSource, honest }.Select(e => method.Train(new PersonalContext(e, slot, Malicious, 1, global, extra), received)).ToArray();
        });

        // assert: poisoned batches give bit for bit what flipped data gives, and not what the true data gives
        Assert.NotNull(new PersonalContext(attacked, null!, Malicious, 1, global, extra).Poison);
        Assert.Null(new PersonalContext(attacked, null!, Malicious + 1, 1, global, extra).Poison);
        Assert.Equal(trained[1].Upload.Delta.Values, trained[0].Upload.Delta.Values);
        Assert.Equal(trained[1].Upload.MeanLoss, trained[0].Upload.MeanLoss);
        Assert.NotEqual(trained[2].Upload.Delta.Values, trained[0].Upload.Delta.Values);
    }

    [Fact]
    public async Task A_backdoors_success_on_a_personal_model_should_count_what_the_plain_evaluator_counts_on_those_weights()
    {
        // arrange: a Local client (its personal model is a plain model) that trains on a scaling backdoor's stamped batches for
        // two rounds, so its model has learnt some of the trigger
        const int client = 1;
        var s = TestPersonalisation.NonIid(rounds: 2, clients: 6).WithPersonalisation("local") with
        {
            Attack = new AttackSettings("scaling", 0, [client], 1, "colluders",
                TestOptions.For("fedactors.attack.scaling", new Dictionary<string, object> { ["target-label"] = 3, ["patch-size"] = 3, ["patch-value"] = 2.5 })),
        };
        using var e = TestPersonalisation.Load(s);
        var method = s.CreatePersonalisation()!;
        var backdoor = (Core.Attacks.IBackdoor)e.Collusion.Attack!.Data!;
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        var global = method.InitialGlobal(e);

        var (personal, evaluated, plain) = await pool.Run(slot =>
        {
            var state = method.Initial(e, client);
            for (int round = 1; round <= 2; round++) state = PersonalStep.Run(method, new PersonalContext(e, slot, client, round, global, null), state, false, true).State;
            var c = new PersonalContext(e, slot, client, 3, global, null);
            var step = PersonalStep.Run(method, c, state, evaluate: true, train: false).Evaluation!;
            var asr = PersonalStep.Backdoor(method, c, state, backdoor);
            new Core.Updates.ParameterVector(state.Require(LocalMethod.ModelPart)).CopyTo(slot.Model);
            return (asr, step, Evaluator.Backdoor(slot.Model, e.Data, c.TestIndices, backdoor));
        });

        // assert: the same hits over the same triggered samples; the evaluation step carries them beside its accuracy
        Assert.True(plain.BackdoorHits > 0, $"{plain.BackdoorHits} of {plain.BackdoorCount}");
        Assert.Equal((plain.BackdoorHits, plain.BackdoorCount), (personal.BackdoorHits, personal.BackdoorCount));
        Assert.Equal((plain.BackdoorHits, plain.BackdoorCount), (evaluated.BackdoorHits, evaluated.BackdoorCount));
        Assert.Equal(e.Partition.Clients[client].Test.Length, evaluated.Count);
    }

    [Theory]
    [InlineData("label-flip", PersonalisationSettings.EvaluateAuto, true)]
    [InlineData("none", PersonalisationSettings.EvaluateAuto, false)]
    [InlineData("none", PersonalisationSettings.EvaluateBenign, true)]
    [InlineData("label-flip", PersonalisationSettings.EvaluateAll, false)]
    public void A_personalised_evaluation_should_leave_out_the_malicious_clients_as_its_mode_says(string attack, string mode, bool leftOut)
    {
        // arrange: 3 of 10 clients malicious by the attack settings (with kind none: the clients that would be)
        var s = TestPersonalisation.NonIid(clients: 10).WithPersonalisation("fedala").WithAttack(attack, fraction: 0.3);
        s = s with { Personalisation = s.Personalisation! with { Evaluate = mode } };
        using var e = TestPersonalisation.Load(s);
        using var attacked = TestPersonalisation.Load(s.WithAttack("label-flip", fraction: 0.3));

        // act
        var picked = ClientEvaluation.Pick(s.Seed, 1, 10, 0, e.NotEvaluated);

        // assert: the ones left out are exactly those the attacked run makes malicious
        Assert.Equal(3, attacked.Collusion.Malicious.Count);
        Assert.Equal(leftOut ? [.. Enumerable.Range(0, 10).Where(id => !attacked.Collusion.IsMalicious(id))] : Enumerable.Range(0, 10).ToArray(), picked);
    }

    [Fact]
    public void A_sampled_personalised_evaluation_should_draw_its_n_clients_from_the_benign_ones()
    {
        // arrange: 20 of 100 clients left out
        var excluded = Enumerable.Range(0, 100).Where(id => id % 5 == 0).ToHashSet();

        for (int round = 1; round <= 20; round++)
        {
            // act
            var picked = ClientEvaluation.Pick(7, round, 100, 3, excluded);

            // assert: always 3 distinct benign clients (before: 3 drawn from all 100, then the malicious dropped — often fewer,
            // sometimes none), and the draw of old when nobody is left out
            Assert.Equal(3, picked.Distinct().Count());
            Assert.DoesNotContain(picked, excluded.Contains);
            Assert.Equal(ClientEvaluation.Pick(7, round, 100, 3), ClientEvaluation.Pick(7, round, 100, 3, new HashSet<int>()));
        }
        Assert.Equal(80, ClientEvaluation.Pick(7, 1, 100, 0, excluded).Length);
        Assert.Equal(80, ClientEvaluation.Pick(7, 1, 100, 90, excluded).Length);
    }

    [Fact]
    public async Task An_attack_off_fault_should_leave_the_malicious_clients_batches_clean()
    {
        var s = TestPersonalisation.NonIid(rounds: 2, clients: 6).WithPersonalisation("fedala");
        using var attacked = TestPersonalisation.Load(Attacked(s));
        using var honest = new Experiment(s, Copy(attacked.Data), attacked.Partition, attacked.TestIndices);
        var method = s.CreatePersonalisation()!;
        using var pool = new TorchWorkerPool(1, 1, attacked.CreateModel);
        var global = method.InitialGlobal(attacked);

        var (off, on, clean) = await pool.Run(slot =>
        {
            var state = method.Initial(attacked, Malicious);
            return (PersonalStep.Run(method, new PersonalContext(attacked, slot, Malicious, 1, global, null) { Attack = false }, state, false, true).Upload!,
                PersonalStep.Run(method, new PersonalContext(attacked, slot, Malicious, 1, global, null), state, false, true).Upload!,
                PersonalStep.Run(method, new PersonalContext(honest, slot, Malicious, 1, global, null), state, false, true).Upload!);
        });

        Assert.Equal(clean.Delta.Values, off.Delta.Values);
        Assert.NotEqual(clean.Delta.Values, on.Delta.Values);
    }
}
