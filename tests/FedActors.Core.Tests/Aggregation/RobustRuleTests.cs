using FedActors.Core.Aggregation;
using FedActors.Core.Config;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using Xunit;

namespace FedActors.Core.Tests.Aggregation;

[Collection("Torch")]
public class RobustRuleTests
{
    private static readonly RoundContext Ctx = new(1, new ParameterVector([0f, 0f]), 5, Seed: 3);

    private static ClientUpdate[] Updates(params float[][] vs) => vs.Select((v, i) => new ClientUpdate(i, new ParameterVector(v), 10, 0)).ToArray();

    [Fact]
    public void Krum_should_pick_the_update_with_the_smallest_sum_to_its_nearest_neighbours()
    {
        // n = 5, f = 1: each update is scored on its n − f − 2 = 2 nearest. Squared distances by hand:
        // [0,0]: 1 + 2 = 3; [1,0]: 1 + 1 = 2; [0,2]: 2 + 4 = 6; [1,1]: 1 + 2 = 3; [10,10]: 162 + 164 = 326
        var u = Updates([0, 0], [1, 0], [0, 2], [1, 1], [10, 10]);
        Assert.Equal([3.0, 2.0, 6.0, 3.0, 326.0], Krum.Scores(u.Select(x => x.Delta.Values).ToArray(), 1));
        var r = new Krum(new KrumOptions(1)).Aggregate(Ctx, u);
        Assert.Equal([1f, 0f], r.Delta.Values);
        Assert.Equal([1], r.Accepted.ToArray());
    }

    [Fact]
    public void Krum_should_refuse_rounds_that_break_n_greater_than_2f_plus_2()
    {
        var e = Assert.Throws<RulePreconditionException>(() => new Krum(new KrumOptions(2)).Aggregate(Ctx, Updates([0], [1], [2], [3], [4], [5])));
        Assert.Contains("n > 2f + 2", e.Message);
    }

    [Fact]
    public void MultiKrum_should_rescore_after_each_pick_and_average_the_picks()
    {
        // n = 7, f = 1, m = n − 2f − 2 = 3. First pass (4 nearest): [2] scores 10, the lowest. Then among the rest
        // (3 nearest) [1] and [3] tie at 14, the lower id wins; then [3] scores 10. Mean of [2], [1], [3] = 2.
        var u = Updates([0], [1], [2], [3], [4], [50], [100]);
        var r = new MultiKrum(new MultiKrumOptions(1)).Aggregate(Ctx, u);
        Assert.Equal([2f], r.Delta.Values);
        Assert.Equal([1, 2, 3], r.Accepted.ToArray());
    }

    [Fact]
    public void Median_should_take_each_coordinates_middle_value()
    {
        Assert.Equal([2f, 4f], Median.Of([[1, 5], [2, 3], [9, 4]]));
        Assert.Equal([2.5f], Median.Of([[1], [2], [3], [10]]));
    }

    [Fact]
    public void TrimmedMean_should_drop_beta_values_at_each_end_of_each_coordinate()
    {
        // coordinate 0: 1 2 3 4 10 → mean(2, 3, 4) = 3; coordinate 1: −5 0 4 7 100 → mean(0, 4, 7) = 11/3
        var r = TrimmedMean.Of([[1, 100], [2, -5], [3, 7], [10, 0], [4, 4]], 1);
        Assert.Equal(3f, r[0]);
        Assert.Equal(11f / 3, r[1], 5);
        Assert.Throws<RulePreconditionException>(() => new TrimmedMean(new TrimmedMeanOptions(2)).Aggregate(Ctx, Updates([1], [2], [3], [4])));
    }

    [Fact]
    public void Bulyan_should_krum_select_n_minus_2f_then_average_the_values_nearest_the_median()
    {
        // n = 7, f = 1: θ = 5 picked by repeated Krum: [2], [1], [3], [0], [4]; β = θ − 2f = 3 values nearest the
        // median 2 are 2, 1, 3 → 2.
        var u = Updates([0], [1], [2], [3], [4], [50], [100]);
        var r = new Bulyan(new BulyanOptions(1)).Aggregate(Ctx, u);
        Assert.Equal([2f], r.Delta.Values);
        Assert.Equal([0, 1, 2, 3, 4], r.Accepted.ToArray());
        Assert.Throws<RulePreconditionException>(() => new Bulyan(new BulyanOptions(2)).Validate(10));
    }

    [Fact]
    public void FLTrust_should_weight_by_relu_cosine_to_the_root_update_and_rescale_to_its_norm()
    {
        // root [1, 0]: [2, 0] has cos 1 → rescaled [1, 0]; [0, 3] cos 0 and [−1, 0] cos −1 get no trust;
        // [1, 1] has cos 1/√2 → rescaled [1/√2, 1/√2]. Aggregate = (1·[1, 0] + (1/√2)·[1/√2, 1/√2]) / (1 + 1/√2).
        var u = Updates([2, 0], [0, 3], [-1, 0], [1, 1]);
        var r = new FLTrust().Aggregate(Ctx with { RootUpdate = new ParameterVector([1, 0]) }, u);
        double s = 1 / Math.Sqrt(2);
        Assert.Equal((1 + s * s) / (1 + s), r.Delta.Values[0], 5);
        Assert.Equal(s * s / (1 + s), r.Delta.Values[1], 5);
        Assert.Equal([0, 3], r.Accepted.ToArray());
    }

