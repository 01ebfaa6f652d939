using System.Globalization;
using System.Text;
using FedActors.Core.Simulation;

namespace FedActors.Cli.Output;

/// <summary>
/// <c>clients.csv</c>: one row per evaluated client per evaluated round (the per-client accuracies behind
/// <c>rounds.csv</c>'s min / median / max), for runs that evaluate client by client (personalisation, or FedAvg under the
/// clients protocol). Rows are appended as each round ends, so a run stopped midway keeps them. A resumed run first keeps
/// only the complete rows of its committed rounds (<see cref="KeepCommitted"/>), and a fork starts with its origin's up
/// to its round. Columns: round, client, malicious (1 for the attack's malicious clients, in every round, whether or not
/// they attack in it; <c>rounds.csv</c>'s <c>malicious</c> counts the updates of those attacking that round), test_samples,
/// correct, accuracy, loss (mean cross-entropy) and attack_success (a backdoor's, else empty).
/// </summary>
public static class ClientsCsv
{
    public const string FileName = "clients.csv";
    public const string Header = "round,client,malicious,test_samples,correct,accuracy,loss,attack_success";
    private const int Columns = 8;

    /// <summary>Appends <paramref name="round"/>'s clients (nothing when it evaluated none one by one).</summary>
    public static void Append(string path, RoundSummary round, Func<int, bool> isMalicious)
    {
        var clients = round.PerClient;
        if (clients.Count == 0) return;
        var sb = new StringBuilder();
        if (!File.Exists(path) || new FileInfo(path).Length == 0) sb.Append(Header).Append('\n');
        for (int i = 0; i < clients.Count; i++)
        {
            var (id, o) = (clients.Clients[i], clients.Outcomes[i]);
            sb.Append(CultureInfo.InvariantCulture, $"{round.Round},{id},{(isMalicious(id) ? 1 : 0)},{o.Count},{o.Correct},{F(o.Accuracy)},{F(o.MeanLoss)},{F(o.AttackSuccess)}\n");
        }
        File.AppendAllText(path, sb.ToString());
    }

    /// <summary>Keeps, of the rows in <paramref name="path"/>, those of the <paramref name="committed"/> rounds whose rows
    /// are all there (as many well-formed rows as the round evaluated clients); the rest are run again or were never
    /// written. No file and no committed round evaluated: nothing to do.</summary>
    /// <returns>The committed rounds that evaluated clients but have no complete rows: a kill or stop between a round's
    /// commit and its rows, or a run made before clients.csv existed.</returns>
    public static IReadOnlyList<int> KeepCommitted(string path, IReadOnlyList<RoundSummary> committed) => CopyCommitted(path, path, committed);

    /// <summary><see cref="KeepCommitted"/> from <paramref name="from"/> into <paramref name="to"/> (a fork's folder), atomically.</summary>
    public static IReadOnlyList<int> CopyCommitted(string from, string to, IReadOnlyList<RoundSummary> committed)
    {
        var expected = committed.Where(r => r.EvaluatedClients > 0).ToDictionary(r => r.Round, r => r.EvaluatedClients);
        var rows = File.Exists(from) ? Rows(from).Where(r => expected.ContainsKey(r.Round)).ToList() : [];
        var complete = rows.GroupBy(r => r.Round).Where(g => g.Count() == expected[g.Key]).Select(g => g.Key).ToHashSet();
        var kept = rows.Where(r => complete.Contains(r.Round)).Select(r => r.Line).ToList();
        if (kept.Count > 0) RunReport.WriteAtomically(to, Header + "\n" + string.Concat(kept.Select(l => l + "\n")));
        else if (File.Exists(to)) File.Delete(to);
        return [.. expected.Keys.Where(r => !complete.Contains(r)).Order()];
    }

    /// <summary>The <c>malicious</c> column: the attack's malicious clients (none without an attack).</summary>
    public static Func<int, bool> MaliciousOf(Core.Attacks.Collusion collusion) => id => collusion.Attack is not null && collusion.IsMalicious(id);

    /// <summary>Rounds for a warning: the first ten, and how many there are beyond.</summary>
    public static string Describe(IReadOnlyList<int> rounds) =>
        string.Join(", ", rounds.Take(10)) + (rounds.Count > 10 ? $" … ({rounds.Count} rounds)" : "");

    /// <summary>The well-formed rows of a clients.csv: a line cut off by a kill (the last, without its newline) or
    /// malformed is left out, and the round it belongs to then counts too few rows.</summary>
    public static IEnumerable<(int Round, string[] Fields, string Line)> Rows(string path)
    {
        bool whole;
        using (var s = File.OpenRead(path)) { whole = s.Length == 0 || (s.Seek(-1, SeekOrigin.End) >= 0 && s.ReadByte() == '\n'); }
        string? pending = null;
        foreach (var next in File.ReadLines(path).Skip(1).Append(null))
        {
            var line = pending;
            pending = next;
            if (line is null || (next is null && !whole)) continue; // the first pass, or the cut-off last line
            var f = line.Split(',');
            if (f.Length != Columns || !int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out int round)
                || !int.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out int samples)
                || !long.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out long correct)
                || (samples > 0 && F(correct / (double)samples) != f[5]))
                continue;
            yield return (round, f, line);
        }
    }

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
}
