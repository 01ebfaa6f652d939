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
/// <param name="DistAdjust"><c>norm</c>: rescale Δ̃ to the attackers' mean honest norm when it is longer; <c>off</c>.</param>
/// <param name="Reference"><c>extra-trained</c>: Δ_ref is the global model trained for <paramref name="ExtraEpochs"/> epochs on
/// the pooled data of this round's colluders (the paper's reference; spec default E_extra = f·E, [infer]); <c>mean</c>:
/// the attackers' mean honest update (cheap).</param>
/// <param name="ExtraEpochs">E_extra; 0 = f·E (f colluders this round, E local epochs).</param>
public sealed record PillOptions(bool Enabled = false, int ClassifierNeurons = 2, string Search = "max", string Disconnection = "zero-weight",
    string SimAdjust = "min", string DistAdjust = "norm", string Reference = "extra-trained", int ExtraEpochs = 0)
{
    public int ExtraEpochsFor(int colluders, int localEpochs) => ExtraEpochs > 0 ? ExtraEpochs : Math.Max(1, colluders) * localEpochs;
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
/// <see cref="PillOptions"/>, defaulted as the spec proposes. The pill is searched again every round (the "repeated"
/// pattern); the one-time and adaptive patterns are not implemented.</remarks>
public sealed class Pill(IModelPoisoningAttack baseAttack, PillOptions options) : IModelPoisoningAttack
{
    public PillOptions Options => options;

    public IReadOnlyDictionary<int, ParameterVector> Craft(AttackContext context, IReadOnlyList<ClientUpdate> known, IReadOnlyList<ClientUpdate> malicious)
    {
        var layout = context.Layout ?? throw new InvalidOperationException("the Pill needs the model layout");
        var pill = Construct(layout, context.Global.Values, options);
        var p = pill.Coordinates;
        var reference = options.Reference == "extra-trained"
            ? (context.Reference ?? throw new InvalidOperationException("the Pill's extra-trained reference was not computed")).Values
            : VectorMath.Mean(malicious.Select(m => m.Delta.Values).ToArray());

        // Stage 2: the base attack on the pill's coordinates only.
        ClientUpdate[] Sub(IReadOnlyList<ClientUpdate> us) => us.Select(u => u with { Delta = new ParameterVector(p.Select(i => u.Delta.Values[i]).ToArray()) }).ToArray();
        var poisoned = baseAttack.Craft(context with { Layout = null }, Sub(known), Sub(malicious));

        // Stage 3: insertion, disconnection, SimAdjust, DistAdjust.
        var honestCos = malicious.Select(m => VectorMath.Cosine(m.Delta.Values, reference)).ToArray();
        double target = options.SimAdjust == "mean" ? honestCos.Average() : honestCos.Min();
        double meanNorm = malicious.Average(m => VectorMath.Norm(m.Delta.Values));
        var result = new Dictionary<int, ParameterVector>();
        foreach (var m in malicious)
        {
            var pi = poisoned[m.ClientId].Values;
            float[] Build(double beta)
            {
                var x = (float[])m.Delta.Values.Clone();
                for (int j = 0; j < p.Length; j++) x[p[j]] = (float)(reference[p[j]] + beta * (pi[j] - reference[p[j]]));
                foreach (var d in pill.Disconnected)
                    x[d] = options.Disconnection switch { "zero-weight" => -context.Global.Values[d], "zero-update" => 0f, _ => x[d] };
                return x;
            }
            var crafted = Build(1);
            if (options.SimAdjust != "off" && VectorMath.Cosine(crafted, reference) < target)
            {
                double lo = 0, hi = 1;
                for (int it = 0; it < 30; it++)
                {
                    double mid = (lo + hi) / 2;
                    if (VectorMath.Cosine(Build(mid), reference) >= target) lo = mid; else hi = mid;
                }
                crafted = Build(lo);
            }
            if (options.DistAdjust == "norm")
            {
                double norm = VectorMath.Norm(crafted);
                if (norm > meanNorm && norm > 0) crafted = crafted.Select(v => (float)(v * meanNorm / norm)).ToArray();
            }
            result[m.ClientId] = crafted.ToVector();
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
        var layers = layout.Layers;
        if (layers.Length < 3) throw new ArgumentException("the Pill needs at least three layers (feature extractor, penultimate, output)");
        int fe = layers.Length - 2; // layers 0 .. fe-1 are the feature extractor
        var coords = new List<int>();
        var disconnected = new List<int>();
        var neurons = new List<int>();
        double Norm(IEnumerable<int> idx) => Math.Sqrt(idx.Sum(i => (double)w[i] * w[i]));
        bool Better(double a, double b) => o.Search == "min" ? a < b : a > b;

        // Layer 1: all incoming weights of the strongest output neuron.
        var first = layers[0];
        int prev = Enumerable.Range(0, first.Outputs).Aggregate((a, b) =>
            Better(Norm(Enumerable.Range(0, first.Inputs * first.Kernel).Select(k => first.WeightOffset + a * first.Inputs * first.Kernel + k)),
                   Norm(Enumerable.Range(0, first.Inputs * first.Kernel).Select(k => first.WeightOffset + b * first.Inputs * first.Kernel + k))) ? a : b);
        coords.AddRange(Enumerable.Range(0, first.Inputs * first.Kernel).Select(k => first.WeightOffset + prev * first.Inputs * first.Kernel + k));
        coords.Add(first.Bias(prev));
        neurons.Add(prev);
        int prevOutputs = first.Outputs;

        for (int l = 1; l <= fe; l++)
        {
            var layer = layers[l];
            // A linear layer after a convolution sees each channel as a block of spatial positions.
            int block = layer.IsConv || !layers[l - 1].IsConv ? 1 : layer.Inputs / prevOutputs;
            IEnumerable<int> Incoming(int output, int from) => Enumerable.Range(from * block, block)
                .SelectMany(input => Enumerable.Range(0, layer.Kernel).Select(k => layer.Weight(output, input, k)));
            if (l < fe)
            {
                int best = Enumerable.Range(0, layer.Outputs).Aggregate((a, b) => Better(Norm(Incoming(a, prev)), Norm(Incoming(b, prev))) ? a : b);
                coords.AddRange(Incoming(best, prev));
                coords.Add(layer.Bias(best));
                for (int other = 0; other < prevOutputs; other++)
                    if (other != prev) disconnected.AddRange(Incoming(best, other));
                neurons.Add(best);
                prev = best;
                prevOutputs = layer.Outputs;
            }
            else
            {
                // The penultimate layer: the h neurons most connected to the pill feature, then the output layer.
                var chosen = Enumerable.Range(0, layer.Outputs)
                    .OrderBy(k => o.Search == "min" ? Norm(Incoming(k, prev)) : -Norm(Incoming(k, prev))).ThenBy(k => k)
                    .Take(o.ClassifierNeurons).Order().ToArray();
                foreach (var k in chosen) { coords.AddRange(Incoming(k, prev)); coords.Add(layer.Bias(k)); }
                var output = layers[l + 1];
                foreach (var k in chosen) coords.AddRange(Enumerable.Range(0, output.Outputs).Select(c => output.Weight(c, k)));
                coords.AddRange(Enumerable.Range(0, output.Outputs).Select(output.Bias));
                neurons.AddRange(chosen);
            }
        }
        return new PillStructure([.. neurons], [.. coords.Distinct().Order()], [.. disconnected.Distinct().Order()]);
    }
}
