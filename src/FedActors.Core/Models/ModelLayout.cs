namespace FedActors.Core.Models;

/// <summary>One layer's parameters inside a flattened vector: its weight (and bias) shape and offsets.</summary>
/// <param name="WeightShape">[out, in] for a linear layer, [out, in, kh, kw] for a convolution.</param>
public sealed record LayerLayout(string Name, long[] WeightShape, int WeightOffset, int BiasOffset, bool InHead)
{
    public int Outputs => (int)WeightShape[0];
    public int Inputs => (int)WeightShape[1];
    /// <summary>Scalars per (output, input) connection: kh·kw for a convolution, 1 for a linear layer.</summary>
    public int Kernel => (int)WeightShape.Skip(2).Aggregate(1L, (a, b) => a * b);
    public bool IsConv => WeightShape.Length == 4;

    /// <summary>Flat index of weight[output, input, k].</summary>
    public int Weight(int output, int input, int k = 0) => WeightOffset + (output * Inputs + input) * Kernel + k;
    public int Bias(int output) => BiasOffset + output;
}

/// <summary>Where each layer's weights and biases sit in a <see cref="Updates.ParameterVector"/>, in module order. Layers
/// are (weight, bias) pairs of linear or convolution modules; the head's layers are marked.</summary>
public sealed record ModelLayout(LayerLayout[] Layers, int Length)
{
    public static ModelLayout Of(SplitModel model)
    {
        var named = model.named_parameters().Select(p => (p.name, Shape: p.parameter.shape, Size: (int)p.parameter.numel())).ToArray();
        var layers = new List<LayerLayout>();
        int offset = 0;
        for (int i = 0; i < named.Length; i++)
        {
            var (name, shape, size) = named[i];
            if (shape.Length >= 2 && i + 1 < named.Length && named[i + 1].Shape.Length == 1 && named[i + 1].Shape[0] == shape[0])
            {
                string layer = name[..name.LastIndexOf('.')];
                layers.Add(new LayerLayout(layer, shape, offset, offset + size, layer.StartsWith("head", StringComparison.Ordinal)));
                offset += size + named[i + 1].Size;
                i++;
            }
            else offset += size;
        }
        return new ModelLayout([.. layers], offset);
    }
}
