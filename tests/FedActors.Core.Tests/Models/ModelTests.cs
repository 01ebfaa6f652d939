using FedActors.Core.Models;
using FedActors.Core.Updates;
using TorchSharp;
using Xunit;

namespace FedActors.Core.Tests.Models;

[Collection("Torch")]
public class ModelTests
{
    [Fact]
    public void FedAvgCnn_should_have_PFLlibs_582026_parameters_with_a_5130_parameter_head()
    {
        using var m = ModelRegistry.Create("cnn", [1, 28, 28], 10, torch.CPU);
        Assert.Equal(582_026, m.ParameterCount);
        Assert.Equal(582_026 - 5_130, m.BodyParameterCount);
    }

    [Fact]
    public void Mlp_should_be_McMahans_2NN()
    {
        using var m = ModelRegistry.Create("mlp", [1, 28, 28], 10, torch.CPU);
        Assert.Equal(784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10, m.ParameterCount);
        Assert.Equal(2_010, m.ParameterCount - m.BodyParameterCount);
    }

    [Fact]
    public void Seeded_initialisation_should_be_reproducible_and_seed_dependent()
    {
        using var a = ModelRegistry.Create("cnn", [1, 28, 28], 10, torch.CPU, seed: 1);
        using var b = ModelRegistry.Create("cnn", [1, 28, 28], 10, torch.CPU, seed: 1);
        using var c = ModelRegistry.Create("cnn", [1, 28, 28], 10, torch.CPU, seed: 2);
        Assert.Equal(ParameterVector.From(a).Values, ParameterVector.From(b).Values);
        Assert.NotEqual(ParameterVector.From(a).Values, ParameterVector.From(c).Values);
        // Kaiming-uniform(a=√5) bound for conv1: 1/√fan_in = 1/√25 = 0.2
        Assert.InRange(ParameterVector.From(a).Values.Take(800).Max(Math.Abs), 0.19f, 0.2f);
    }

    [Fact]
    public void ParameterVector_should_round_trip_through_a_model()
    {
        using var m = ModelRegistry.Create("mlp", [1, 8, 8], 3, torch.CPU, seed: 3);
        var v = new ParameterVector(Enumerable.Range(0, (int)m.ParameterCount).Select(i => i * 0.001f).ToArray());
        v.CopyTo(m);
        Assert.Equal(v.Values, ParameterVector.From(m).Values);
        Assert.Throws<ArgumentException>(() => new ParameterVector(new float[5]).CopyTo(m));
    }

    [Fact]
    public void Unknown_model_names_should_list_the_valid_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Create("resnet", [1, 28, 28], 10, torch.CPU));
        Assert.Contains("cnn, mlp", e.Message);
    }
}
