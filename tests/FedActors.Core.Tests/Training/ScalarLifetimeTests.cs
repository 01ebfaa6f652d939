using FedActors.TestSupport;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FedActors.Core.Tests.Training;

/// <summary>No call in Core makes a TorchSharp scalar that the GC can finalise while libtorch reads it (see
/// <see cref="ScalarAudit"/>): owned scalars and <see cref="Core.Training.TensorMath"/> are the only way.</summary>
[Collection("Torch")] // builds models: never beside a test that moves torch's default device (TensorPlacementTests)
public class ScalarLifetimeTests
{
    [Fact]
    public void The_audit_should_know_TorchSharps_hidden_temporary_scalars()
    {
        // arrange / act
        var hazards = ScalarAudit.TorchSharpHazards;
        // assert: add(Tensor) is add(t, 1) with a temporary α; add(Tensor, Scalar) is safe with an owned α
        Assert.Contains(typeof(Tensor).GetMethod(nameof(Tensor.add), [typeof(Tensor)])!, hazards);
        Assert.Contains(typeof(Tensor).GetMethod("op_Addition", [typeof(Tensor), typeof(Tensor)])!, hazards);
        Assert.DoesNotContain(typeof(Tensor).GetMethod(nameof(Tensor.add), [typeof(Tensor), typeof(Scalar)])!, hazards);
        Assert.DoesNotContain(typeof(Tensor).GetMethod(nameof(Tensor.clamp_), [typeof(Scalar), typeof(Scalar)])!, hazards);
        // torch.optim.SGD's step makes its −lr scalar inside a lambda: found through the lambda's ldftn
        Assert.Contains(typeof(TorchSharp.Modules.SGD).GetMethod(nameof(TorchSharp.Modules.SGD.step))!, hazards);
    }

    [Fact]
    public void Core_should_make_no_temporary_scalar()
    {
        var findings = ScalarAudit.Findings(typeof(Core.Simulation.Experiment).Assembly);
        Assert.True(findings.Count == 0, "temporary TorchSharp scalars (own them, or use TensorMath):\n" + string.Join("\n", findings));
        // and it read every method of Core to the end, and TorchSharp's too (a method it cannot read hides its calls)
        foreach (var assembly in new[] { typeof(Core.Simulation.Experiment).Assembly, typeof(Scalar).Assembly })
        {
            var (scanned, unread) = ScalarAudit.Coverage(assembly);
            Assert.True(scanned > 1000, $"{assembly.GetName().Name}: only {scanned} methods read");
            Assert.True(unread.Count == 0, $"{assembly.GetName().Name}: not read to the end:\n" + string.Join("\n", unread));
        }
    }

    [Fact]
    public void The_layers_of_every_registered_model_should_make_no_temporary_scalar_in_their_forward()
    {
        // Core calls a model's layers through the virtual Module.forward, which the audit's reading of Core's IL cannot
        // follow into the concrete layer: each layer type's own forward is checked against TorchSharp's hazards here
        var layers = Core.Models.ModelRegistry.Names
            .SelectMany(kind =>
            {
                using var model = Core.Models.ModelRegistry.Create(kind, [1, 28, 28], 10, CPU);
                return model.modules().Select(m => m.GetType()).ToArray();
            })
            .Distinct().ToArray();
        Assert.Contains(typeof(TorchSharp.Modules.Conv2d), layers);
        var forwards = layers.SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly))
            .Where(m => m.Name == "forward").ToArray();
        Assert.True(forwards.Length >= 4, $"{forwards.Length} forward methods among {string.Join(", ", layers.Select(t => t.Name))}");
        Assert.DoesNotContain(forwards, f => ScalarAudit.TorchSharpHazards.Contains(f));
    }

    [Fact]
    public void The_audit_should_find_an_implicit_conversion_and_a_hidden_temporary()
    {
        var findings = ScalarAudit.Findings(typeof(ScalarLifetimeTests).Assembly);
        Assert.Contains(findings, f => f.Contains(nameof(Offender)) && f.Contains("op_Implicit"));
        Assert.Contains(findings, f => f.Contains(nameof(Offender)) && f.Contains("add(Tensor)"));
    }

    /// <summary>Never called: the audit above reads its IL.</summary>
    private static class Offender
    {
        public static Tensor Gt(Tensor t) => t.gt(0.5);
        public static Tensor Add(Tensor a, Tensor b) => a.add(b);
    }
}
