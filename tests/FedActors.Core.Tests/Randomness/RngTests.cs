using FedActors.Core.Randomness;
using Xunit;

namespace FedActors.Core.Tests.Randomness;

public class RngTests
{
    [Fact]
    public void SeedStream_should_separate_purposes_rounds_and_clients()
    {
        var a = SeedStream.For(1, 2, 3, Purpose.Dropout);
        Assert.Equal(a, SeedStream.For(1, 2, 3, Purpose.Dropout));
        Assert.NotEqual(a, SeedStream.For(1, 2, 3, Purpose.Shuffle));
        Assert.NotEqual(a, SeedStream.For(1, 3, 3, Purpose.Dropout));
        Assert.NotEqual(a, SeedStream.For(1, 2, 4, Purpose.Dropout));
        Assert.NotEqual(a, SeedStream.For(2, 2, 3, Purpose.Dropout));
    }

    [Fact]
    public void Distributions_should_have_their_textbook_moments()
    {
        var rng = new Rng(123);
        const int n = 200_000;
        double sum = 0, sumSq = 0, gamma = 0;
        for (int i = 0; i < n; i++) { var g = rng.NextGaussian(); sum += g; sumSq += g * g; }
        for (int i = 0; i < n; i++) gamma += rng.NextGamma(0.5);
        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sumSq / n, 0.98, 1.02);
        Assert.InRange(gamma / n, 0.49, 0.51); // E[Gamma(k, 1)] = k
        var p = rng.NextDirichlet(0.3, 7);
        Assert.Equal(1.0, p.Sum(), 10);
        Assert.All(p, v => Assert.InRange(v, 0, 1));
    }

    [Fact]
    public void Permutation_should_hold_every_index_once()
    {
        var p = new Rng(9).Permutation(1000);
        Assert.Equal(Enumerable.Range(0, 1000), p.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), p);
    }
}
