using FedActors.Core.Aggregation;
using FedActors.Core.Models;
using FedActors.Core.Updates;

namespace FedActors.Core.Attacks;

/// <summary>Options of the Pill augmentation. Every [infer] point of the spec (§2.3) is one of these, with the spec's default.</summary>
/// <param name="Enabled">Wrap the base attack (<c>fedactors.attack.pill.enabled</c>).</param>
/// <param name="ClassifierNeurons">h: neurons of the penultimate layer in the pill (spec: "more than one"; 1–4 [infer]).</param>
/// <param name="Search"><c>max</c>: follow the strongest connection layer by layer (the paper's "approximate max pill
/// search"); <c>min</c>: the weakest (the paper's ablation).</param>
/// <param name="Disconnection"><c>zero-weight</c>: Δ̃[D] = −w[D], so the weights from non-pill neurons into each pill neuron
/// become 0 (our reading of the figure); <c>zero-update</c>: Δ̃[D] = 0; <c>off</c>.</param>
/// <param name="SimAdjust"><c>min</c>: if cos(Δ̃, Δ_ref) is below the smallest cosine of the attackers' honest updates to
/// Δ_ref, pull the pill toward Δ_ref[P] by bisection; <c>mean</c>: the same against the mean cosine; <c>off</c>.</param>
/// <param name="DistAdjust"><c>norm</c>: rescale Δ̃ to the attackers' mean honest norm when it is longer; <c>match</c>: to
/// that norm either way (the spec's Δ̃·r̄/‖Δ̃‖, which can also scale up); <c>off</c>.</param>
/// <param name="Reference"><c>extra-trained</c>: Δ_ref is the global model trained for <paramref name="ExtraEpochs"/> epochs on
/// the pooled data of this round's colluders (the paper's reference; spec default E_extra = f·E, [infer]); <c>mean</c>:
/// the attackers' mean honest update (cheap).</param>
/// <param name="ExtraEpochs">E_extra; 0 = f·E (f colluders this round, E local epochs).</param>
/// <param name="FeaturePattern">When the feature-extractor path is searched (spec §2.3 step 8): <c>repeated</c> (every
/// attacking round, the spec's default), <c>one-time</c> (in the first attacking round, then kept) or <c>adaptive</c>
/// (again every <paramref name="AdaptivePeriod"/> rounds; the paper's trigger is unknown, this period is our reading).</param>
/// <param name="ClassifierPattern">The same for the classifier neurons (with a kept path, their connections follow it).</param>
/// <param name="Budget">How much the base attack may deviate on the pill (spec §2.3 step 2, [infer]): <c>pill-only</c> runs
/// the base attack on the pill's coordinates alone, so its constraint (LIE's z·σ, Min-Max's γ) is measured there and the
/// pill deviates from the benign mean no more than a whole-vector attack does on those coordinates; <c>concentrated</c>
/// runs it on whole vectors and puts its whole deviation ‖Δ̂ − μ‖ on the pill (the pill part of the deviation, rescaled
/// to the full length) — the reading in which the pill carries the attack's entire budget.</param>
public sealed record PillOptions(bool Enabled = false, int ClassifierNeurons = 2, string Search = "max", string Disconnection = "zero-weight",
    string SimAdjust = "min", string DistAdjust = "norm", string Reference = "extra-trained", int ExtraEpochs = 0,
    string FeaturePattern = "repeated", string ClassifierPattern = "repeated", int AdaptivePeriod = 5, string Budget = "pill-only")
{
    public int ExtraEpochsFor(int colluders, int localEpochs) => ExtraEpochs > 0 ? ExtraEpochs : Math.Max(1, colluders) * localEpochs;
}

/// <summary>What the Pill did in a round, per colluder: SimAdjust's β (1 = the poisoned pill as crafted, 0 = pulled all the
/// way to the reference) and ‖Δ̃[P] − Δ[P]‖, how far the submitted pill is from the colluder's own honest update there.</summary>
public sealed record PillReport(int Round, IReadOnlyDictionary<int, double> Beta, IReadOnlyDictionary<int, double> PillDeviation)
{
    /// <summary>Share of colluders whose pill SimAdjust emptied (β = 0: no poison left).</summary>
    public double ZeroBetaShare => Beta.Count == 0 ? 0 : Beta.Values.Count(b => b == 0) / (double)Beta.Count;
}

