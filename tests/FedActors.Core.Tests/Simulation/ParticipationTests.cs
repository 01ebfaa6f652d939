using FedActors.Core.Config;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using Xunit;

namespace FedActors.Core.Tests.Simulation;

public class ParticipationTests
{
    private static PopulationSettings Population(double p = 0, double flaky = 0, double sigma = 0) =>
        new(100, 0.1, 0, new DropoutSettings(p, flaky, 1.0), new SpeedSettings(100, sigma, 1));

    private static readonly TrainOptions Train = new(2, 10, 0.01);

    [Fact]
    public void Sampler_should_pick_distinct_sorted_ids_reproducibly()
    {
        var a = ClientSampler.Sample(42, 3, 100, 10);
        Assert.Equal(10, a.Distinct().Count());
        Assert.Equal(a.Order(), a);
        Assert.Equal(a, ClientSampler.Sample(42, 3, 100, 10));
        Assert.NotEqual(a, ClientSampler.Sample(42, 4, 100, 10));
        Assert.Throws<ArgumentException>(() => ClientSampler.Sample(42, 1, 5, 6));
    }

    [Fact]
    public void A_client_should_drop_out_at_about_its_probability()
    {
        var profile = ClientProfile.For(1, 7, Population(p: 0.3));
        int drops = Enumerable.Range(1, 10_000).Count(r => Participation.Decide(profile, 1, r, 100, Train, 0).Reason == DropReason.DroppedOut);
        Assert.InRange(drops, 2800, 3200);
    }

    [Fact]
    public void Flaky_clients_should_be_the_seeded_fraction_and_use_their_own_probability()
    {
        var profiles = Enumerable.Range(0, 2000).Select(id => ClientProfile.For(5, id, Population(p: 0, flaky: 0.25))).ToArray();
        Assert.InRange(profiles.Count(p => p.Flaky), 430, 570);
        Assert.All(profiles.Where(p => p.Flaky), p => Assert.Equal(1.0, p.DropoutProbability));
        Assert.All(profiles.Where(p => !p.Flaky), p => Assert.Equal(0.0, p.DropoutProbability));
    }

    [Fact]
    public void A_client_slower_than_the_deadline_should_miss_the_round()
    {
        // 100 samples/s, 1 s link: 300 samples × 2 epochs take 7 s
        var profile = ClientProfile.For(1, 0, Population());
        Assert.Equal(7.0, profile.SimulatedSeconds(300, Train), 9);
        Assert.True(Participation.Decide(profile, 1, 1, 300, Train, deadlineSeconds: 7.5).Delivers);
        var late = Participation.Decide(profile, 1, 1, 300, Train, deadlineSeconds: 6.5);
        Assert.False(late.Delivers);
        Assert.Equal(DropReason.MissedDeadline, late.Reason);
        Assert.True(Participation.Decide(profile, 1, 1, 300, Train, deadlineSeconds: 0).Delivers);
    }
}
