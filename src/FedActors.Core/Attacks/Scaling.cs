using FedActors.Core.Aggregation;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace FedActors.Core.Attacks;

/// <param name="Fraction">Share of each batch that gets the trigger (0.5 in SkyMask's code).</param>
/// <param name="TargetLabel">Label the triggered samples get (0).</param>
/// <param name="PatchSize">Side of the square trigger in the top-left corner (5).</param>
/// <param name="PatchValue">Pixel value written into the trigger, in the normalised input space (1 = white).</param>
/// <param name="Boost">Factor on the update; 0 = n/f (model replacement, 5 for 20 % malicious).</param>
public sealed record ScalingOptions(double Fraction = 0.5, int TargetLabel = 0, int PatchSize = 5, double PatchValue = 1.0, double Boost = 0);

/// <summary>
/// Scaling backdoor (model replacement) — Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS 2020, as
/// in SkyMask's code: a malicious client stamps a square trigger on a share of its samples and relabels them to the
/// target; it trains on that, then boosts its update by n/f.
/// </summary>
public sealed class Scaling(ScalingOptions options) : IDataPoisoningAttack, IModelPoisoningAttack, IBackdoor
{
    public int TargetLabel => options.TargetLabel;

    public Tensor Stamp(Tensor x)
    {
        var px = x.clone();
        using var value = options.PatchValue.ToScalar();
        px[TensorIndex.Ellipsis, TensorIndex.Slice(0, options.PatchSize), TensorIndex.Slice(0, options.PatchSize)].fill_(value);
        return px;
    }

    public (Tensor X, Tensor Y) Poison(Tensor x, Tensor y, int numClasses, Rng rng)
    {
        long n = x.shape[0];
        var chosen = Enumerable.Range(0, (int)n).Where(_ => rng.NextDouble() < options.Fraction).Select(i => (long)i).ToArray();
        var px = x.clone();
        var py = y.clone();
        if (chosen.Length == 0) return (px, py);
        using var idx = torch.tensor(chosen, device: x.device);
        Stamp(px, idx, options.PatchSize, options.PatchValue);
        using var target = ((long)options.TargetLabel).ToScalar();
        py.index_fill_(0, idx, target);
        return (px, py);
    }

    /// <summary>Writes the trigger into rows <paramref name="rows"/> of an [N, C, H, W] batch.</summary>
    public static void Stamp(Tensor x, Tensor rows, int size, double value)
    {
        using var patch = x.index_select(0, rows);
        using var v = value.ToScalar();
        patch[TensorIndex.Ellipsis, TensorIndex.Slice(0, size), TensorIndex.Slice(0, size)].fill_(v);
        x.index_copy_(0, rows, patch);
    }

    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        double boost = options.Boost > 0 ? options.Boost : (double)context.Selected / Math.Max(1, context.Malicious);
        return malicious.ToDictionary(m => m.ClientId, m => m.Delta.Values.Select(v => (float)(v * boost)).ToArray().ToVector());
    }
}
