using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FedActors.Core.Models;

/// <summary>
/// A classifier split into a feature extractor (<c>body</c>) and a classification head (<c>head</c>), because DBE,
/// GPFL, FedCP and the Pill attack all need to know where the head starts. Parameters are named
/// <c>body.*</c> and <c>head.*</c>; their order in <see cref="Module.parameters"/> is the flattening order of every
/// <see cref="Updates.ParameterVector"/>.
/// </summary>
public sealed class SplitModel : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> body;
    private readonly Module<Tensor, Tensor> head;

    public SplitModel(string name, Module<Tensor, Tensor> body, Module<Tensor, Tensor> head) : base(name)
    {
        this.body = body;
        this.head = head;
        RegisterComponents();
    }

    public Module<Tensor, Tensor> Body => body;
    public Module<Tensor, Tensor> Head => head;

    public override Tensor forward(Tensor x)
    {
        using var features = body.forward(x);
        return head.forward(features);
    }

    /// <summary>Where the parameters are: every tensor a method makes to meet them must be made there (issue #9).</summary>
    public Device Device => head.parameters().First().device;

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Number of leading scalars (in flattening order) that belong to the body.</summary>
    public long BodyParameterCount => body.parameters().Sum(p => p.numel());

    /// <summary>
    /// Re-initialises every parameter from <paramref name="generator"/> with PyTorch's default scheme for Linear and
    /// Conv layers (Kaiming-uniform with a = √5 for weights, U(±1/√fan_in) for biases), so initialisation is seeded
    /// without touching torch's global generator.
    /// </summary>
    public void ResetParameters(Generator generator)
    {
        using var _ = torch.no_grad();
        Tensor? lastWeight = null;
        foreach (var (_, p) in named_parameters())
        {
            if (p.dim() > 1)
            {
                long fanIn = p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                double gain = Math.Sqrt(2.0 / (1 + 5.0)); // leaky_relu gain with a = sqrt(5)
                double bound = Math.Sqrt(3.0) * gain / Math.Sqrt(fanIn);
                p.uniform_(-bound, bound, generator);
                lastWeight = p;
            }
            else
            {
                long fanIn = lastWeight is null ? p.numel() : lastWeight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                double bound = 1 / Math.Sqrt(fanIn);
                p.uniform_(-bound, bound, generator);
            }
        }
    }
}
