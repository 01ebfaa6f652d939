using FedActors.Core.Aggregation;
using FedActors.Core.Attacks;
using FedActors.Core.Models;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Attacks;

[Collection("Torch")]
public class PillTests
{
    private static (ModelLayout Layout, float[] Global) Cnn()
    {
        using var m = ModelRegistry.Create("skymask-cnn", [1, 28, 28], 10, torch.CPU, seed: 3);
        return (ModelLayout.Of(m), ParameterVector.From(m).Values);
    }

    [Fact]
    public void The_layout_should_list_each_layer_with_its_offsets()
    {
        var (layout, g) = Cnn();
        Assert.Equal(["body.conv1", "body.conv2", "body.fc1", "head"], layout.Layers.Select(l => l.Name));
        Assert.Equal(g.Length, layout.Length);
        Assert.Equal(139_960, layout.Length);
        Assert.Equal(30 * 9, layout.Layers[0].BiasOffset);
        Assert.True(layout.Layers[3].InHead);
    }

    [Fact]
    public void The_pill_should_be_one_channel_per_feature_layer_fanning_out_to_h_neurons_and_all_outputs()
    {
        var (layout, g) = Cnn();
        var pill = Pill.Construct(layout, g, new PillOptions(ClassifierNeurons: 2));
        // conv1: 9 weights + 1 bias; conv2: 9 + 1; fc1: 2 neurons × 25 inputs (one channel's 5×5 map) + 2 biases;
        // head: 10 outputs × 2 + 10 biases
        Assert.Equal(9 + 1 + 9 + 1 + 50 + 2 + 20 + 10, pill.Coordinates.Length);
        Assert.Equal(4, pill.Neurons.Length);
        // conv1's pill channel is its largest-norm filter
        var conv1 = layout.Layers[0];
        double Norm(int j) => Enumerable.Range(0, 9).Sum(k => (double)g[j * 9 + k] * g[j * 9 + k]);
        Assert.Equal(Enumerable.Range(0, 30).MaxBy(Norm), pill.Neurons[0]);
        // disconnection: conv2's pill channel loses its inputs from the 29 other conv1 channels
        Assert.Equal(29 * 9, pill.Disconnected.Length);
        Assert.Empty(pill.Coordinates.Intersect(pill.Disconnected));
    }

    [Fact]
    public void Pill_injection_should_leave_non_pill_coordinates_honest_and_cut_the_pill_off()
    {
        var (layout, g) = Cnn();
        var rng = new Rng(2);
        ClientUpdate Update(int id) => new(id, new ParameterVector(Enumerable.Range(0, g.Length).Select(_ => (float)(0.01 * rng.NextGaussian())).ToArray()), 10, 0);
        var malicious = new[] { Update(0), Update(1), Update(2) };
        var pill = new Pill(new SignFlip(new SignFlipOptions(4)), new PillOptions(SimAdjust: "off", DistAdjust: "off", Reference: "mean"));
        var ctx = new AttackContext(1, new ParameterVector(g), 10, 3, 1, layout);
        var crafted = pill.Craft(ctx, malicious, malicious);
        var structure = Pill.Construct(layout, g, new PillOptions());
        var special = structure.Coordinates.Concat(structure.Disconnected).ToHashSet();
        foreach (var m in malicious)
        {
            var c = crafted[m.ClientId].Values;
            for (int i = 0; i < g.Length; i++)
                if (!special.Contains(i)) Assert.Equal(m.Delta.Values[i], c[i]);
            foreach (var d in structure.Disconnected) Assert.Equal(0f, g[d] + c[d], 6); // the weight becomes 0
            foreach (var p in structure.Coordinates) Assert.Equal(-4 * m.Delta.Values[p], c[p], 6); // sign-flipped pill
        }
    }

    [Fact]
    public void DistAdjust_should_cap_the_norm_and_SimAdjust_should_restore_the_cosine()
    {
        var (layout, g) = Cnn();
        var rng = new Rng(4);
        var common = Enumerable.Range(0, g.Length).Select(_ => (float)(0.01 * rng.NextGaussian())).ToArray();
        ClientUpdate Update(int id) => new(id, new ParameterVector(common.Select(v => (float)(v + 0.002 * rng.NextGaussian())).ToArray()), 10, 0);
        var malicious = new[] { Update(0), Update(1), Update(2), Update(3) };
        var reference = VectorMath.Mean(malicious.Select(m => m.Delta.Values).ToArray());
        // disconnection off: it moves coordinates the similarity adjustment cannot pull back
        var crafted = new Pill(new SignFlip(new SignFlipOptions(50)), new PillOptions(Disconnection: "off", Reference: "mean")).Craft(new AttackContext(1, new ParameterVector(g), 10, 4, 1, layout), malicious, malicious);
        double meanNorm = malicious.Average(m => VectorMath.Norm(m.Delta.Values));
        double minCos = malicious.Min(m => VectorMath.Cosine(m.Delta.Values, reference));
        foreach (var c in crafted.Values)
        {
            Assert.True(VectorMath.Norm(c.Values) <= meanNorm * (1 + 1e-5));
            Assert.True(VectorMath.Cosine(c.Values, reference) >= minCos - 1e-3, $"cos {VectorMath.Cosine(c.Values, reference)} < {minCos}");
        }
    }