/// <summary>The pill of a round: the parameter coordinates P it holds and the disconnected coordinates D.</summary>
public sealed record PillStructure(int[] Neurons, int[] Coordinates, int[] Disconnected);

/// <summary>
/// "Poisoning with A Pill: Circumventing Detection in Federated Learning" — Guo et al., AAAI 2026 (arXiv 2407.15389).
/// Wraps any model-poisoning base attack: (1) pill construction: a one-neuron/one-channel path through the feature
/// extractor found by a max search from the strongest first-layer neuron, fanning out to h penultimate neurons and all
/// outputs; (2) pill poisoning: the base attack run on the pill's coordinates only; (3) pill injection: the poisoned pill
/// inserted into each attacker's own honest update, the pill disconnected from non-pill neurons, then similarity and
/// distance adjustment.
/// </summary>
/// <remarks>The authors' code was not available when the spec was written; every reconstruction is an option of
/// <see cref="PillOptions"/>, defaulted as the spec proposes. The pill is searched again every round by default (the
/// "repeated" pattern); one-time and adaptive patterns, separately for the feature extractor and the classifier, give
/// the paper's 3 × 2 = 6 patterns.</remarks>
public sealed class Pill(IModelPoisoningAttack baseAttack, PillOptions options) : IModelPoisoningAttack, IRemembersRounds
{
    public PillOptions Options => options;

    /// <summary>The last round's <see cref="PillReport"/>; null before the first crafting.</summary>
    public PillReport? LastReport { get { lock (_lock) return _report; } }
    private PillReport? _report;

    // The attackers' memory of the pill between rounds (one-time and adaptive patterns): the feature path and the
    // classifier neurons, each with the round it was searched in. Rounds only go forward within a run; a round at or
    // before the remembered one starts a new run.
    private readonly Lock _lock = new();
    private (int Round, int[] Neurons)? _path, _classifier;

    /// <summary>The remembered feature path and classifier neurons, each as [round, neurons…].</summary>
    public IReadOnlyDictionary<string, int[]> Memory
    {
        get
        {
            lock (_lock)
            {
                var m = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (_path is { } p) m["pill.path"] = [p.Round, .. p.Neurons];
                if (_classifier is { } c) m["pill.classifier"] = [c.Round, .. c.Neurons];
                return m;
            }
        }
    }

    public void Restore(IReadOnlyDictionary<string, int[]> memory)
    {
        lock (_lock)
        {
            _path = memory.TryGetValue("pill.path", out var p) ? (p[0], p[1..]) : null;
            _classifier = memory.TryGetValue("pill.classifier", out var c) ? (c[0], c[1..]) : null;
        }
    }

    /// <summary>Whether a part of the pill is searched again in <paramref name="round"/> under its pattern.</summary>
    public static bool SearchAgain(string pattern, int? searchedIn, int round, int period) =>
        searchedIn is not { } last || round <= last || pattern switch
        {
            "one-time" => false,
            "adaptive" => round - last >= period,
            _ => true, // repeated
        };

    /// <summary>This round's pill under the configured patterns (spec §2.3 step 8).</summary>
    public PillStructure Current(ModelLayout layout, int round, float[] w)
    {
        lock (_lock)
        {
            if (SearchAgain(options.FeaturePattern, _path?.Round, round, options.AdaptivePeriod))
                _path = (round, SearchPath(layout, w, options));
            if (SearchAgain(options.ClassifierPattern, _classifier?.Round, round, options.AdaptivePeriod))
                _classifier = (round, ChooseClassifier(layout, w, options, _path!.Value.Neurons[^1]));
            return Build(layout, _path!.Value.Neurons, _classifier!.Value.Neurons);
        }
    }

    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        var layout = context.Layout ?? throw new InvalidOperationException("the Pill needs the model layout");
        var pill = Current(layout, context.Round, context.Global.Values);
        var p = pill.Coordinates;
        var reference = options.Reference == "extra-trained"
            ? (context.Reference ?? throw new InvalidOperationException("the Pill's extra-trained reference was not computed")).Values
            : VectorMath.Mean(malicious.Select(m => m.Delta.Values).ToArray());

