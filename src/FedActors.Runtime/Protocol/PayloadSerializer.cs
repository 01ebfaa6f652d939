using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;
using FedActors.Core.Updates;

namespace FedActors.Runtime.Protocol;

/// <summary>
/// The wire format of the messages that carry model-sized float vectors across nodes (global models, updates, the
/// adversary's honest and crafted updates, models to evaluate, the final model): fixed fields, then each vector as its
/// length and its raw little-endian floats, copied as one block. Hyperion (bound to every other
/// <see cref="IFedActorsMessage"/>) writes the same floats one by one through reflection; this writes 4 bytes a
/// parameter plus a few dozen and does not depend on a reflection serializer's version. It counts what it writes
/// (<see cref="BytesWritten"/>), which is what <c>bench cluster</c> reports as payload bytes: only messages that leave
/// the process are serialised.
/// </summary>
public sealed class PayloadSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The identifier bound in <c>reference.conf</c> (<c>akka.actor.serialization-identifiers</c>).</summary>
    public const int Id = 7411;

    private long _bytesWritten;

    public override int Identifier => Id;

    /// <summary>Bytes of payload messages this node has serialised (sent to other nodes) since it started.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public override string Manifest(object o) => o switch
    {
        GlobalModel => "G",
        UpdateSubmitted => "U",
        HonestUpdate => "H",
        PoisonedUpdate => "P",
        EvaluateModel => "E",
        RunFinished => "R",
        _ => throw new ArgumentException($"{o.GetType()} is not a payload message", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        var w = new Writer();
        switch (obj)
        {
            case GlobalModel m: w.Int(m.Round); w.Floats(m.Weights.Values); w.Floats(m.Extra); break;
            case UpdateSubmitted m:
                w.Int(m.ClientId); w.Int(m.Round); w.Floats(m.Delta.Values); w.Int(m.NumSamples); w.Double(m.TrainLoss); w.Double(m.SimSeconds); w.Long(m.ComputeMs);
                break;
            case HonestUpdate m:
                w.Int(m.ClientId); w.Int(m.Round); w.Floats(m.Delta.Values); w.Int(m.NumSamples); w.Double(m.TrainLoss); w.Int(m.Malicious ? 1 : 0); w.Ref(m.Client);
                break;
            case PoisonedUpdate m: w.Int(m.ClientId); w.Int(m.Round); w.Floats(m.Delta.Values); break;
            case EvaluateModel m: w.Int(m.Round); w.Floats(m.Weights.Values); w.Ref(m.ReplyTo); break;
            case RunFinished m: w.Int(m.Rounds); w.Floats(m.FinalModel.Values); break;
            default: throw new ArgumentException($"{obj.GetType()} is not a payload message", nameof(obj));
        }
        var bytes = w.ToArray();
        Interlocked.Add(ref _bytesWritten, bytes.Length);
        return bytes;
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new Reader(bytes, system);
        object message = ShortManifest(manifest) switch
        {
            "G" => new GlobalModel(r.Int(), new ParameterVector(r.Floats()!), r.Floats()),
            "U" => new UpdateSubmitted(r.Int(), r.Int(), new ParameterVector(r.Floats()!), r.Int(), r.Double(), r.Double(), r.Long()),
            "H" => new HonestUpdate(r.Int(), r.Int(), new ParameterVector(r.Floats()!), r.Int(), r.Double(), r.Int() == 1, r.Ref()),
            "P" => new PoisonedUpdate(r.Int(), r.Int(), new ParameterVector(r.Floats()!)),
            "E" => new EvaluateModel(r.Int(), new ParameterVector(r.Floats()!), r.Ref()),
            "R" => new RunFinished(r.Int(), new ParameterVector(r.Floats()!)),
            _ => throw new SerializationException($"unknown payload manifest \"{manifest}\""),
        };
        r.End();
        return message;
    }

    /// <summary>The manifest as written by <see cref="Manifest"/>, also when given as a type name (FromBinary with a type).</summary>
    private static string ShortManifest(string manifest) => manifest.Split(',')[0] switch
    {
        var t when t == typeof(GlobalModel).FullName => "G",
        var t when t == typeof(UpdateSubmitted).FullName => "U",
        var t when t == typeof(HonestUpdate).FullName => "H",
        var t when t == typeof(PoisonedUpdate).FullName => "P",
        var t when t == typeof(EvaluateModel).FullName => "E",
        var t when t == typeof(RunFinished).FullName => "R",
        _ => manifest,
    };

    private sealed class Writer
    {
        private byte[] _buffer = new byte[256];
        private int _length;

        private Span<byte> Take(int n)
        {
            if (_length + n > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + n));
            var span = _buffer.AsSpan(_length, n);
            _length += n;
            return span;
        }

        public void Int(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
        public void Long(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
        public void Double(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), v);

        /// <summary>Length (−1: null), then the floats as one block (little-endian, as every platform .NET runs on).</summary>
        public void Floats(float[]? values)
        {
            Int(values?.Length ?? -1);
            if (values is null) return;
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(Take(values.Length * sizeof(float)));
        }

        public void Ref(IActorRef actor)
        {
            var path = Encoding.UTF8.GetBytes(Serialization.SerializedActorPath(actor));
            Int(path.Length);
            path.CopyTo(Take(path.Length));
        }

        public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();
    }

    private sealed class Reader(byte[] bytes, ExtendedActorSystem system)
    {
        private int _at;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || _at + n > bytes.Length) throw new SerializationException($"payload message truncated at byte {_at} of {bytes.Length}");
            var span = bytes.AsSpan(_at, n);
            _at += n;
            return span;
        }

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public float[]? Floats()
        {
            int n = Int();
            if (n == -1) return null;
            if (n < 0 || n > (bytes.Length - _at) / sizeof(float)) throw new SerializationException($"payload vector of {n} floats does not fit the message");
            var values = new float[n];
            Take(n * sizeof(float)).CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }

        public IActorRef Ref() => system.Provider.ResolveActorRef(Encoding.UTF8.GetString(Take(Int())));

        public void End()
        {
            if (_at != bytes.Length) throw new SerializationException($"payload message has {bytes.Length - _at} bytes left over");
        }
    }
}