    [Fact]
    public void A_concentrated_budget_should_move_the_whole_deviation_onto_the_pill()
    {
        // hand-sized: μ = 0, the attack's whole vector [1, 2, 1, 2] deviates by √10; the pill (coordinates 0 and 2) holds √2 of it
        var known = new[] { new ClientUpdate(0, new ParameterVector([1f, 1f, -1f, 0f]), 1, 0), new ClientUpdate(1, new ParameterVector([-1f, -1f, 1f, 0f]), 1, 0) };
        var crafted = new Dictionary<int, ParameterVector> { [7] = new([1f, 2f, 1f, 2f]) };
        var pill = Pill.Concentrate(crafted, known, [0, 2])[7];
        Assert.Equal(Math.Sqrt(5), pill[0], 5); // the pill part's direction, stretched to the whole length
        Assert.Equal(Math.Sqrt(5), pill[1], 5);
        Assert.Equal(Math.Sqrt(10), Math.Sqrt(pill.Sum(v => (double)v * v)), 5);
    }

    [Fact]
    public void Pill_only_should_spend_the_pills_share_of_LIEs_budget_and_concentrated_all_of_it()
    {
        // arrange: LIE around the colluders' mean; no disconnection or adjustment, so the pill coordinates are the poison
        var (layout, g) = Cnn();
        var rng = new Rng(5);
        ClientUpdate Update(int id) => new(id, new ParameterVector(Enumerable.Range(0, g.Length).Select(_ => (float)(0.01 * rng.NextGaussian())).ToArray()), 10, 0);
        var malicious = Enumerable.Range(0, 5).Select(Update).ToArray();
        var ctx = new AttackContext(1, new ParameterVector(g), 20, 5, 1, layout);
        var p = Pill.Construct(layout, g, new PillOptions()).Coordinates;
        var mean = VectorMath.Mean(malicious.Select(m => m.Delta.Values).ToArray());
        var lie = new Lie(new LieOptions()).Craft(ctx with { Layout = null }, malicious, malicious)[0].Values;
        double Deviation(float[] v, IEnumerable<int> idx) => Math.Sqrt(idx.Sum(i => Math.Pow((double)v[i] - mean[i], 2)));
        PillOptions Options(string budget) => new(Disconnection: "off", SimAdjust: "off", DistAdjust: "off", Reference: "mean", Budget: budget);

        // act
        var pillOnly = new Pill(new Lie(new LieOptions()), Options("pill-only")).Craft(ctx, malicious, malicious)[0].Values;
        var concentrated = new Pill(new Lie(new LieOptions()), Options("concentrated")).Craft(ctx, malicious, malicious)[0].Values;

        // assert: on the pill, pill-only deviates as LIE does there (z·‖σ[P]‖), concentrated by LIE's whole z·‖σ‖ (~37× more here)
        Assert.Equal(Deviation(lie, p), Deviation(pillOnly, p), 4);
        Assert.Equal(Deviation(lie, Enumerable.Range(0, g.Length)), Deviation(concentrated, p), 3);
        Assert.True(Deviation(concentrated, p) > 10 * Deviation(pillOnly, p));
    }

    [Fact]
    public void DistAdjust_match_should_also_scale_a_short_update_up_and_the_report_should_say_beta()
    {
        // arrange: a mild sign flip of the pill leaves each update a little shorter than the colluders' mean norm
        var (layout, g) = Cnn();
        var rng = new Rng(6);
        ClientUpdate Update(int id) => new(id, new ParameterVector(Enumerable.Range(0, g.Length).Select(_ => (float)((0.01 + 0.005 * id) * rng.NextGaussian())).ToArray()), 10, 0);
        var malicious = Enumerable.Range(0, 4).Select(Update).ToArray();
        var ctx = new AttackContext(3, new ParameterVector(g), 10, 4, 1, layout);
        double meanNorm = malicious.Average(m => VectorMath.Norm(m.Delta.Values));
        Pill Make(string dist) => new(new SignFlip(new SignFlipOptions(0.1)), new PillOptions(Disconnection: "off", SimAdjust: "off", DistAdjust: dist, Reference: "mean"));

        // act
        var off = Make("off").Craft(ctx, malicious, malicious);
        var norm = Make("norm").Craft(ctx, malicious, malicious);
        var matchPill = Make("match");
        var match = matchPill.Craft(ctx, malicious, malicious);

        // assert: norm only shrinks (client 0's update is shorter than the mean: untouched), match brings every update to the mean norm
        Assert.True(VectorMath.Norm(off[0].Values) < meanNorm * 0.9);
        Assert.Equal(off[0].Values, norm[0].Values);
        Assert.All(match.Values, v => Assert.Equal(meanNorm, VectorMath.Norm(v.Values), meanNorm * 1e-5));
        var report = matchPill.LastReport!;
        Assert.Equal(3, report.Round);
        Assert.All(report.Beta.Values, b => Assert.Equal(1, b)); // SimAdjust off
        Assert.Equal(0, report.ZeroBetaShare);
        Assert.All(report.PillDeviation.Values, d => Assert.True(d > 0));
    }