        // Stage 2: the base attack on the pill's coordinates only, or its whole-vector deviation concentrated on them.
        var poisoned = options.Budget == "concentrated"
            ? Concentrate(baseAttack.Craft(context with { Layout = null }, known, malicious), known, p)
            : baseAttack.Craft(context with { Layout = null }, Sub(known, p), Sub(malicious, p)).ToDictionary(x => x.Key, x => x.Value.Values);

        // Stage 3: insertion, disconnection, SimAdjust, DistAdjust.
        var honestCos = malicious.Select(m => VectorMath.Cosine(m.Delta.Values, reference)).ToArray();
        double target = options.SimAdjust == "mean" ? honestCos.Average() : honestCos.Min();
        double meanNorm = malicious.Average(m => VectorMath.Norm(m.Delta.Values));
        var result = new Dictionary<int, ParameterVector>();
        var betas = new Dictionary<int, double>();
        var deviations = new Dictionary<int, double>();
        foreach (var m in malicious)
        {
            var pi = poisoned[m.ClientId];
            float[] Build(double beta)
            {
                var x = (float[])m.Delta.Values.Clone();
                for (int j = 0; j < p.Length; j++) x[p[j]] = (float)(reference[p[j]] + beta * (pi[j] - reference[p[j]]));
                foreach (var d in pill.Disconnected)
                    x[d] = options.Disconnection switch { "zero-weight" => -context.Global.Values[d], "zero-update" => 0f, _ => x[d] };
                return x;
            }
            var crafted = Build(1);
            double beta = 1;
            if (options.SimAdjust != "off" && VectorMath.Cosine(crafted, reference) < target)
            {
                double lo = 0, hi = 1;
                for (int it = 0; it < 30; it++)
                {
                    double mid = (lo + hi) / 2;
                    if (VectorMath.Cosine(Build(mid), reference) >= target) lo = mid; else hi = mid;
                }
                crafted = Build(lo);
                beta = lo;
            }
            double norm = VectorMath.Norm(crafted);
            if (norm > 0 && (options.DistAdjust == "match" || (options.DistAdjust == "norm" && norm > meanNorm)))
                crafted = crafted.Select(v => (float)(v * meanNorm / norm)).ToArray();
            result[m.ClientId] = crafted.ToVector();
            betas[m.ClientId] = beta;
            deviations[m.ClientId] = Math.Sqrt(p.Sum(i => Math.Pow((double)crafted[i] - m.Delta.Values[i], 2)));
        }
        lock (_lock) _report = new PillReport(context.Round, betas, deviations);
        return result;
    }

    private static ClientUpdate[] Sub(IReadOnlyList<ClientUpdate> us, int[] p) =>
        [.. us.Select(u => u with { Delta = new ParameterVector([.. p.Select(i => u.Delta.Values[i])]) })];

    /// <summary>The <c>concentrated</c> budget: each crafted whole vector's deviation from the mean of what the attack knew,
    /// d = Δ̂ − μ, moved onto the pill: μ[P] + d[P]·‖d‖/‖d[P]‖ (d[P] alone when it is 0).</summary>
    internal static Dictionary<int, float[]> Concentrate(IReadOnlyDictionary<int, ParameterVector> crafted, IReadOnlyList<ClientUpdate> known, int[] p)
    {
        var mean = VectorMath.Mean(known.Select(k => k.Delta.Values).ToArray());
        var result = new Dictionary<int, float[]>();
        foreach (var (id, v) in crafted)
        {
            double whole = 0, onPill = 0;
            for (int i = 0; i < mean.Length; i++) whole += Math.Pow((double)v.Values[i] - mean[i], 2);
            foreach (var i in p) onPill += Math.Pow((double)v.Values[i] - mean[i], 2);
            double scale = onPill > 0 ? Math.Sqrt(whole / onPill) : 0;
            result[id] = [.. p.Select(i => (float)(mean[i] + ((double)v.Values[i] - mean[i]) * scale))];
        }
        return result;
    }

    /// <summary>
    /// The pill in the current global model: layer 1's strongest output neuron (largest weight norm), then in each
    /// further feature-extractor layer the neuron most (or least) strongly connected to the previous pill neuron; in the
    /// penultimate layer the h neurons most connected to it; the output layer's weights from those and its biases.
    /// </summary>
    public static PillStructure Construct(ModelLayout layout, float[] w, PillOptions o)
    {
        var path = SearchPath(layout, w, o);
        return Build(layout, path, ChooseClassifier(layout, w, o, path[^1]));
    }

    private static double Norm(float[] w, IEnumerable<int> idx) => Math.Sqrt(idx.Sum(i => (double)w[i] * w[i]));

    /// <summary>The coordinates of layer <paramref name="l"/>'s weights from input neuron (channel) <paramref name="from"/>
    /// into output <paramref name="output"/>; a linear layer after a convolution sees each channel as a block of
    /// spatial positions.</summary>
    private static IEnumerable<int> Incoming(ModelLayout layout, int l, int output, int from)
    {
        var layer = layout.Layers[l];
        int block = layer.IsConv || !layout.Layers[l - 1].IsConv ? 1 : layer.Inputs / layout.Layers[l - 1].Outputs;
        return Enumerable.Range(from * block, block).SelectMany(input => Enumerable.Range(0, layer.Kernel).Select(k => layer.Weight(output, input, k)));
    }

    private static int FeatureLayers(ModelLayout layout) =>
        layout.Layers.Length >= 3 ? layout.Layers.Length - 2 : throw new ArgumentException("the Pill needs at least three layers (feature extractor, penultimate, output)");

    /// <summary>Stage 1 in the feature extractor: one neuron (channel) per layer, by the max (or min) search.</summary>
    public static int[] SearchPath(ModelLayout layout, float[] w, PillOptions o)
    {
        int fe = FeatureLayers(layout);
        bool Better(double a, double b) => o.Search == "min" ? a < b : a > b;
        var first = layout.Layers[0];
        int width = first.Inputs * first.Kernel;
        int prev = Enumerable.Range(0, first.Outputs).Aggregate((a, b) =>
            Better(Norm(w, Enumerable.Range(first.WeightOffset + a * width, width)), Norm(w, Enumerable.Range(first.WeightOffset + b * width, width))) ? a : b);
        var path = new List<int> { prev };
        for (int l = 1; l < fe; l++)
        {
            int from = prev;
            prev = Enumerable.Range(0, layout.Layers[l].Outputs)
                .Aggregate((a, b) => Better(Norm(w, Incoming(layout, l, a, from)), Norm(w, Incoming(layout, l, b, from))) ? a : b);
            path.Add(prev);
        }
        return [.. path];
    }

    /// <summary>Stage 1 in the classifier: the h penultimate neurons most (or least) connected to the last pill feature.</summary>
    public static int[] ChooseClassifier(ModelLayout layout, float[] w, PillOptions o, int lastFeature)
    {
        int l = FeatureLayers(layout);
        return Enumerable.Range(0, layout.Layers[l].Outputs)
            .OrderBy(k => o.Search == "min" ? Norm(w, Incoming(layout, l, k, lastFeature)) : -Norm(w, Incoming(layout, l, k, lastFeature))).ThenBy(k => k)
            .Take(o.ClassifierNeurons).Order().ToArray();
    }

    /// <summary>The pill's coordinates P and disconnected coordinates D for a feature path and classifier neurons.</summary>
    public static PillStructure Build(ModelLayout layout, int[] path, int[] classifier)
    {
        var layers = layout.Layers;
        int fe = FeatureLayers(layout);
        var coords = new List<int>();
        var disconnected = new List<int>();
        var first = layers[0];
        int width = first.Inputs * first.Kernel;
        coords.AddRange(Enumerable.Range(first.WeightOffset + path[0] * width, width));
        coords.Add(first.Bias(path[0]));
        for (int l = 1; l < fe; l++)
        {
            coords.AddRange(Incoming(layout, l, path[l], path[l - 1]));
            coords.Add(layers[l].Bias(path[l]));
            for (int other = 0; other < layers[l - 1].Outputs; other++)
                if (other != path[l - 1]) disconnected.AddRange(Incoming(layout, l, path[l], other));
        }
        foreach (var k in classifier) { coords.AddRange(Incoming(layout, fe, k, path[^1])); coords.Add(layers[fe].Bias(k)); }
        var output = layers[fe + 1];
        foreach (var k in classifier) coords.AddRange(Enumerable.Range(0, output.Outputs).Select(c => output.Weight(c, k)));
        coords.AddRange(Enumerable.Range(0, output.Outputs).Select(output.Bias));
        return new PillStructure([.. path, .. classifier], [.. coords.Distinct().Order()], [.. disconnected.Distinct().Order()]);
    }
}
