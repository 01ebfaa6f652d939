using TorchSharp;
using FedActors.Core.Randomness;
using FedActors.Core.Training;
using static TorchSharp.torch;

namespace FedActors.Core.Attacks;

/// <summary>Label flipping — data poisoning as in Tolpegin et al. (ESORICS 2020) and SkyMask's code: every training
/// label y of a malicious client becomes C − 1 − y; the client then trains honestly on the flipped data.</summary>
public sealed class LabelFlip : IDataPoisoningAttack
{
    public (Tensor X, Tensor Y) Poison(Tensor x, Tensor y, int numClasses, Rng rng)
    {
        using var top = ((long)numClasses - 1).ToScalar(); // owned: an implicit Scalar can be finalised mid-call (see Sgd)
        return (x.alias(), y.neg().PlusInPlace(top));
    }
}