    [Theory]
    [InlineData("repeated", new[] { true, true, true, true, true, true })]
    [InlineData("one-time", new[] { true, false, false, false, false, false })]
    [InlineData("adaptive", new[] { true, false, true, false, true, false })]
    public void A_pattern_should_decide_in_which_attacking_rounds_the_pill_is_searched_again(string pattern, bool[] expected)
    {
        // rounds 3, 4, …, 8 with a period of 2; the first attacking round always searches
        int? last = null;
        var searched = new List<bool>();
        for (int round = 3; round <= 8; round++)
        {
            bool again = Pill.SearchAgain(pattern, last, round, period: 2);
            searched.Add(again);
            if (again) last = round;
        }
        Assert.Equal(expected, searched);
        // a round at or before the remembered one is a new run: search
        Assert.True(Pill.SearchAgain("one-time", 5, 1, 2));
    }

    [Fact]
    public void A_one_time_pill_should_stay_where_it_was_found_while_a_repeated_one_follows_the_model()
    {
        var (layout, g) = Cnn();
        // a later global model whose strongest conv1 filter is another one
        var later = (float[])g.Clone();
        int firstChannel = Pill.SearchPath(layout, g, new PillOptions())[0], other = (firstChannel + 1) % 30;
        for (int k = 0; k < 9; k++) later[other * 9 + k] = 10f;

        var oneTime = new Pill(new SignFlip(new SignFlipOptions(1)), new PillOptions(FeaturePattern: "one-time", ClassifierPattern: "one-time"));
        var repeated = new Pill(new SignFlip(new SignFlipOptions(1)), new PillOptions());
        oneTime.Current(layout, 1, g);
        var kept = oneTime.Current(layout, 2, later);
        Assert.Equal(firstChannel, kept.Neurons[0]);
        Assert.Equal(Pill.Construct(layout, g, new PillOptions()).Coordinates, kept.Coordinates);
        repeated.Current(layout, 1, g);
        Assert.Equal(other, repeated.Current(layout, 2, later).Neurons[0]);
        // a kept classifier with a re-searched path: the same penultimate neurons, wired to the new last feature
        var mixed = new Pill(new SignFlip(new SignFlipOptions(1)), new PillOptions(ClassifierPattern: "one-time"));
        var before = mixed.Current(layout, 1, g);
        var after = mixed.Current(layout, 2, later);
        Assert.Equal(before.Neurons[^2..], after.Neurons[^2..]);
        Assert.Equal(other, after.Neurons[0]);
    }
}

[Collection("Torch")]
public class PillReferenceTests
{
    [Fact]
    public async Task The_extra_trained_reference_should_be_the_global_model_trained_on_the_colluders_pooled_data()
    {
        var settings = FedActors.TestSupport.TestExperiments.Synthetic(rounds: 2, clients: 10, perRound: 10);
        using var e = FedActors.TestSupport.TestExperiments.Load(settings);
        using var pool = new Core.Training.TorchWorkerPool(1, 1, e.CreateModel);
        var g = e.InitialWeights();
        var reference = await pool.Run(s => e.TrainReference(s, g, 1, [2, 5], 3));
        Assert.Equal(e.TrainSamples(2) + e.TrainSamples(5), reference.NumSamples);
        Assert.Equal((settings.Train with { Epochs = 3 }).StepsFor(reference.NumSamples), reference.Steps);
        Assert.Equal(40, new PillOptions().ExtraEpochsFor(colluders: 20, localEpochs: 2)); // f·E
        Assert.Equal(5, new PillOptions(ExtraEpochs: 5).ExtraEpochsFor(20, 2));
    }
}

public class PillMemoryTests
{
    [Fact]
    public void The_Pills_memory_should_survive_a_round_trip_through_a_checkpoint()
    {
        var pill = new FedActors.Core.Attacks.Pill(new FedActors.Core.Attacks.SignFlip(new FedActors.Core.Attacks.SignFlipOptions()), new FedActors.Core.Attacks.PillOptions(FeaturePattern: "one-time"));
        Assert.Empty(pill.Memory);
        pill.Restore(new Dictionary<string, int[]> { ["pill.path"] = [3, 1, 4, 1], ["pill.classifier"] = [5, 9, 2] });
        var memory = pill.Memory;
        Assert.Equal([3, 1, 4, 1], memory["pill.path"]);
        Assert.Equal([5, 9, 2], memory["pill.classifier"]);
        pill.Restore(new Dictionary<string, int[]>());
        Assert.Empty(pill.Memory);
    }
}