    [Fact]
    public void DnC_should_filter_updates_that_stand_out_along_the_top_singular_direction()
    {
        var rng = new Rng(11);
        var vs = Enumerable.Range(0, 10).Select(i =>
        {
            var v = Enumerable.Range(0, 200).Select(_ => (float)(rng.NextGaussian() * 0.1)).ToArray();
            if (i is 3 or 7) for (int j = 0; j < v.Length; j++) v[j] += 2f; // two colluders shifted the same way
            return v;
        }).ToArray();
        var r = new DnC(new DnCOptions(2, SubsampleSize: 50)).Aggregate(Ctx, Updates(vs));
        Assert.DoesNotContain(3, r.Accepted);
        Assert.DoesNotContain(7, r.Accepted);
        Assert.Equal(8, r.Accepted.Length);
    }

    public static TheoryData<string> RuleNames() => new(AggregationRegistry.Names);

    private static IOptionReader Options(string name) => new DictionaryOptions($"fedactors.defence.{name}", new Dictionary<string, object>
    {
        ["f"] = 1, ["m"] = 0, ["beta"] = 1, ["check-precondition"] = true, ["iterations"] = 3, ["subsample-size"] = 100, ["filter-fraction"] = 1.0,
        ["mask-learning-rate"] = 1e7, ["mask-gradient-clamp"] = 1e-7, ["max-iterations"] = 20, ["early-stop-delta"] = 0.01, ["threshold"] = 0.5, ["no-attack-check"] = "bic", ["benign-cluster"] = "root", ["min-separation"] = 6.0, ["root-scale"] = "raw", ["step-order"] = "step-then-check", ["noise-lambda"] = 0.001, ["distance-on"] = "updates",
    });

    [Theory]
    [MemberData(nameof(RuleNames))]
    public void Every_registered_rule_should_aggregate_n_updates_to_a_finite_vector_whatever_their_arrival_order(string name)
    {
        var rng = new Rng(5);
        var u = Updates(Enumerable.Range(0, 9).Select(_ => Enumerable.Range(0, 30).Select(_ => (float)rng.NextGaussian()).ToArray()).ToArray());
        // a 30-parameter model (Linear(4, 4) body, Linear(4, 2) head) and 100 root samples, for rules that compute
        using var model = new Core.Models.SplitModel("tiny", TorchSharp.torch.nn.Linear(4, 4), TorchSharp.torch.nn.Linear(4, 2));
        using var data = Core.Data.SyntheticDataset.Create(1, 100, 2, [4]);
        var server = new ServerResources(model, data, Enumerable.Range(0, 100).ToArray(), new Core.Training.TrainOptions(1, 10, 0.1));
        var ctx = Ctx with
        {
            Global = new ParameterVector(new float[30]),
            RootUpdate = new ParameterVector(Enumerable.Range(0, 30).Select(_ => (float)rng.NextGaussian()).ToArray()),
            Server = server,
        };
        var a = AggregationRegistry.Create(name, Options(name)).Aggregate(ctx, u);
        // the same updates arriving in another order, collected as the coordinator collects them (RoundState, which
        // hands the rule client-id order): the rule must give the same aggregate
        var shuffled = u.OrderBy(x => (x.ClientId * 7 + 3) % u.Count()).ToArray();
        Assert.NotEqual(u.Select(x => x.ClientId), shuffled.Select(x => x.ClientId));
        var state = Core.Simulation.RoundState.Start(1, u.Select(x => x.ClientId));
        foreach (var x in shuffled) state = state.OnUpdate(x, 30, 1, 1);
        var b = AggregationRegistry.Create(name, Options(name)).Aggregate(ctx, state.OrderedUpdates);
        Assert.Equal(30, a.Delta.Length);
        Assert.True(a.Delta.IsFinite());
        Assert.Equal(a.Delta.Values, b.Delta.Values);
        Assert.NotEmpty(a.Accepted);
    }
}

public class FlameTests
{
    [Fact]
    public void Flame_should_keep_the_majority_direction_and_clip_to_the_median_norm()
    {
        // six updates along +x (norms 1..6) and three along −y: the majority cluster is the +x group
        float[][] vs = [[1, 0.01f], [2, 0], [3, 0.02f], [4, 0], [5, 0.01f], [6, 0], [0, -50], [0.01f, -60], [0, -70]];
        Assert.Equal([0, 1, 2, 3, 4, 5], Flame.MajorityCluster(vs));
        var u = vs.Select((v, i) => new ClientUpdate(i, new ParameterVector(v), 10, 0)).ToArray();
        var r = new Flame(new FlameOptions(NoiseLambda: 0)).Aggregate(new RoundContext(1, new ParameterVector([0, 0]), 9), u);
        // norms 1, 2, 3, 4, 5, 6, 50, 60, 70: median S = 5, so [6, 0] is clipped to [5, 0]; mean x = (1+2+3+4+5+5)/6
        Assert.Equal(20f / 6, r.Delta.Values[0], 4);
        Assert.Equal([0, 1, 2, 3, 4, 5], r.Accepted.ToArray());
    }
}
