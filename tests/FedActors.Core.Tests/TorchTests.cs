using FedActors.Core.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FedActors.Core.Tests;

[Collection("Torch")]
public class TorchTests
{
    [Fact]
    public void Torch_should_load_and_train_a_tiny_model()
    {
        // arrange: y = 2x − 1 with a Linear(1, 1)
        using var model = nn.Linear(1, 1);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        using var x = torch.linspace(-1, 1, 32).reshape(32, 1);
        using var y = 2 * x - 1;
        double first = 0, last = 0;
        // act
        for (int step = 0; step < 200; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), y);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        // assert
        Assert.True(last < first / 100, $"loss {first} → {last}");
        Assert.Equal(2.0, model.weight!.item<float>(), 1);
    }

    [Fact]
    public void Core_should_not_reference_Akka()
    {
        var refs = typeof(Core.Simulation.Experiment).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        Assert.DoesNotContain(refs, n => n.StartsWith("Akka", StringComparison.Ordinal));
    }
}
