using TorchSharp;

namespace FedActors.Core.Training;

/// <summary>
/// Process-wide torch settings for a CUDA device, made once before the first CUDA work: full-precision float32, no TF32
/// (which cuDNN convolutions use by default on Ampere and later GPUs and which would move GPU results ~1e-3 from the
/// CPU's, beyond the 1e-5 this project holds batched and sequential training to). Deterministic algorithm selection
/// (PyTorch's <c>use_deterministic_algorithms</c>, cuDNN's <c>deterministic</c>) is not in TorchSharp 0.107
/// (<c>use_deterministic_algorithms</c> is marked "not implemented"), so whether GPU runs repeat bit for bit is for
/// the GPU check to measure. Nothing is changed for the CPU.
/// </summary>
public static class DeviceSetup
{
    private static int _done;

    public static void Prepare(torch.Device device)
    {
        if (device.type != DeviceType.CUDA || Interlocked.Exchange(ref _done, 1) == 1) return;
        torch.backends.cuda.matmul.allow_tf32 = false;
        torch.backends.cudnn.allow_tf32 = false;
    }
}
