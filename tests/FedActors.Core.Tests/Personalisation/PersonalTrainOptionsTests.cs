using FedActors.Core.Config;
using FedActors.Core.Personalisation;
using FedActors.Core.Training;
using FedActors.TestSupport;
using Xunit;

namespace FedActors.Core.Tests.Personalisation;

/// <summary><c>fedactors.train</c>'s momentum, weight decay and gradient clamp apply to every method's model optimiser, as
/// to plain local training (DBE, GPFL and FedCP used to train with bare SGD whatever the settings said).</summary>
[Collection("Torch")]
public class PersonalTrainOptionsTests
{
    public static TheoryData<string> Methods() => [.. PersonalisationRegistry.Names.Where(n => n != PersonalisationRegistry.None)];

    /// <summary>What client 1's round-1 training moved (round 1: every method's model starts from the global one): its
    /// upload, or for Local, which uploads zeros, the model it keeps minus the global one; and its step count.</summary>
    private static (float[] Values, int Steps) Upload(string method, Func<TrainOptions, TrainOptions> options)
    {
        var s = TestPersonalisation.NonIid(rounds: 1, clients: 3).WithPersonalisation(method);
        using var e = TestPersonalisation.Load(s with { Train = options(s.Train) });
        var m = e.Settings.CreatePersonalisation()!;
        using var pool = new TorchWorkerPool(1, 1, e.CreateModel);
        return pool.Run(slot =>
        {
            var global = m.InitialGlobal(e);
            float[]? extra = m.NeedsPreparation
                ? m.CombinePreparation([.. Enumerable.Range(0, 3).Select(id => (e.TrainSamples(id), m.Prepare(new PersonalContext(e, slot, id, 1, global, null), m.Initial(e, id))!))])
                : null;
            var r = PersonalStep.Run(m, new PersonalContext(e, slot, 1, 1, global, extra), m.Initial(e, 1), evaluate: false, train: true);
            var moved = r.State.Get(LocalMethod.ModelPart) is { } kept ? new Updates.ParameterVector(kept).Subtract(global).Values : r.Upload!.Delta.Values;
            return (moved, r.Upload!.Steps);
        }).GetAwaiter().GetResult();
    }

    private static int BodyLength(string method)
    {
        using var e = TestPersonalisation.Load(TestPersonalisation.NonIid(rounds: 1, clients: 3).WithPersonalisation(method));
        using var model = e.CreateModel();
        return (int)model.BodyParameterCount;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void The_gradient_clamp_should_bound_every_step_of_the_models_body(string method)
    {
        // arrange: every shared vector starts with the model's body; with gradients clamped to ±c and plain SGD at rate η,
        // no body parameter can move more than steps · η · c (plus float rounding, far below it here)
        const double c = 1e-6;
        int body = BodyLength(method);

        // act
        var plain = Upload(method, t => t);
        var clamped = Upload(method, t => t with { GradientClamp = c });

        // assert
        double bound = clamped.Steps * TestPersonalisation.NonIid().Train.LearningRate * c;
        double moved = clamped.Values.Take(body).Max(v => Math.Abs(v));
        Assert.True(moved <= 1.1 * bound, $"{method}: a body parameter moved {moved:E3}, more than {clamped.Steps} steps × η × c = {bound:E3}");
        Assert.True(plain.Values.Take(body).Max(v => Math.Abs(v)) > 100 * bound, $"{method}: unclamped training should move further");
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Momentum_and_weight_decay_should_change_the_update_and_zero_should_keep_it(string method)
    {
        var plain = Upload(method, t => t);
        var again = Upload(method, t => t with { Momentum = 0, WeightDecay = 0 });
        var momentum = Upload(method, t => t with { Momentum = 0.9 });
        var decay = Upload(method, t => t with { WeightDecay = 0.5 });

        Assert.Equal(plain.Values, again.Values);
        Assert.NotEqual(plain.Values, momentum.Values);
        Assert.NotEqual(plain.Values, decay.Values);
        Assert.NotEqual(momentum.Values, decay.Values);
    }
}
