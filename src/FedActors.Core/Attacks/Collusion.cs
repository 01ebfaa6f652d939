using FedActors.Core.Aggregation;
using FedActors.Core.Config;
using FedActors.Core.Randomness;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <summary>
/// The malicious population and the colluders' crafting step, shared by the Adversary actor and the plain loop so
/// both produce the same poisoned updates.
/// </summary>
public sealed class Collusion
{
    public Collusion(AttackSettings settings, int population, long seed, Models.ModelLayout? layout = null)
    {
        Settings = settings;
        Seed = seed;
        Layout = layout;
        if (!settings.Enabled) { Malicious = new HashSet<int>(); return; }
        Attack = AttackRegistry.Create(settings.Kind, settings.Options ?? throw new ArgumentException("attack options missing"));
        if (settings.Pill is { Enabled: true } pill)
        {
            if (Attack.Model is null) throw new ArgumentException($"the Pill wraps model-poisoning attacks; '{settings.Kind}' only poisons data");
            Attack = Attack with { Name = $"{settings.Kind}+pill", Model = new Pill(Attack.Model, pill) };
        }
        Malicious = Draw(settings, population, seed);
    }

    /// <summary>The clients <paramref name="settings"/> make malicious, its ids or its seeded fraction of the population —
    /// whatever its kind (with <c>none</c>: the clients that would attack).</summary>
    public static IReadOnlySet<int> Draw(AttackSettings settings, int population, long seed) =>
        settings.Ids.Length > 0
            ? settings.Ids.ToHashSet()
            : SeedStream.Rng(seed, -1, -1, Purpose.Malicious).Permutation(population)[..(int)Math.Round(settings.Fraction * population)].ToHashSet();

    public AttackSettings Settings { get; }
    public Models.ModelLayout? Layout { get; }
    public long Seed { get; }
    public Attack? Attack { get; }
    public IReadOnlySet<int> Malicious { get; }

    public bool IsMalicious(int clientId) => Malicious.Contains(clientId);

    /// <summary>What the attack remembers between rounds (empty for attacks that remember nothing).</summary>
    public IReadOnlyDictionary<string, int[]> Memory =>
        Attack?.Model is IRemembersRounds r ? r.Memory : new Dictionary<string, int[]>();

    /// <summary>Gives the attack back what it remembered at a checkpoint.</summary>
    public void Restore(IReadOnlyDictionary<string, int[]> memory)
    {
        if (Attack?.Model is IRemembersRounds r) r.Restore(memory);
    }

    /// <summary>Whether the malicious clients attack in this round: from the attack's start round, unless an
    /// <c>attack-on</c>/<c>attack-off</c> fault says otherwise (<paramref name="switched"/>: its verdict, null for none).</summary>
    public bool Active(int round, bool? switched = null) => Attack is not null && (switched ?? round >= Settings.StartRound);

    /// <summary>Whether the client attacks in this round.</summary>
    public bool Attacks(int clientId, int round, bool? switched = null) => Active(round, switched) && IsMalicious(clientId);

    /// <summary>Whether the client's honest update must go to the adversary before it is submitted.</summary>
    public bool CollusionNeeded(int clientId, int round, bool? switched = null) => Attack?.Model is not null && Attacks(clientId, round, switched);

    /// <summary>Whether a benign client's update is shown to the adversary (full knowledge).</summary>
    public bool Observed(int round, bool? switched = null) => Attack?.Model is not null && Active(round, switched) && Settings.Knowledge is "benign" or "all";

    /// <summary>E_extra when the attack needs an extra-trained reference update this round, else null.</summary>
    public int? ReferenceEpochs(int round, int colluders, int localEpochs, bool? switched = null) =>
        Attack?.Model is Pill { Options.Reference: "extra-trained" } pill && Active(round, switched)
            ? pill.Options.ExtraEpochsFor(colluders, localEpochs)
            : null;

    /// <summary>
    /// Crafts the submitted updates of the malicious clients that delivered an honest update this round.
    /// <paramref name="maliciousHonest"/> and <paramref name="benign"/> must be in client-id order.
    /// </summary>
    /// <param name="selectedMalicious">f: malicious clients among the selected (including those that dropped out).</param>
    /// <param name="reference">The extra-trained reference, when <see cref="ReferenceEpochs"/> asked for one.</param>
    public IReadOnlyDictionary<int, ParameterVector> Craft(int round, ParameterVector global, int selected, int selectedMalicious,
        IReadOnlyList<ClientUpdate> maliciousHonest, IReadOnlyList<ClientUpdate> benign, ParameterVector? reference = null)
    {
        if (Attack?.Model is not { } model || maliciousHonest.Count == 0) return maliciousHonest.ToDictionary(u => u.ClientId, u => u.Delta);
        var known = Settings.Knowledge switch
        {
            "benign" when benign.Count > 1 => benign,
            // every update of the round, benign and the colluders' honest ones, in client-id order (SkyMask's code crafts
            // Min-Max and Min-Sum from all of them)
            "all" => [.. benign.Concat(maliciousHonest).OrderBy(u => u.ClientId)],
            _ => maliciousHonest,
        };
        var context = new AttackContext(round, global, selected, selectedMalicious, Seed, Layout, reference);
        return model.Craft(context, known, maliciousHonest);
    }
}
