using FedActors.Core.Data;
using Xunit;

namespace FedActors.Core.Tests.Data;

/// <summary>The dataset's integrity check: what a failed round's health check uses to tell data overwritten in memory from
/// a computation that went wrong (issue #5).</summary>
[Collection("Torch")]
public class DatasetTests
{
    // 3 samples of 1×1×3 floats: 36 bytes of features, four 8-byte words and a 4-byte tail
    private static Dataset Small() => new("small", [.. Enumerable.Range(0, 9).Select(i => i * 0.25f)], [0, 1, 2], [1, 1, 3], 3);

    [Theory]
    [InlineData(0)]   // the first word
    [InlineData(17)]  // inside the words
    [InlineData(34)]  // the tail after the last whole word
    public void A_single_bit_flipped_in_the_features_should_be_seen_and_undoing_it_should_make_it_whole_again(int at)
    {
        using var d = Small();
        Assert.True(d.Unchanged());
        d.Features.bytes[at] ^= 0x10;
        Assert.False(d.Unchanged());
        d.Features.bytes[at] ^= 0x10;
        Assert.True(d.Unchanged());
    }

    [Fact]
    public void A_narrowed_view_should_give_its_own_bytes_as_the_chunked_fingerprint_assumes()
    {
        // the fingerprint reads tensors of more than 256 MiB in narrowed chunks (Tensor.bytes refuses 2 GiB at once)
        using var t = TorchSharp.torch.arange(10, dtype: TorchSharp.torch.ScalarType.Float32);
        using var v = t.narrow(0, 3, 4);
        Assert.Equal(t.bytes[12..28].ToArray(), v.bytes.ToArray());
    }

    [Fact]
    public void A_changed_label_should_be_seen()
    {
        using var d = Small();
        d.LabelTensor.bytes[8] = 2; // sample 1's label 1 -> 2
        Assert.False(d.Unchanged());
    }

    [Fact]
    public void Swapping_two_samples_should_be_seen()
    {
        // the same values in another order: a position-blind sum would miss it
        using var d = Small();
        var f = d.Features.bytes;
        var first = f[..12].ToArray();
        f.Slice(12, 12).CopyTo(f[..12]);
        first.CopyTo(f.Slice(12, 12));
        Assert.False(d.Unchanged());
    }
}
