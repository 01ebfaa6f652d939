using FedActors.Core.Data;
using FedActors.Core.Models;
using FedActors.Core.Personalisation;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FedActors.Core.Tests.Personalisation;

[Collection("Torch")]
public class FedDbeTests
{
    // body Linear(4, 3) + ReLU (features of size 3), head Linear(3, 2)
    private static SplitModel Tiny(int seed)
    {
        var m = new SplitModel("tiny", nn.Sequential(("fc", nn.Linear(4, 3)), ("relu", nn.ReLU())), nn.Linear(3, 2));
        using var g = new Generator((ulong)seed);
        m.ResetParameters(g);
        return m;
    }

    private static readonly Dataset Data = SyntheticDataset.Create(5, 40, 2, [4]);
    private static readonly int[] All = Enumerable.Range(0, 40).ToArray();

    [Fact]
    public void The_mean_regulariser_should_be_kappa_times_the_mean_of_half_squared_differences()
    {
        // κ·(1/D)·Σ ½(μ̂ − z̄)² with μ̂ = [1, 2], z̄ = [0, 0], κ = 2: 2 · ½ · (½·1 + ½·4) = 2.5
        using var r = FedDbe.MeanRegulariser(torch.tensor(new[] { 1f, 2f }), torch.tensor(new[] { 0f, 0f }), 2.0);
        Assert.Equal(2.5f, r.item<float>(), 6);
    }

    [Fact]
    public void The_PRBM_should_be_added_to_the_body_output_before_the_head()
    {
        using var m = Tiny(1);
        var w = ParameterVector.From(m);
        var prbm = new[] { 0.5f, -1f, 2f };
        var eval = FedDbe.Evaluate(m, w, prbm, Data, All);
        // by hand: argmax head(body(x) + prbm)
        using var scope = torch.NewDisposeScope();
        var (x, y) = Data.Batch(All);
        using var noGrad = torch.no_grad();
        var logits = m.Head.forward(m.Body.forward(x) + torch.tensor(prbm));
        Assert.Equal(logits.argmax(1).eq(y).sum().item<long>(), eval.Correct);
        // a zero PRBM is the plain model
        Assert.Equal(Evaluator.Evaluate(m, w, Data, All).Correct, FedDbe.Evaluate(m, w, new float[3], Data, All).Correct);
    }

    [Theory]
    [InlineData(1.0)] // DBE's FMNIST script: the last batch's mean
    [InlineData(0.3)] // μ̂ ← 0.7·μ̂ + 0.3·batch mean, from μ̂ = 0
    public void The_running_mean_should_be_the_momentum_average_of_the_batches_feature_means(double momentum)
    {
        // learning rate 0: the body stays the global one, so every batch's feature mean can be computed by hand
        using var m = Tiny(3);
        var g = ParameterVector.From(m);
        var t = new TrainOptions(1, 10, 0.0);
        var outcome = FedDbe.Train(m, g, Data, All, t, new FedDbeOptions(momentum), new float[3], null, new Rng(4));

        var expected = new double[3];
        using var noGrad = torch.no_grad();
        foreach (var batch in Batches.Shuffled(All, t, new Rng(4)))
        {
            var (x, _) = Data.Batch(batch.AsSpan());
            using var z = m.Body.forward(x);
            var mean = z.mean([0]).data<float>().ToArray();
            for (int d = 0; d < 3; d++) expected[d] = (1 - momentum) * expected[d] + momentum * mean[d];
            x.Dispose();
        }
        for (int d = 0; d < 3; d++) Assert.Equal(expected[d], outcome.RunningMean[d], 5);
        Assert.Contains(expected, v => v > 0);
    }

    [Fact]
    public void Training_should_move_the_PRBM_only_when_the_global_mean_exists_and_track_the_feature_mean()
    {
        using var m = Tiny(2);
        var g = ParameterVector.From(m);
        var t = new TrainOptions(1, 10, 0.1);
        // the initialisation call: plain CE, the PRBM untouched; m = 1 keeps the last batch's mean
        var init = FedDbe.Train(m, g, Data, All, t, new FedDbeOptions(), new float[3], null, new Rng(1));
        Assert.Equal(new float[3], init.Prbm);
        Assert.Equal(3, init.RunningMean.Length);
        Assert.Contains(init.RunningMean, v => v > 0); // post-ReLU features
        var zg = FedDbe.GlobalMean([(30, init.RunningMean), (10, new float[3])]);
        for (int d = 0; d < 3; d++) Assert.Equal(0.75 * init.RunningMean[d], zg[d], 5); // 30/40 of the first client's mean
        // a personalised call trains the PRBM too
        var trained = FedDbe.Train(m, g, Data, All, t, new FedDbeOptions(), new float[3], zg, new Rng(1));
        Assert.Contains(trained.Prbm, v => v != 0);
        Assert.Equal(g.Length, trained.Train.Delta.Length);
    }
}
