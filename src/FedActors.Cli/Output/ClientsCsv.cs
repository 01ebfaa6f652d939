using System.Globalization;
using System.Text;
using FedActors.Core.Simulation;

namespace FedActors.Cli.Output;

/// <summary>
/// <c>clients.csv</c>: one row per evaluated client per evaluated round (the per-client accuracies behind
/// <c>rounds.csv</c>'s min / median / max), for runs that evaluate client by client (personalisation, or FedAvg under the
/// clients protocol). Rows are appended as each round ends, so a run stopped midway keeps them; a resumed run first drops
/// the rows of rounds after its checkpoint (they will be run again), and a fork starts with its origin's rows up to the
/// fork's round. Columns: round, client, malicious (1 for the attack's malicious clients, whether or not they attack
/// that round), test_samples, correct, accuracy, loss (mean cross-entropy) and attack_success (a backdoor's, else empty).
/// </summary>
public static class ClientsCsv
{
    public const string FileName = "clients.csv";
    public const string Header = "round,client,malicious,test_samples,correct,accuracy,loss,attack_success";

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
            sb.Append(string.Join(',', round.Round, id, isMalicious(id) ? 1 : 0, o.Count, o.Correct, F(o.Accuracy), F(o.MeanLoss), F(o.AttackSuccess))).Append('\n');
        }
        File.AppendAllText(path, sb.ToString());
    }

    /// <summary>Keeps the rows of rounds up to <paramref name="round"/> (0: none); no file, nothing to do.</summary>
    public static void KeepThrough(string path, int round) => CopyThrough(path, path, round);

    /// <summary>Writes <paramref name="from"/>'s rows of rounds up to <paramref name="round"/> to <paramref name="to"/>
    /// (atomically; <paramref name="to"/> may be <paramref name="from"/>).</summary>
    public static void CopyThrough(string from, string to, int round)
    {
        if (!File.Exists(from)) return;
        var kept = File.ReadLines(from).Skip(1)
            .Where(line => int.TryParse(line.AsSpan(0, Math.Max(0, line.IndexOf(','))), NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r <= round)
            .ToList();
        if (kept.Count == 0)
        {
            if (from == to) File.Delete(to);
            return;
        }
        RunReport.WriteAtomically(to, Header + "\n" + string.Join("", kept.Select(l => l + "\n")));
    }

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
}
