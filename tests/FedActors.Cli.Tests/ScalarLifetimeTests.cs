using FedActors.TestSupport;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary>The Runtime and the CLI make no TorchSharp scalar that the GC can finalise mid-call (Core's own check is in
/// Core.Tests; <see cref="ScalarAudit"/> says how it reads the IL).</summary>
public class ScalarLifetimeTests
{
    [Theory]
    [InlineData(typeof(Runtime.Actors.DeviceWorker))]
    [InlineData(typeof(Commands.RunCommand))]
    public void The_assembly_should_make_no_temporary_scalar(Type probe)
    {
        var findings = ScalarAudit.Findings(probe.Assembly);
        Assert.True(findings.Count == 0, "temporary TorchSharp scalars (own them, or use Core's TensorMath):\n" + string.Join("\n", findings));
        var (scanned, unread) = ScalarAudit.Coverage(probe.Assembly);
        Assert.True(scanned > 300, $"only {scanned} methods read");
        Assert.True(unread.Count == 0, "not read to the end:\n" + string.Join("\n", unread));
    }
}
