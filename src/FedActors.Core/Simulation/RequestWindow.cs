namespace FedActors.Core.Simulation;

/// <summary>
/// Flow control of a round's requests (train, evaluate): at most <see cref="Size"/> are out at once; the rest wait in
/// the order given and go out as answers come back. So no mailbox or worker queue holds thousands of client tasks — and,
/// with personal state, their models. The server decides nothing else by it: which clients take part and what they
/// compute do not depend on the window, only when they start.
/// </summary>
public sealed class RequestWindow
{
    private readonly Queue<int> _waiting;
    private readonly HashSet<int> _out = [];
    private readonly HashSet<int> _sent = [];

    public RequestWindow(int size, IEnumerable<int> clients)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a window of at least one request");
        Size = size;
        _waiting = new Queue<int>(clients);
    }

    public int Size { get; }

    /// <summary>Requests out and not answered.</summary>
    public int Out => _out.Count;

    /// <summary>Requests not sent yet.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>The next clients to send to, as many as there are free slots (each now counts as out).</summary>
    public IReadOnlyList<int> Take()
    {
        var next = new List<int>();
        while (_out.Count < Size && _waiting.Count > 0)
        {
            int id = _waiting.Dequeue();
            _out.Add(id);
            _sent.Add(id);
            next.Add(id);
        }
        return next;
    }

    /// <summary>An answer came (or none will: a lost message, a timeout): its slot is free. False when it was not out.</summary>
    public bool Release(int client) => _out.Remove(client);

    /// <summary>Whether a request went to this client (a timeout only cuts clients that were asked).</summary>
    public bool WasSent(int client) => _sent.Contains(client);
}
