namespace FedActors.Core;
public static class Probe { public static float Run() { using var t = TorchSharp.torch.ones(3); return t.sum().item<float>(); } }
