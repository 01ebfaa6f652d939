using System.Buffers.Binary;
using System.IO.Compression;

namespace FedActors.Core.Data;

/// <summary>Reads the IDX format of MNIST and Fashion-MNIST (big-endian header, optionally gzip-compressed).</summary>
public static class IdxReader
{
    public sealed record IdxArray(int[] Shape, byte[] Data);

    public static IdxArray Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionMode.Decompress)
            : file;
        return Read(stream, path);
    }

    public static IdxArray Read(Stream stream, string name = "stream")
    {
        Span<byte> header = stackalloc byte[4];
        ReadExactly(stream, header, name);
        if (header[0] != 0 || header[1] != 0)
            throw new InvalidDataException($"{name}: not an IDX file (magic {header[0]:X2}{header[1]:X2}{header[2]:X2}{header[3]:X2})");
        if (header[2] != 0x08)
            throw new InvalidDataException($"{name}: IDX element type 0x{header[2]:X2} is not supported (only unsigned byte, 0x08)");
        int dims = header[3];
        if (dims is < 1 or > 4) throw new InvalidDataException($"{name}: IDX with {dims} dimensions is not supported");
        var shape = new int[dims];
        Span<byte> dim = stackalloc byte[4];
        long total = 1;
        for (int i = 0; i < dims; i++)
        {
            ReadExactly(stream, dim, name);
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(dim);
            if (shape[i] < 0) throw new InvalidDataException($"{name}: negative dimension {shape[i]}");
            total *= shape[i];
        }
        if (total > int.MaxValue) throw new InvalidDataException($"{name}: {total} elements is too large");
        var data = new byte[total];
        ReadExactly(stream, data, name);
        return new IdxArray(shape, data);
    }

    private static void ReadExactly(Stream s, Span<byte> buffer, string name)
    {
        try { s.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new InvalidDataException($"{name}: truncated IDX file"); }
    }
}
