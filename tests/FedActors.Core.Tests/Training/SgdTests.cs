using FedActors.Core.Training;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FedActors.Core.Tests.Training;

[Collection("Torch")]
public class SgdTests
{
    [Theory]
    [InlineData(0.1, 0.0, 0.0)]
    [InlineData(0.05, 0.9, 0.01)]
    public void Our_SGD_should_match_torch_optim_SGD_bit_for_bit(double lr, double momentum, double weightDecay)
    {
        using var a = nn.Linear(5, 3);
        using var b = nn.Linear(5, 3);
        ParameterVector.From(a).CopyTo(b);
        using var ours = new Sgd(a.parameters(), lr, momentum, weightDecay);
        using var theirs = optim.SGD(b.parameters(), lr, momentum, weight_decay: weightDecay);
        using var x = torch.linspace(-1, 1, 20).reshape(4, 5);
        for (int step = 0; step < 5; step++)
        {
            using var scope = torch.NewDisposeScope();
            ours.ZeroGrad();
            a.forward(x).pow(2).sum().backward();
            ours.Step();
            theirs.zero_grad();
            b.forward(x).pow(2).sum().backward();
            theirs.step();
        }
        Assert.Equal(ParameterVector.From(b).Values, ParameterVector.From(a).Values);
    }
}
