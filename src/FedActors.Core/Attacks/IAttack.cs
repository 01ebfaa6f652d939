using FedActors.Core.Aggregation;
using FedActors.Core.Updates;
using static TorchSharp.torch;

namespace FedActors.Core.Attacks;

/// <summary>What a colluding attacker knows about the round.</summary>
/// <param name="Selected">n: clients selected this round.</param>
/// <param name="Malicious">f: malicious clients among them (whether or not they dropped out).</param>
/// <param name="Layout">Where each layer sits in the flattened vectors (the Pill needs it).</param>
/// <param name="Reference">An extra-trained reference update, when the attack asked for one (the Pill).</param>
public sealed record AttackContext(int Round, ParameterVector Global, int Selected, int Malicious, long Seed, Models.ModelLayout? Layout = null,
    ParameterVector? Reference = null);

/// <summary>
/// A model-poisoning attack: turns the malicious clients' honest updates into the updates they submit. It runs in the
/// Adversary (collusion) with <paramref name="known"/> = the benign updates the attacker may see (the colluders' own
/// honest updates by default, every benign update with full knowledge). Non-colluding attacks ignore
/// <paramref name="known"/>. Updates are in the Δ = w_local − w_global convention. An attack never looks at the defence.
/// </summary>
public interface IModelPoisoningAttack
{
    /// <returns>One crafted update per malicious client, by client id.</returns>
    IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious);
}

/// <summary>A data-poisoning attack: changes a malicious client's training batches (labels, triggers); the client then
/// trains honestly on them.</summary>
public interface IDataPoisoningAttack
{
    /// <summary>Returns the poisoned batch as fresh tensors in the caller's dispose scope; <paramref name="rng"/> is
    /// the client's seeded attack stream for the round.</summary>
    (Tensor X, Tensor Y) Poison(Tensor x, Tensor y, int numClasses, Randomness.Rng rng);
}

/// <summary>A backdoor: a trigger that should make the global model predict <see cref="TargetLabel"/>; its attack success
/// rate is measured on triggered test samples of other labels.</summary>
public interface IBackdoor
{
    int TargetLabel { get; }

    /// <summary>Stamps the trigger on every sample of the batch (a fresh tensor).</summary>
    Tensor Stamp(Tensor x);
}

/// <summary>An attack that remembers something between rounds (the Pill's one-time and adaptive patterns). Its memory is
/// part of a run's checkpoint, so a resumed run attacks as an uninterrupted one would.</summary>
public interface IRemembersRounds
{
    /// <summary>The memory as named integer arrays (empty when there is none yet).</summary>
    IReadOnlyDictionary<string, int[]> Memory { get; }

    /// <summary>Replaces the memory with one that <see cref="Memory"/> returned.</summary>
    void Restore(IReadOnlyDictionary<string, int[]> memory);
}

/// <summary>A configured attack: a data part (applied while the malicious client trains), a model part (applied to
/// its update, in the Adversary), or both.</summary>
public sealed record Attack(string Name, IDataPoisoningAttack? Data, IModelPoisoningAttack? Model);
