using System.Globalization;
using System.Text;

namespace FedActors.Cli.Output;

/// <summary>One round's detection counts, as <c>rounds.csv</c> has them.</summary>
public sealed record DetectionRound(int Round, int Responded, int Malicious, int TruePositives, int FalsePositives)
{
    /// <summary>Benign updates flagged ÷ benign updates received; NaN in a round without benign updates.</summary>
    public double FalsePositiveRate => Responded - Malicious == 0 ? double.NaN : (double)FalsePositives / (Responded - Malicious);

    /// <summary>Malicious updates accepted ÷ malicious updates received; NaN in a round without attack.</summary>
    public double FalseNegativeRate => Malicious == 0 ? double.NaN : (double)(Malicious - TruePositives) / Malicious;

    /// <summary>Every malicious update flagged and no benign one (trivially, in a round without updates).</summary>
    public bool Exact => FalsePositives == 0 && TruePositives == Malicious;
}

/// <summary>
/// A defence's detection round by round, as SkyMask's paper reports it: from which round on it is exact (every malicious
/// update caught, no benign one dropped, to the last round) and how many benign updates it dropped. Read from a run's or
/// a matrix cell's <c>rounds.csv</c>, so it works for cells finished by earlier pieces of a grid too.
/// </summary>
public static class DetectionReport
{
    /// <summary>The detection columns of <c>rounds.csv</c>; empty when the file is missing or lacks them.</summary>
    public static IReadOnlyList<DetectionRound> Read(string roundsCsv)
    {
        if (!File.Exists(roundsCsv)) return [];
        var lines = File.ReadAllLines(roundsCsv);
        if (lines.Length < 2) return [];
        var header = lines[0].Split(',');
        int[] at = [.. new[] { "round", "responded", "malicious", "true_positives", "false_positives" }.Select(c => Array.IndexOf(header, c))];
        if (at.Any(i => i < 0)) return [];
        return [.. lines.Skip(1).Select(l => l.Split(',')).Select(f => new DetectionRound(
            Int(f[at[0]]), Int(f[at[1]]), Int(f[at[2]]), Int(f[at[3]]), Int(f[at[4]])))];
    }

    private static int Int(string s) => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>The first round from which every round to the last is exact; null when the last round is not (or none ran).</summary>
    public static int? ExactFrom(IReadOnlyList<DetectionRound> rounds)
    {
        int? from = null;
        for (int i = rounds.Count - 1; i >= 0 && rounds[i].Exact; i--) from = rounds[i].Round;
        return from;
    }

    /// <summary><c>detection.csv</c>: per cell and round, the counts and FPR/FNR (empty cells where undefined).</summary>
    public static string Csv(IEnumerable<(string Cell, IReadOnlyList<DetectionRound> Rounds)> cells)
    {
        var sb = new StringBuilder("cell,round,responded,malicious,true_positives,false_positives,fpr,fnr\n");
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var (cell, rounds) in cells)
            foreach (var r in rounds)
                sb.AppendLine(string.Join(',', cell, r.Round, r.Responded, r.Malicious, r.TruePositives, r.FalsePositives, F(r.FalsePositiveRate), F(r.FalseNegativeRate)));
        return sb.ToString();
    }
}
