namespace FedActors.Cli.Output;

/// <summary><c>&lt;run folder&gt;/faults.jsonl</c>: every fault that took effect, one JSON object a line, in order. As the
/// script of another run (<c>--faults</c>) it gives the same rounds. A resumed run that redoes a round does not write its
/// faults twice.</summary>
public sealed class FaultLog
{
    private readonly string _path;
    private readonly HashSet<string> _written;
    private readonly List<Core.Faults.Fault> _faults = [];

    public FaultLog(string path)
    {
        _path = path;
        var lines = File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).ToArray() : [];
        _written = [.. lines];
        foreach (var l in lines)
            try { _faults.Add(Core.Faults.Fault.FromJson(l)); }
            catch (Core.Faults.FaultError) { } // a line half-written by a killed run: not ours to repair
    }

    public IReadOnlyList<Core.Faults.Fault> Faults
    {
        get { lock (_faults) return [.. _faults]; }
    }

    public void Append(Core.Faults.Fault fault)
    {
        // pause and resume change no result: the record of what shaped the run leaves them out
        if (fault.Kind is Core.Faults.FaultKinds.Pause or Core.Faults.FaultKinds.Resume) return;
        var line = fault.ToJson();
        lock (_faults)
        {
            if (!_written.Add(line)) return;
            _faults.Add(fault);
            File.AppendAllText(_path, line + "\n");
        }
    }
}
