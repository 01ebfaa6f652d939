using System.IO.Compression;
using FedActors.Core.Data;
using Xunit;

namespace FedActors.Core.Tests.Data;

public class IdxReaderTests
{
    private static byte[] Idx(byte type, int[] shape, byte[] data)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, type, (byte)shape.Length]);
        foreach (var d in shape) ms.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        ms.Write(data);
        return ms.ToArray();
    }

    private static string WriteGz(byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), $"idx-{Guid.NewGuid():N}.gz");
        using var f = File.Create(path);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(bytes);
        return path;
    }

    [Fact]
    public void Read_should_return_the_shape_and_bytes_of_a_gzip_IDX_file()
    {
        var path = WriteGz(Idx(0x08, [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
        var a = IdxReader.Read(path);
        Assert.Equal([2, 2, 3], a.Shape);
        Assert.Equal(12, a.Data.Length);
        Assert.Equal(12, a.Data[^1]);
    }

    [Fact]
    public void Read_should_reject_a_truncated_file_naming_it()
    {
        var path = WriteGz(Idx(0x08, [10, 28, 28], new byte[100]));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Read_should_reject_bad_magic_and_unsupported_types()
    {
        Assert.Throws<InvalidDataException>(() => IdxReader.Read(new MemoryStream([1, 2, 8, 1, 0, 0, 0, 0])));
        Assert.Throws<InvalidDataException>(() => IdxReader.Read(new MemoryStream(Idx(0x0D, [1], [0, 0, 0, 0]))));
    }

    [Fact]
    public void Read_should_report_a_missing_file()
    {
        Assert.Throws<FileNotFoundException>(() => IdxReader.Read("/nonexistent/train-images-idx3-ubyte.gz"));
    }

    [Fact]
    [Trait("Data", "fashion-mnist")]
    public void FashionMnist_should_load_a_normalised_slice_of_the_pooled_files()
    {
        using var d = FashionMnist.Load(FashionMnist.DefaultDirectory, "train+test", limit: 1000);
        Assert.Equal(1000, d.Count);
        Assert.Equal([1, 28, 28], d.SampleShape);
        Assert.All(d.Labels, l => Assert.InRange(l, 0, 9));
        Assert.Equal(9, d.Labels[0]); // the first training image of Fashion-MNIST is an ankle boot
        Assert.InRange(d.Features.min().item<float>(), -1f, -0.99f);
        Assert.InRange(d.Features.max().item<float>(), 0.99f, 1f);
    }
}
