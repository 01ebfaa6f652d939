using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FedActors.Core.Models;

/// <summary>Model architectures by their config name (<c>fedactors.model.kind</c>). One line per model.</summary>
public static class ModelRegistry
{
    private static readonly IReadOnlyDictionary<string, Func<int[], int, Device, SplitModel>> Factories =
        new SortedDictionary<string, Func<int[], int, Device, SplitModel>>(StringComparer.Ordinal)
        {
            ["cnn"] = FedAvgCnn,
            ["mlp"] = (shape, classes, device) => Mlp(shape, classes, 200, device),
            ["skymask-cnn"] = SkyMaskCnn,
        };

    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)Factories.Keys;

    /// <summary>Builds the model for inputs of <paramref name="sampleShape"/> with its parameters on <paramref name="device"/>
    /// (a worker's: <see cref="Simulation.Experiment.CreateModel"/>; the host's for host-side work; required, so that no
    /// model lands on TorchSharp's default device by omission), initialised from <paramref name="seed"/> (on the CPU, whose
    /// generator draws the same numbers everywhere; then moved).</summary>
    public static SplitModel Create(string kind, int[] sampleShape, int numClasses, Device device, ulong? seed = null)
    {
        if (!Factories.TryGetValue(kind, out var factory))
            throw new ArgumentException($"unknown model '{kind}'; valid: {string.Join(", ", Names)}");
        var model = factory(sampleShape, numClasses, seed is null ? device : CPU);
        if (seed is { } s)
        {
            using var g = new Generator(s);
            model.ResetParameters(g);
            if (device.type != DeviceType.CPU) model.to(device);
        }
        return model;
    }

    /// <summary>
    /// PFLlib's <c>FedAvgCNN</c> (McMahan et al. 2017's CNN): conv5×5(32)–ReLU–maxpool2, conv5×5(64)–ReLU–maxpool2,
    /// fc(512)–ReLU as the body; a linear head. 582,026 parameters on 1×28×28 inputs.
    /// </summary>
    public static SplitModel FedAvgCnn(int[] sampleShape, int numClasses, Device? device = null)
    {
        device ??= CPU;
        if (sampleShape.Length != 3) throw new ArgumentException($"cnn needs C×H×W inputs, got {string.Join('×', sampleShape)}");
        int c = sampleShape[0], h = sampleShape[1], w = sampleShape[2];
        int outH = ((h - 4) / 2 - 4) / 2, outW = ((w - 4) / 2 - 4) / 2;
        if (outH < 1 || outW < 1) throw new ArgumentException($"cnn needs inputs of at least 16×16, got {h}×{w}");
        var body = Sequential(
            ("conv1", Conv2d(c, 32, 5, device: device)), ("relu1", ReLU()), ("pool1", MaxPool2d(2)),
            ("conv2", Conv2d(32, 64, 5, device: device)), ("relu2", ReLU()), ("pool2", MaxPool2d(2)),
            ("flatten", Flatten()),
            ("fc1", Linear(64 * outH * outW, 512, device: device)), ("relu3", ReLU()));
        return new SplitModel("FedAvgCNN", body, Linear(512, numClasses, device: device));
    }

    /// <summary>
    /// SkyMask's 4-layer CNN for Fashion-MNIST (its <c>models.py</c> <c>CNN</c>): conv3×3(30)–ReLU–maxpool2,
    /// conv3×3(50)–ReLU–maxpool2, fc(100)–ReLU as the body; a linear head. Log-softmax is over classes (the repo's
    /// dim=0 is a bug, spec A2). 139,960 parameters on 1×28×28 inputs.
    /// </summary>
    public static SplitModel SkyMaskCnn(int[] sampleShape, int numClasses, Device? device = null)
    {
        device ??= CPU;
        if (sampleShape.Length != 3) throw new ArgumentException($"skymask-cnn needs C×H×W inputs, got {string.Join('×', sampleShape)}");
        int c = sampleShape[0], h = sampleShape[1], w = sampleShape[2];
        int outH = ((h - 2) / 2 - 2) / 2, outW = ((w - 2) / 2 - 2) / 2;
        var body = Sequential(
            ("conv1", Conv2d(c, 30, 3, device: device)), ("relu1", ReLU()), ("pool1", MaxPool2d(2)),
            ("conv2", Conv2d(30, 50, 3, device: device)), ("relu2", ReLU()), ("pool2", MaxPool2d(2)),
            ("flatten", Flatten()),
            ("fc1", Linear(50 * outH * outW, 100, device: device)), ("relu3", ReLU()));
        return new SplitModel("SkyMaskCNN", body, Linear(100, numClasses, device: device));
    }

    /// <summary>McMahan et al. 2017's "2NN": flatten, fc(hidden)–ReLU, fc(hidden)–ReLU as the body; a linear head.
    /// 199,210 parameters on 1×28×28 inputs with 200 hidden units.</summary>
    public static SplitModel Mlp(int[] sampleShape, int numClasses, int hidden, Device? device = null)
    {
        device ??= CPU;
        int inputs = sampleShape.Aggregate(1, (a, b) => a * b);
        var body = Sequential(("flatten", Flatten()), ("fc1", Linear(inputs, hidden, device: device)), ("relu1", ReLU()),
            ("fc2", Linear(hidden, hidden, device: device)), ("relu2", ReLU()));
        return new SplitModel("MLP", body, Linear(hidden, numClasses, device: device));
    }
}
