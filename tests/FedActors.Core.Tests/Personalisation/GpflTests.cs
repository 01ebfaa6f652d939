using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

[Collection("Torch")]
public class GpflTests : PersonalMethodFixture
{
    private readonly GpflMethod _method = new(new GpflOptions());

    [Fact]
    public void The_shared_vector_should_hold_the_extractor_the_category_embedding_and_the_valve_but_not_the_head()
    {
        var global = _method.InitialGlobal(E);
        Assert.Equal(Body + C * D + ConditionalValve.ParameterCount(D), global.Length);
        Assert.Equal(2 * (D * D + D + 2 * D), ConditionalValve.ParameterCount(D));
        // the extractor is the run's initial model's
        Assert.Equal(E.InitialWeights().Values[..Body], global.Values[..Body]);
        // seeded: the same run gives the same vector
        Assert.Equal(global.Values, _method.InitialGlobal(E).Values);
    }

    [Fact]
    public void Conditional_inputs_should_be_zero_until_the_first_server_update_then_come_from_the_clients_own_embedding()
    {
        var global = _method.InitialGlobal(E);
        // round 1: zero inputs; the client takes in the global E and the initial head
        var s1 = _method.Receive(Context(global, 1), PersonalState.Empty);
        Assert.All(s1.Require(GpflMethod.PersonalInputPart), v => Assert.Equal(0f, v));
        Assert.All(s1.Require(GpflMethod.GlobalInputPart), v => Assert.Equal(0f, v));
        Assert.Equal(global.Values.AsSpan(Body, C * D).ToArray(), s1.Require(GpflMethod.EmbeddingPart));
        Assert.Equal(E.InitialWeights().Values[Body..], s1.Require(GpflMethod.HeadPart));

        // round 2: from the client's local E (row c filled with c + 1), before it takes in the new global E
        var local = new float[C * D];
        for (int c = 0; c < C; c++) for (int d = 0; d < D; d++) local[c * D + d] = c + 1;
        var s2 = _method.Receive(Context(global, 2), s1.With(GpflMethod.EmbeddingPart, local));
        var counts = new double[C];
        foreach (var i in E.Partition.Clients[1].Train) counts[E.Data.Labels[i]]++;
        double p = Enumerable.Range(0, C).Sum(c => counts[c] / counts.Sum() * (c + 1));
        Assert.All(s2.Require(GpflMethod.GlobalInputPart), v => Assert.Equal(5.5f, v, 4));  // mean of 1..10
        Assert.All(s2.Require(GpflMethod.PersonalInputPart), v => Assert.Equal((float)p, v, 4));
        Assert.Equal(global.Values.AsSpan(Body, C * D).ToArray(), s2.Require(GpflMethod.EmbeddingPart));
    }

    [Fact]
    public void The_angle_and_magnitude_losses_should_match_their_formulas()
    {
        using var scope = torch.NewDisposeScope();
        var global = _method.InitialGlobal(E);
        using var valve = new ConditionalValve(D, torch.CPU);
        new ParameterVector(global.Values.AsSpan(Body + C * D).ToArray()).CopyTo(valve);
        var e = torch.tensor(global.Values.AsSpan(Body, C * D).ToArray()).view(C, D);
        var frozen = torch.randn([C, D], generator: new torch.Generator(3));
        var p = torch.rand([D], generator: new torch.Generator(4));
        var g = torch.rand([D], generator: new torch.Generator(5));
        var idx = E.Partition.Clients[0].Train.Take(6).ToArray();
        var (x, y) = E.Data.Batch(idx);
        var (_, angle, magnitude) = _method.Losses(Slot.Model, valve, e, frozen, p, g, x, y);

        // by hand, element by element in double precision
        var f = Slot.Model.Body.forward(x);
        var fg = valve.forward(f, g);
        float[] fgv = fg.data<float>().ToArray(), ev = e.data<float>().ToArray(), frv = frozen.data<float>().ToArray();
        long[] labels = y.data<long>().ToArray();
        double angleSum = 0, sq = 0;
        for (int b = 0; b < idx.Length; b++)
        {
            var cos = new double[C];
            double nf = Math.Sqrt(Enumerable.Range(0, D).Sum(d => (double)fgv[b * D + d] * fgv[b * D + d]));
            for (int c = 0; c < C; c++)
            {
                double ne = Math.Sqrt(Enumerable.Range(0, D).Sum(d => (double)ev[c * D + d] * ev[c * D + d]));
                cos[c] = Enumerable.Range(0, D).Sum(d => (double)fgv[b * D + d] * ev[c * D + d]) / (nf * ne);
            }
            double logSum = Math.Log(cos.Sum(Math.Exp));
            angleSum += -(cos[labels[b]] - logSum);
            for (int d = 0; d < D; d++) sq += Math.Pow(fgv[b * D + d] - frv[labels[b] * D + d], 2);
        }
        Assert.Equal(angleSum / idx.Length, angle.item<float>(), 4);
        Assert.Equal(Math.Sqrt(sq), magnitude.item<float>(), 3); // the un-squared Frobenius norm of the whole batch
    }

    [Fact]
    public void Training_should_upload_extractor_embedding_and_valve_and_keep_the_head()
    {
        var global = _method.InitialGlobal(E);
        var s = _method.Receive(Context(global, 1), PersonalState.Empty);
        var r = _method.Train(Context(global, 1), s);

        Assert.Equal(global.Length, r.Upload.Delta.Length);
        Assert.True(r.Upload.Steps > 0);
        // the head never leaves the client: it changed in the state, and the upload has no place for it
        Assert.NotEqual(s.Require(GpflMethod.HeadPart), r.State.Require(GpflMethod.HeadPart));
        // the client keeps its trained E (for the next round's conditional inputs), which is what it uploads
        var trainedE = global.Add(r.Upload.Delta).Values.AsSpan(Body, C * D).ToArray();
        Assert.Equal(trainedE, r.State.Require(GpflMethod.EmbeddingPart));
        Assert.NotEqual(global.Values.AsSpan(Body, C * D).ToArray(), trainedE);
        // the extractor and the valve moved
        Assert.Contains(r.Upload.Delta.Values[..Body], v => v != 0);
        Assert.Contains(r.Upload.Delta.Values[(Body + C * D)..], v => v != 0);
    }
}
