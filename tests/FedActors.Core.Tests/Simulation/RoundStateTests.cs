using FedActors.Core.Aggregation;
using FedActors.Core.Simulation;
using FedActors.Core.Updates;
using Xunit;

namespace FedActors.Core.Tests.Simulation;

public class RoundStateTests
{
    private static ClientUpdate U(int id, params float[] v) => new(id, new ParameterVector(v), 10, 0.5);

    [Fact]
    public void A_round_should_complete_when_every_selected_client_has_answered()
    {
        var s = RoundState.Start(1, [5, 2, 9]);
        s = s.OnUpdate(U(9, 1, 1), 2, 3.0, 10);
        s = s.OnDropped(2, DropReason.DroppedOut, 1.0);
        Assert.False(s.IsComplete);
        s = s.OnUpdate(U(5, 2, 2), 2, 4.0, 20);
        Assert.True(s.IsComplete);
        Assert.Equal([5, 9], s.OrderedUpdates.Select(u => u.ClientId));
        Assert.Equal(4.0, s.SimSeconds);
        Assert.Equal(30, s.ComputeMs);
    }

    [Fact]
    public void Malformed_updates_should_be_rejected_and_never_aggregated()
    {
        var s = RoundState.Start(1, [0, 1, 2, 3]);
        s = s.OnUpdate(U(0, float.NaN, 1), 2, 1, 1);
        s = s.OnUpdate(U(1, 1, float.PositiveInfinity), 2, 1, 1);
        s = s.OnUpdate(U(2, 1, 2, 3), 2, 1, 1);
        s = s.OnUpdate(U(3, 1, 2), 2, 1, 1);
        Assert.Equal(3, s.Count(DropReason.Rejected));
        Assert.Equal([3], s.OrderedUpdates.Select(u => u.ClientId));
    }

    [Fact]
    public void Late_duplicate_and_unselected_answers_should_change_nothing()
    {
        var s = RoundState.Start(1, [0, 1]).OnUpdate(U(0, 1), 1, 1, 1);
        Assert.Same(s, s.OnUpdate(U(0, 7), 1, 1, 1));
        Assert.Same(s, s.OnDropped(0, DropReason.DroppedOut, 1));
        Assert.Same(s, s.OnUpdate(U(5, 7), 1, 1, 1));
    }

    [Fact]
    public void The_safety_timeout_should_mark_every_pending_client_timed_out()
    {
        var s = RoundState.Start(1, [0, 1, 2]).OnUpdate(U(1, 1), 1, 1, 1).OnTimeout();
        Assert.True(s.IsComplete);
        Assert.Equal(2, s.Count(DropReason.TimedOut));
        var summary = RoundSummary.From(s, 0.5, 1.0, 100);
        Assert.Equal((3, 1, 2, 0), (summary.Selected, summary.Responded, summary.TimedOut, summary.Dropped));
    }
}
