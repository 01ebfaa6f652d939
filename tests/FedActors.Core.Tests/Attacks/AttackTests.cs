using FedActors.Core.Aggregation;
using FedActors.Core.Attacks;
using FedActors.Core.Config;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Attacks;

public class AttackTests
{
    private static ClientUpdate[] Updates(params float[][] vs) => vs.Select((v, i) => new ClientUpdate(i, new ParameterVector(v), 10, 0)).ToArray();

    private static float[][] Benign(int n, int d, int seed, float shift = 0.3f, float trend = 0.01f)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(j => (float)(shift + 0.1 * rng.NextGaussian() + trend * j)).ToArray()).ToArray();
    }

    private static AttackContext Ctx(int n = 10, int f = 2) => new(1, new ParameterVector([0f]), n, f, Seed: 9);

    [Fact]
    public void Lie_z_should_follow_n_and_f()
    {
        // n = 100, f = 20: s = 51 − 20 = 31, z = Φ⁻¹(69/100) = 0.4959
        Assert.Equal(0.4959, Lie.Z(100, 20), 4);
        // n = 10, f = 2: s = 6 − 2 = 4, z = Φ⁻¹(0.6) = 0.2533
        Assert.Equal(0.253347, Lie.Z(10, 2), 5);
        Assert.Equal(1.959964, Statistics.NormalQuantile(0.975), 6);
    }

    [Fact]
    public void Lie_should_send_the_mean_shifted_by_z_standard_deviations()
    {
        // known [1, 0] and [3, 2]: μ = [2, 1], σ = [1, 1]; z(10, 2) = 0.253347 → μ − zσ
        var crafted = new Lie(new LieOptions()).Craft(Ctx(), Updates([1, 0], [3, 2]), Updates([5, 5]));
        Assert.Equal(2 - 0.253347, crafted[0].Values[0], 5);
        Assert.Equal(1 - 0.253347, crafted[0].Values[1], 5);
    }

    [Fact]
    public void MinMax_should_find_the_largest_gamma_whose_bound_still_holds()
    {
        var known = Benign(6, 20, 1);
        var o = new AgrAgnosticOptions();
        var crafted = MinMax.Of(known, o);
        var d = VectorMath.PairwiseSquaredDistances(known);
        double bound = d.Cast<double>().Max();
        double worst = known.Max(k => VectorMath.SquaredDistance(crafted, k));
        Assert.True(worst <= bound, $"{worst} > {bound}");
        Assert.True(worst > 0.99 * bound, $"γ is not maximal: {worst} vs {bound}");
        // crafted = μ − γ μ/‖μ‖ points against the benign mean
        Assert.True(VectorMath.Dot(crafted, VectorMath.Mean(known)) < VectorMath.Dot(VectorMath.Mean(known), VectorMath.Mean(known)));
    }

    [Fact]
    public void MinSum_should_keep_its_summed_distance_under_the_smallest_benign_sum()
    {
        var known = Benign(6, 20, 2);
        var crafted = MinSum.Of(known, new AgrAgnosticOptions());
        var d = VectorMath.PairwiseSquaredDistances(known);
        double bound = Enumerable.Range(0, 6).Min(i => Enumerable.Range(0, 6).Sum(j => d[i, j]));
        double sum = known.Sum(k => VectorMath.SquaredDistance(crafted, k));
        Assert.True(sum <= bound && sum > 0.99 * bound, $"{sum} vs {bound}");
    }

    [Fact]
    public void The_gamma_search_should_match_the_reference_procedure()
    {
        // constraint γ ≤ 7.3 from γ₀ = 10: converges to 7.3 within the tolerance
        Assert.Equal(7.3, AgrAgnostic.SearchGamma(g => g <= 7.3, 10, 1e-5), 4);
        Assert.Equal(0, AgrAgnostic.SearchGamma(_ => false, 10, 1e-5));
    }

    [Fact]
    public void FangTrim_should_push_every_coordinate_against_the_benign_direction()
    {
        var known = Benign(5, 30, 3);
        var mu = VectorMath.Mean(known);
        var sigma = VectorMath.Std(known, mu);
        var partial = FangTrim.Of(known, new FangTrimOptions("partial"), new Rng(1));
        for (int j = 0; j < 30; j++)
        {
            Assert.True(mu[j] > 0);
            Assert.InRange(partial[j], mu[j] - 4 * sigma[j] - 1e-6, mu[j] - 3 * sigma[j] + 1e-6);
        }
        var full = FangTrim.Of(known, new FangTrimOptions("full"), new Rng(1));
        for (int j = 0; j < 30; j++)
        {
            float min = known.Min(k => k[j]);
            Assert.InRange(full[j], min / 2 - 1e-6, min + 1e-6); // min > 0: uniform in [min/b, min]
        }
    }

    [Fact]
    public void FangKrum_should_craft_an_update_that_Krum_selects()
    {
        // realistic updates: a small common direction under much larger per-client noise
        var known = Benign(8, 40, 4, shift: 0.02f, trend: 0);
        var crafted = FangKrum.Of(known, m: 10, f: 2, new FangKrumOptions());
        var pool = new[] { crafted, crafted }.Concat(known).ToArray();
        Assert.True(Krum.Select(pool, 2) < 2, "Krum did not pick a crafted copy");
        var mu = VectorMath.Mean(known);
        for (int j = 0; j < 40; j++) Assert.True(crafted[j] * Math.Sign(mu[j]) < 0, $"coordinate {j} is not −λ·sign(μ)");
        Assert.Single(crafted.Select(Math.Abs).Distinct());
    }

    [Fact]
    public void SignFlip_and_scaling_should_transform_the_own_update_exactly()
    {
        var m = Updates([1, -2]);
        Assert.Equal([-1f, 2f], new SignFlip(new SignFlipOptions()).Craft(Ctx(), [], m)[0].Values);
        Assert.Equal([-4f, 8f], new SignFlip(new SignFlipOptions(4)).Craft(Ctx(), [], m)[0].Values);
        Assert.Equal([5f, -10f], new Scaling(new ScalingOptions()).Craft(Ctx(10, 2), [], m)[0].Values); // boost n/f = 5
    }

    [Fact]
    public void GaussianNoise_should_have_the_configured_spread_and_be_seeded()
    {
        var m = Updates(new float[20_000]);
        var a = new GaussianNoise(new GaussianNoiseOptions(200)).Craft(Ctx(), [], m)[0].Values;
        var b = new GaussianNoise(new GaussianNoiseOptions(200)).Craft(Ctx(), [], m)[0].Values;
        Assert.Equal(a, b);
        Assert.InRange(Math.Sqrt(a.Average(v => (double)v * v)), 196, 204);
    }

    [Fact]
    [Trait("Category", "Torch")]
    public void Data_attacks_should_flip_labels_and_stamp_the_trigger()
    {
        using var scope = torch.NewDisposeScope();
        var y = torch.tensor(new long[] { 0, 3, 9 });
        var x = torch.zeros(3, 1, 8, 8);
        var (_, flipped) = new LabelFlip().Poison(x, y, 10, new Rng(1));
        Assert.Equal(new long[] { 9, 6, 0 }, flipped.data<long>().ToArray());
        var (px, py) = new Scaling(new ScalingOptions(Fraction: 1.0)).Poison(x, y, 10, new Rng(1));
        Assert.Equal(new long[] { 0, 0, 0 }, py.data<long>().ToArray());
        Assert.Equal(3 * 25f, px.sum().item<float>());
        Assert.Equal(0f, x.sum().item<float>()); // the input batch is untouched
    }

    public static TheoryData<string> AttackNames() => new(AttackRegistry.Names);

    private static IOptionReader Options(string name) => new DictionaryOptions($"fedactors.attack.{name}", new Dictionary<string, object>
    {
        ["min-lambda"] = 1e-5, ["knowledge"] = "partial", ["b"] = 2.0, ["sigma"] = 1.0, ["direction"] = "minus", ["perturbation"] = "unit-vector",
        ["gamma-init"] = 10.0, ["tolerance"] = 1e-5, ["fraction"] = 0.5, ["target-label"] = 0, ["patch-size"] = 5, ["patch-value"] = 1.0, ["boost"] = 0.0, ["scale"] = 1.0,
    });

    [Theory]
    [MemberData(nameof(AttackNames))]
    public void Every_registered_attack_should_build_and_craft_finite_updates_of_the_right_length(string name)
    {
        var attack = AttackRegistry.Create(name, Options(name));
        Assert.True(attack.Data is not null || attack.Model is not null);
        if (attack.Model is null) return;
        var known = Updates(Benign(6, 25, 7));
        var crafted = attack.Model.Craft(Ctx(10, 2), known, known.Take(2).ToArray());
        Assert.Equal([0, 1], crafted.Keys.Order());
        Assert.All(crafted.Values, v => { Assert.Equal(25, v.Length); Assert.True(v.IsFinite()); });
    }

    [Fact]
    public void Knowledge_all_should_craft_from_every_update_of_the_round_benign_and_colluding()
    {
        // arrange: LIE (μ − z·σ of what it knows), two colluders and three benign clients
        var rng = new Rng(8);
        ClientUpdate Update(int id) => new(id, new ParameterVector([.. Enumerable.Range(0, 6).Select(_ => (float)rng.NextGaussian())]), 10, 0);
        var malicious = new[] { Update(1), Update(4) };
        var benign = new[] { Update(0), Update(2), Update(3) };
        Collusion Make(string knowledge) =>
            new(TestExperiments.Synthetic(clients: 5).WithAttack("lie", knowledge: knowledge).Attack!, 5, 1);
        var global = new ParameterVector(new float[6]);

        // act
        var all = Make("all").Craft(1, global, 5, 2, malicious, benign);
        var colluders = Make("colluders").Craft(1, global, 5, 2, malicious, benign);

        // assert: "all" is LIE on the five updates in id order; "colluders" on the two honest colluder updates
        var context = new AttackContext(1, global, 5, 2, 1);
        Assert.Equal(new Lie(new LieOptions()).Craft(context, [.. benign.Concat(malicious).OrderBy(u => u.ClientId)], malicious)[1].Values, all[1].Values);
        Assert.Equal(new Lie(new LieOptions()).Craft(context, malicious, malicious)[1].Values, colluders[1].Values);
        Assert.NotEqual(all[1].Values, colluders[1].Values);
        Assert.True(Make("all").Observed(1));
    }
}
