using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Training;

/// <summary>
/// Plain SGD (PyTorch's semantics: weight decay added to the gradient, momentum buffer without dampening), with its
/// scalars created once, owned and kept alive for the whole loop. We saw <c>torch.optim.SGD.step</c> fail
/// intermittently under parallel test load with a native "Scalar toFloat" overflow check on its <c>alpha</c>, a
/// temporary scalar that the GC may finalise while native code still reads it; owning the scalars removes that.
/// The arithmetic is the same op (<c>p.add_(d, −lr)</c>), so results are bit-identical to torch.optim.SGD.
/// </summary>
public sealed class Sgd : IDisposable
{
    private readonly Tensor[] _parameters;
    private readonly Scalar _negativeLr;
    private readonly Scalar? _weightDecay;
    private readonly Scalar? _momentum;
    private readonly Scalar? _clampLow, _clampHigh;
    private readonly Tensor?[] _buffers;

    /// <param name="gradientClamp">Clamp every gradient element to ±this, in place, before the step (SkyMask's setting);
    /// 0 = off.</param>
    public Sgd(IEnumerable<Tensor> parameters, double learningRate, double momentum = 0, double weightDecay = 0, double gradientClamp = 0)
    {
        _parameters = parameters.ToArray();
        _negativeLr = (-learningRate).ToScalar();
        _weightDecay = weightDecay != 0 ? weightDecay.ToScalar() : null;
        _momentum = momentum != 0 ? momentum.ToScalar() : null;
        if (gradientClamp > 0) (_clampLow, _clampHigh) = ((-gradientClamp).ToScalar(), gradientClamp.ToScalar());
        _buffers = new Tensor?[_parameters.Length];
    }

    /// <summary>A client's local optimiser as <c>fedactors.train</c> sets it (rate, momentum, weight decay, gradient clamp):
    /// plain local training and every personalisation method's model optimiser, so that each option applies to all.</summary>
    public static Sgd For(IEnumerable<Tensor> parameters, TrainOptions options) =>
        new(parameters, options.LearningRate, options.Momentum, options.WeightDecay, options.GradientClamp);

    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.grad?.zero_();
    }

    public void Step()
    {
        using var noGrad = torch.no_grad();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            if (p.grad is not { } grad) continue;
            if (_clampLow is not null) grad.clamp_(_clampLow, _clampHigh!);
            using var scope = torch.NewDisposeScope();
            var d = _weightDecay is null ? grad : grad.add(p, _weightDecay);
            if (_momentum is not null)
            {
                if (_buffers[i] is null) _buffers[i] = d.clone().detach().DetachFromDisposeScope();
                else _buffers[i]!.mul_(_momentum).PlusInPlace(d);
                d = _buffers[i]!;
            }
            p.add_(d, _negativeLr);
        }
        GC.KeepAlive(_negativeLr);
        GC.KeepAlive(_weightDecay);
        GC.KeepAlive(_momentum);
        GC.KeepAlive(_clampLow);
        GC.KeepAlive(_clampHigh);
    }

    public void Dispose()
    {
        _negativeLr.Dispose();
        _weightDecay?.Dispose();
        _momentum?.Dispose();
        _clampLow?.Dispose();
        _clampHigh?.Dispose();
        foreach (var b in _buffers) b?.Dispose();
    }
}
