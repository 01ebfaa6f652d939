using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>
/// Tensor addition without TorchSharp's temporary scalars. TorchSharp 0.107 implements <c>a + b</c>, <c>add(t)</c>,
/// <c>add_(t)</c> as <c>add(t, 1)</c>: a fresh <see cref="Scalar"/> α = 1 whose only
/// reference ends when its handle is read, so the finaliser may free it while libtorch still reads it
/// (dotnet/TorchSharp#1434). We saw libtorch's "toFloat" check fail in GPFL and FedCP training about once per few
/// hundred client rounds under a busy collector. Hot loops use these (and owned scalars for constants) instead.
/// </summary>
public static class TensorMath
{
    /// <summary>α = 1, alive for the whole process (a static root is never finalised). Integer, so it suits every dtype.</summary>
    private static readonly Scalar One = 1L.ToScalar();

    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);
    /// <summary>a − b (TorchSharp's <c>sub</c> takes no α, so this is only for symmetry with <see cref="Plus"/>).</summary>
    public static Tensor Minus(this Tensor a, Tensor b) => a.sub(b);
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);
    public static Tensor MinusInPlace(this Tensor a, Tensor b) => a.sub_(b);

    /// <summary>a + s for an owned scalar <paramref name="s"/>.</summary>
    public static Tensor PlusInPlace(this Tensor a, Scalar s) => a.add_(s, One);
}
