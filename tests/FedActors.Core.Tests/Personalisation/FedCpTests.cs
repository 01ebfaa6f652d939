using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

[Collection("Torch")]
public class FedCpTests : PersonalMethodFixture
{
    private readonly FedCpMethod _method = new(new FedCpOptions());

    [Fact]
    public void The_shared_vector_should_be_the_model_with_the_global_head_and_the_policy_network()
    {
        var global = _method.InitialGlobal(E);
        Assert.Equal(Model + PolicyNetwork.ParameterCount(D), global.Length);
        Assert.Equal(D * 2 * D + 2 * D + 2 * 2 * D, PolicyNetwork.ParameterCount(D));
        // ψ_g starts as the initial head, so it equals every personal head in round 1
        Assert.Equal(E.InitialWeights().Values, global.Values[..Model]);
    }

    [Fact]
    public void The_MMD_should_be_the_biased_estimator_with_four_RBF_kernels()
    {
        var xs = new[] { new[] { 0.0, 1.0, 2.0 }, new[] { 1.0, -1.0, 0.5 } };
        var ys = new[] { new[] { 3.0, 0.0, 1.0 }, new[] { 0.0, 0.0, 0.0 } };
        static double K(double[] a, double[] b) =>
            FedCpMethod.Bandwidths.Sum(s => Math.Exp(-a.Zip(b, (u, v) => (u - v) * (u - v)).Sum() / (2 * s)));
        double expected = 0;
        for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) expected += K(xs[i], xs[j]) + K(ys[i], ys[j]) - 2 * K(xs[i], ys[j]);
        expected /= 4;
        using var x = torch.tensor(xs.SelectMany(r => r).Select(v => (float)v).ToArray()).view(2, 3);
        using var y = torch.tensor(ys.SelectMany(r => r).Select(v => (float)v).ToArray()).view(2, 3);
        Assert.Equal(expected, FedCpMethod.Mmd(x, y).item<float>(), 4);
        Assert.Equal(0f, FedCpMethod.Mmd(x, x).item<float>(), 5);
    }

    [Fact]
    public void The_personal_and_global_shares_should_add_up_to_one_per_feature()
    {
        // with ψᵢ = ψ_g, logits = W(h ⊙ r) + b + W(h ⊙ s) + b = W h + 2b whatever the (noisy) policy is
        using var scope = torch.NewDisposeScope();
        var global = _method.InitialGlobal(E);
        E.InitialWeights().CopyTo(Slot.Model);
        var head = torch.nn.Linear(D, C);
        new ParameterVector(global.Values[Body..Model]).CopyTo(head);
        var policy = new PolicyNetwork(D, torch.CPU);
        new ParameterVector(global.Values[Model..]).CopyTo(policy);
        var (x, _) = E.Data.Batch(E.Partition.Clients[0].Train.Take(5).ToArray());
        var v = torch.rand([D], generator: new torch.Generator(1));
        var (logits, h) = FedCpMethod.Forward(Slot.Model, head, policy, v / v.norm(), x, 1.0, new torch.Generator(2));
        var expected = head.forward(h) + head.bias!;
        Assert.True(logits.allclose(expected, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void The_client_vector_should_start_random_then_follow_the_personal_heads_column_sums()
    {
        var global = _method.InitialGlobal(E);
        var s1 = _method.Receive(Context(global, 1), PersonalState.Empty);
        var v1 = s1.Require(FedCpMethod.VectorPart);
        Assert.Equal(D, v1.Length);
        Assert.All(v1, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(v1, _method.Receive(Context(global, 1, client: 1), PersonalState.Empty).Require(FedCpMethod.VectorPart)); // seeded
        Assert.NotEqual(v1, _method.Receive(Context(global, 1, client: 2), PersonalState.Empty).Require(FedCpMethod.VectorPart)); // per client

        var head = s1.Require(FedCpMethod.HeadPart);
        var v2 = _method.Receive(Context(global, 2), s1).Require(FedCpMethod.VectorPart);
        for (int d = 0; d < D; d++) Assert.Equal(Enumerable.Range(0, C).Sum(c => head[c * D + d]), v2[d], 4);
    }

    [Fact]
    public void Training_should_upload_the_half_mixed_head_and_keep_the_personal_one()
    {
        var global = _method.InitialGlobal(E);
        var s = _method.Receive(Context(global, 1), PersonalState.Empty);
        var r = _method.Train(Context(global, 1), s);

        Assert.Equal(global.Length, r.Upload.Delta.Length);
        var trainedHead = r.State.Require(FedCpMethod.HeadPart);
        Assert.NotEqual(s.Require(FedCpMethod.HeadPart), trainedHead);
        // uploaded head = ½ψᵢ + ½ψ_g, so its Δ against ψ_g is ½(ψᵢ − ψ_g)
        for (int i = 0; i < trainedHead.Length; i++)
            Assert.Equal(0.5f * (trainedHead[i] - global.Values[Body + i]), r.Upload.Delta.Values[Body + i], 5);
        // the extractor and the policy network moved
        Assert.Contains(r.Upload.Delta.Values[..Body], v => v != 0);
        Assert.Contains(r.Upload.Delta.Values[Model..], v => v != 0);
    }

    [Fact]
    public void Noisy_evaluation_should_be_seeded_by_round_and_client()
    {
        // a trained client: its personal head differs from ψ_g (while they are equal, as in round 1, the policy's split
        // cannot matter: Head(h⊙r) + ψ_g(h⊙s) = Head(h) + b when r + s = 1, noise or not)
        var global = _method.InitialGlobal(E);
        var s = _method.Train(Context(global, 1), _method.Receive(Context(global, 1), PersonalState.Empty)).State;
        var a = _method.Evaluate(Context(global, 1), s);
        // the same round and client draw the same noise; another round, other noise (the same model and state)
        Assert.Equal(a, _method.Evaluate(Context(global, 1), s));
        Assert.Equal(E.Partition.Clients[1].Test.Length, a.Count);
        Assert.NotEqual(a.LossSum, _method.Evaluate(Context(global, 2), s).LossSum);
        // without noise the round does not matter
        var quiet = new FedCpMethod(new FedCpOptions(NoisyEvaluation: false));
        Assert.Equal(quiet.Evaluate(Context(global, 1), s), quiet.Evaluate(Context(global, 2), s));
        Assert.NotEqual(a.LossSum, quiet.Evaluate(Context(global, 1), s).LossSum);
    }
}
