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

/// <summary>The Pill over a run: rounds it crafted, pills crafted (colluders × rounds), mean β, share of pills at β = 0,
/// mean ‖Δ̃[P] − Δ[P]‖ — each pill weighing the same.</summary>
public sealed record PillCrafting(int Rounds, int Pills, double MeanBeta, double ZeroBetaShare, double MeanDeviation);

/// <summary>
/// A defence's detection round by round, as SkyMask's paper reports it: from which round on it is exact (every malicious
/// update caught, no benign one dropped, to the last round) and how many benign updates it dropped. Read from a run's or
/// a matrix cell's <c>rounds.csv</c>, so it works for cells finished by earlier pieces of a grid too.
/// </summary>
public static class DetectionReport
{
    /// <summary>The detection columns of <c>rounds.csv</c>, for the rounds the rule decided (a round that kept the model,
    /// <c>not_aggregated</c>, is left out); empty when the file is missing or lacks them.</summary>
    public static IReadOnlyList<DetectionRound> Read(string roundsCsv)
    {
        if (!File.Exists(roundsCsv)) return [];
        var lines = File.ReadAllLines(roundsCsv);
        if (lines.Length < 2) return [];
        var header = lines[0].Split(',');
        int[] at = [.. new[] { "round", "responded", "malicious", "true_positives", "false_positives" }.Select(c => Array.IndexOf(header, c))];
        if (at.Any(i => i < 0)) return [];
        int kept = Array.IndexOf(header, "not_aggregated"); // absent in files written before 2026-11-30
        return [.. lines.Skip(1).Select(l => l.Split(',')).Where(f => kept < 0 || f[kept].Length == 0).Select(f => new DetectionRound(
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

    /// <summary>What the rule measured each round (<c>DefenceMeasured</c> events in a run's <c>events.clef</c>), by round and
    /// name; a round logged twice (redone after a resume) keeps its last values. Empty without such events.</summary>
    public static IReadOnlyDictionary<int, IReadOnlyDictionary<string, double>> Measured(string eventsClef)
    {
        var byRound = new Dictionary<int, IReadOnlyDictionary<string, double>>();
        if (!File.Exists(eventsClef)) return byRound;
        foreach (var line in File.ReadLines(eventsClef))
        {
            if (!line.Contains("\"DefenceMeasured\"", StringComparison.Ordinal)) continue;
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(line);
                var e = doc.RootElement;
                if (!e.TryGetProperty("Event", out var kind) || kind.GetString() != "DefenceMeasured" || !e.TryGetProperty("Round", out var round)) continue;
                var values = new SortedDictionary<string, double>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                    if (p.Name is not ("Round" or "Rule" or "Measured" or "Event") && p.Name[0] != '@' && p.Value.ValueKind == System.Text.Json.JsonValueKind.Number)
                        values[p.Name] = p.Value.GetDouble();
                byRound[round.GetInt32()] = values;
            }
            catch (System.Text.Json.JsonException) { } // a line cut by a kill
        }
        return byRound;
    }

    /// <summary>What the Pill did over a run (<c>PillCrafted</c> events in its <c>events.clef</c>): SimAdjust's β and the pill's
    /// deviation from the honest update averaged over every colluder of every crafting round, and the share of colluders
    /// whose pill SimAdjust emptied (β = 0). Null without such events (no pill, or the pill never crafted).</summary>
    public static PillCrafting? Crafted(string eventsClef)
    {
        if (!File.Exists(eventsClef)) return null;
        var byRound = new Dictionary<int, (double[] Beta, double[] Deviation)>();
        foreach (var line in File.ReadLines(eventsClef))
        {
            if (!line.Contains("\"PillCrafted\"", StringComparison.Ordinal)) continue;
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(line);
                var e = doc.RootElement;
                if (!e.TryGetProperty("Round", out var round) || !e.TryGetProperty("Beta", out var beta) || !e.TryGetProperty("PillDeviation", out var deviation)) continue;
                // a round logged twice (redone after a resume) keeps its last values
                byRound[round.GetInt32()] = ([.. beta.EnumerateArray().Select(x => x.GetDouble())], [.. deviation.EnumerateArray().Select(x => x.GetDouble())]);
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException) { } // a line cut by a kill
        }
        var betas = byRound.Values.SelectMany(r => r.Beta).ToArray();
        if (betas.Length == 0) return null;
        var deviations = byRound.Values.SelectMany(r => r.Deviation).ToArray();
        return new PillCrafting(byRound.Count, betas.Length, betas.Average(), (double)betas.Count(b => b == 0) / betas.Length,
            deviations.Length == 0 ? double.NaN : deviations.Average());
    }

    /// <summary><c>detection.csv</c>: per cell and round, the counts and FPR/FNR (empty cells where undefined), then what the
    /// rule measured that round (one column per measured value of any cell, e.g. SkyMask's Separation and Split).</summary>
    public static string Csv(IEnumerable<(string Cell, IReadOnlyList<DetectionRound> Rounds, IReadOnlyDictionary<int, IReadOnlyDictionary<string, double>> Measured)> cells)
    {
        var all = cells.ToList();
        var names = all.SelectMany(c => c.Measured.Values.SelectMany(v => v.Keys)).Distinct().Order(StringComparer.Ordinal).ToArray();
        var sb = new StringBuilder("cell,round,responded,malicious,true_positives,false_positives,fpr,fnr");
        foreach (var n in names) sb.Append(',').Append(n.ToLowerInvariant());
        sb.Append('\n');
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var (cell, rounds, measured) in all)
            foreach (var r in rounds)
            {
                sb.Append(string.Join(',', cell, r.Round, r.Responded, r.Malicious, r.TruePositives, r.FalsePositives, F(r.FalsePositiveRate), F(r.FalseNegativeRate)));
                foreach (var n in names)
                    sb.Append(',').Append(measured.TryGetValue(r.Round, out var v) && v.TryGetValue(n, out var x) ? F(x) : "");
                sb.Append('\n');
            }
        return sb.ToString();
    }
}
