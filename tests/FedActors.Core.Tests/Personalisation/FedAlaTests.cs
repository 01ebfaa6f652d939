using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Personalisation;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FedActors.Core.Tests.Personalisation;

[Collection("Torch")]
public class FedAlaTests
{
    // A tiny model: body Linear(4, 3) (15 params), head Linear(3, 2) (8 params); 10 samples, 2 classes.
    private static SplitModel Tiny() => new("tiny", nn.Linear(4, 3), nn.Linear(3, 2));
    private static readonly Dataset Data = SyntheticDataset.Create(3, 10, 2, [4]);
    private static readonly int[] Train = Enumerable.Range(0, 10).ToArray();
    private static ParameterVector Vector(int seed) { var r = new Rng((ulong)seed); return new ParameterVector(Enumerable.Range(0, 23).Select(_ => (float)r.NextGaussian()).ToArray()); }

    [Fact]
    public void The_first_round_should_be_skipped_when_local_and_global_agree()
    {
        using var m = Tiny();
        var g = Vector(1);
        var r = FedAla.Adapt(m, g, new FedAlaState(g, null, true), Data, Train, new FedAlaOptions(), new Rng(1));
        Assert.True(r.Skipped);
        Assert.Same(g, r.State.Local);
        Assert.True(r.State.StartPhase);
    }

    [Fact]
    public void Only_the_top_tensors_should_be_adapted_with_weights_checked_by_hand()
    {
        using var m = Tiny();
        var g = Vector(1);
        var l = Vector(2);
        var o = new FedAlaOptions(LearningRate: 5.0, SamplePercent: 100, BatchSize: 10);
        // one pass, one batch (s = 100 %, batch 10 of 10 samples), W starting at 1
        var r = FedAla.Adapt(m, g, new FedAlaState(l, null, StartPhase: false), Data, Train, o, new Rng(7));

        // by hand: with W = 1 the temporary head equals the global head; W' = clip(1 − η·∂L/∂head ⊙ (G − L), 0, 1)
        using var check = Tiny();
        g.CopyTo(check);
        var (x, y) = Data.Batch(Train);
        nn.functional.cross_entropy(check.forward(x), y).backward();
        var grad = check.Head.parameters().SelectMany(p => p.grad!.data<float>().ToArray()).ToArray();
        var expectedW = grad.Select((gr, k) => Math.Clamp(1 - 5.0 * gr * (g.Values[15 + k] - l.Values[15 + k]), 0, 1)).ToArray();
        Assert.Equal(8, r.State.Weights!.Length);
        for (int k = 0; k < 8; k++) Assert.Equal(expectedW[k], r.State.Weights[k], 5);
        Assert.All(r.State.Weights, w => Assert.InRange(w, 0f, 1f));

        // the body takes the global values; the head is L + (G − L) ⊙ W
        Assert.Equal(g.Values[..15], r.State.Local.Values[..15]);
        for (int k = 0; k < 8; k++)
            Assert.Equal(l.Values[15 + k] + (g.Values[15 + k] - l.Values[15 + k]) * r.State.Weights[k], r.State.Local.Values[15 + k], 5);
        Assert.Equal(1, r.Passes);
    }

    [Fact]
    public void The_first_adapted_round_should_train_the_weights_to_convergence_once()
    {
        using var m = Tiny();
        var first = FedAla.Adapt(m, Vector(1), new FedAlaState(Vector(2), null, StartPhase: true), Data, Train, new FedAlaOptions(), new Rng(3));
        Assert.True(first.Passes > 10, $"{first.Passes} passes");
        Assert.False(first.State.StartPhase);
        var next = FedAla.Adapt(m, Vector(4), first.State, Data, Train, new FedAlaOptions(), new Rng(4));
        Assert.Equal(1, next.Passes);
    }
}
