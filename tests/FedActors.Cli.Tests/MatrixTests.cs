using Xunit;

namespace FedActors.Cli.Tests;

/// <summary><c>fedactors matrix</c> as a user runs it: a grid of real runs, one of which fails.</summary>
[Collection("Cli")]
public class MatrixTests : IDisposable
{
    public void Dispose() => RunScriptTests.KillLeftovers();

    [Fact]
    public void A_failed_cell_should_be_marked_and_the_rest_of_the_grid_written()
    {
        // arrange: a sign-flip so large that its updates overflow to ±∞, from most clients: those cells fail their health check
        var outDir = RunScriptTests.TempDir();

        // act
        var (code, o, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--attacks", "none,sign-flip", "--defences", "fedavg,median",
            "--out", outDir, "--set", "fedactors.rounds=1", "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10",
            "--set", "fedactors.clients.per-round=10", "--set", "fedactors.clients.dropout.probability=0", "--set", "fedactors.round.deadline-seconds=0",
            "--set", "fedactors.attack.fraction=0.8", "--set", "fedactors.attack.sign-flip.scale=1e39");

        // assert: exit 1 for the failed cells, every cell has its folder and events, matrix.csv has all four rows
        Assert.True(code == 1, o + e);
        var dir = Assert.Single(Directory.GetDirectories(outDir));
        var cells = Directory.GetDirectories(dir);
        Assert.Equal(4, cells.Length);
        Assert.All(cells, c => Assert.True(File.Exists(Path.Combine(c, "events.clef")), $"{c} has no events.clef"));
        Assert.Equal(2, cells.Count(c => File.Exists(Path.Combine(c, "failed.txt"))));
        Assert.Contains("failed its health check", File.ReadAllText(Path.Combine(dir, "failed.txt")));
        var rows = File.ReadAllLines(Path.Combine(dir, "matrix.csv"));
        var header = rows[0].Split(',');
        int failed = Array.IndexOf(header, "failed_seeds"), seeds = Array.IndexOf(header, "seeds");
        Assert.Equal(5, rows.Length);
        foreach (var row in rows.Skip(1).Select(r => r.Split(',')))
            Assert.Equal(row[0] == "sign-flip" ? ("0", "1") : ("1", "0"), (row[seeds], row[failed]));
    }

    [Fact]
    public void Each_attack_row_should_report_its_error_increase_over_the_no_attack_row_of_its_defence()
    {
        // arrange + act: none and sign-flip (without and with the pill) under FedAvg and median, two seeds; `none` has no
        // pill, so its one row is the baseline of both (before, --pill off,on with none failed the whole grid)
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--attacks", "none,sign-flip", "--defences", "fedavg,median",
            "--pill", "off,on", "--seeds", "1,2", "--out", outDir, "--set", "fedactors.rounds=2", "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10",
            "--set", "fedactors.clients.per-round=10", "--set", "fedactors.attack.fraction=0.3", "--set", "fedactors.attack.pill.reference=mean");
        Assert.True(code == 0, o + e);

        // assert: the increase is the per-seed difference of the cells' final error rates, averaged
        var dir = Assert.Single(Directory.GetDirectories(outDir));
        double Error(string attack, string defence, int seed, string pill = "off")
        {
            using var s = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"{attack}-{defence}-pill-{pill}-seed-{seed}", "summary.json")));
            return s.RootElement.GetProperty("final_error_rate").GetDouble();
        }
        var rows = File.ReadAllLines(Path.Combine(dir, "matrix.csv"));
        var header = rows[0].Split(',');
        int increase = Array.IndexOf(header, "error_increase_mean");
        foreach (var defence in new[] { "fedavg", "median" })
            foreach (var pill in new[] { "off", "on" })
            {
                var row = rows.Single(r => r.StartsWith($"sign-flip,{defence},{pill},", StringComparison.Ordinal)).Split(',');
                double expected = (Error("sign-flip", defence, 1, pill) - Error("none", defence, 1) + Error("sign-flip", defence, 2, pill) - Error("none", defence, 2)) / 2;
                Assert.Equal(expected, double.Parse(row[increase], System.Globalization.CultureInfo.InvariantCulture), 12);
            }
        foreach (var defence in new[] { "fedavg", "median" })
            Assert.Equal("", rows.Single(r => r.StartsWith($"none,{defence},", StringComparison.Ordinal)).Split(',')[increase]);
        Assert.False(Directory.Exists(Path.Combine(dir, "none-fedavg-pill-on-seed-1")));
        // each cell's events carry the adversary's report of what the pill did
        Assert.Contains("ZeroBetaShare", File.ReadAllText(Path.Combine(dir, "sign-flip-fedavg-pill-on-seed-1", "events.clef")));
        var markdown = File.ReadAllText(Path.Combine(dir, "matrix.md"));
        Assert.Contains("error increase over none", markdown);
        // the pill's effect: per defence both increases, in points, and pill ÷ base where the base attack raises the error
        foreach (var defence in new[] { "fedavg", "median" })
        {
            double Increase(string pill) => double.Parse(rows.Single(r => r.StartsWith($"sign-flip,{defence},{pill},", StringComparison.Ordinal)).Split(',')[increase],
                System.Globalization.CultureInfo.InvariantCulture);
            double off = Increase("off"), on = Increase("on");
            string ratio = off > 0 ? (on / off).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "n/a";
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| sign-flip | {defence} | {off * 100:0.00} | {on * 100:0.00} | {ratio} |"), markdown);
        }
        // the average takes the defences where the base attack's increase exceeds its spread over the two seeds
        double Std(double a, double b) => Math.Abs(a - b) / Math.Sqrt(2);
        var counted = new[] { "fedavg", "median" }.Where(d =>
        {
            double s1 = Error("sign-flip", d, 1, "off") - Error("none", d, 1), s2 = Error("sign-flip", d, 2, "off") - Error("none", d, 2);
            return (s1 + s2) / 2 > Std(s1, s2);
        }).Count();
        Assert.Contains($"sign-flip: pill ÷ base averages", markdown);
        Assert.Contains($"over the {counted} of 2 defences where the base attack raises the error beyond its spread over seeds", markdown);
        // beside them, SimAdjust's mean β over every pill crafted in the pill-on cells (colluders × rounds, each weighing the same)
        var betas = new[] { 1, 2 }.SelectMany(seed => File.ReadLines(Path.Combine(dir, $"sign-flip-fedavg-pill-on-seed-{seed}", "events.clef"))
            .Where(l => l.Contains("\"PillCrafted\"", StringComparison.Ordinal))
            .SelectMany(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("Beta").EnumerateArray().Select(b => b.GetDouble()))).ToArray();
        Assert.NotEmpty(betas);
        var fedavgRow = markdown[markdown.IndexOf("## The pill's effect", StringComparison.Ordinal)..].Split('\n')
            .Single(l => l.StartsWith("| sign-flip | fedavg |", StringComparison.Ordinal));
        Assert.Equal(betas.Average().ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), fedavgRow.Split('|')[6].Trim());
        Assert.EndsWith("| – |", fedavgRow); // FedAvg reports no split
        // detection per round: every cell's rounds in detection.csv; no attack and nobody flagged is exact from round 1
        Assert.Equal(1 + 12 * 2, File.ReadAllLines(Path.Combine(dir, "detection.csv")).Length); // 12 cells of 2 rounds
        int exact = Array.IndexOf(header, "exact_from_round");
        Assert.Equal("1 1", rows.Single(r => r.StartsWith("none,fedavg,", StringComparison.Ordinal)).Split(',')[exact]);
        Assert.Equal("never never", rows.Single(r => r.StartsWith("sign-flip,fedavg,off,", StringComparison.Ordinal)).Split(',')[exact]);
    }
    [Fact]
    public void A_personalised_grid_should_evaluate_the_same_benign_clients_in_every_cell()
    {
        // arrange + act: FedALA under no attack and under sign flipping, 3 of 10 clients malicious
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--attacks", "none,sign-flip", "--defences", "fedavg",
            "--out", outDir, "--set", "fedactors.rounds=2", "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10",
            "--set", "fedactors.clients.per-round=10", "--set", "fedactors.attack.fraction=0.3", "--set", "fedactors.personalization.method=fedala");
        Assert.True(code == 0, o + e);

        // assert: the none row, the baseline of the attack row's increase, evaluates the 7 clients the attack row keeps benign
        var dir = Assert.Single(Directory.GetDirectories(outDir));
        foreach (var cell in new[] { "none", "sign-flip" })
        {
            var rows = File.ReadAllLines(Path.Combine(dir, $"{cell}-fedavg-pill-off-seed-42", "rounds.csv"));
            int evaluated = Array.IndexOf(rows[0].Split(','), "evaluated_clients");
            Assert.All(rows.Skip(1), r => Assert.Equal("7", r.Split(',')[evaluated]));
            Assert.Contains("evaluate = \"benign\"", File.ReadAllText(Path.Combine(dir, $"{cell}-fedavg-pill-off-seed-42", "config.conf")));
        }
    }

    [Fact]
    public void A_matrix_stopped_by_its_budget_should_resume_piece_by_piece_to_the_uninterrupted_grid()
    {
        // arrange: a 2-cell grid of 2 rounds each, run whole, and again with a budget spent after every round
        string[] grid = ["hocon/experiments/quickstart.conf", "--attacks", "none,sign-flip", "--defences", "fedavg", "--set", "fedactors.rounds=2",
            "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10", "--set", "fedactors.clients.per-round=10", "--set", "fedactors.attack.fraction=0.3"];
        var (whole, pieces, o) = WholeAndStopped(grid);
        Assert.Contains("0 of 2 cells done", o);
        var dir = Assert.Single(Directory.GetDirectories(pieces));
        using (var first = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "none-fedavg-pill-off-seed-42", "summary.json"))))
            Assert.Equal(("budget", 1), (first.RootElement.GetProperty("ended_early").GetString(), first.RootElement.GetProperty("rounds").GetInt32()));
        // --report writes the tables of what is finished and runs nothing: the unfinished first cell keeps its one round
        var firstRounds = File.ReadAllLines(Path.Combine(dir, "none-fedavg-pill-off-seed-42", "rounds.csv"));
        (int code, o, string e) = RunScriptTests.RunScript("matrix", "--resume", dir, "--report");
        Assert.True(code == 0, o + e);
        Assert.Contains("0 of 2 cells done", o);
        Assert.Equal(firstRounds, File.ReadAllLines(Path.Combine(dir, "none-fedavg-pill-off-seed-42", "rounds.csv")));
        Assert.Contains("0 of 2 cells done", File.ReadAllText(Path.Combine(dir, "matrix.md")));
        (code, _, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--attacks", "none", "--defences", "fedavg", "--report");
        Assert.Equal(2, code);
        Assert.Contains("--resume <matrix folder>", e);
        // the first cell as a kill inside its first round leaves it: its clients' states saved, no round committed
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir, "none-fedavg-pill-off-seed-42", "client-state.db")};Pooling=False"))
        {
            db.Open();
            using var forget = db.CreateCommand();
            forget.CommandText = "DELETE FROM checkpoints";
            Assert.Equal(1, forget.ExecuteNonQuery());
        }
        // act: resumed until it says nothing is left
        int resumptions = 0;
        while (o.Contains("cells done", StringComparison.Ordinal) && resumptions < 8)
        {
            (code, o, e) = RunScriptTests.RunScript("matrix", "--resume", dir, "--max-minutes", "0.0001");
            Assert.True(code == 0, o + e);
            resumptions++;
        }

        // assert: a round a piece (cell 1's first round again, its second, cell 2's first, cell 2's second); every cell's
        // rounds and the grid are the uninterrupted ones (wall-clock columns aside)
        Assert.Equal(4, resumptions);
        var wholeDir = Assert.Single(Directory.GetDirectories(whole));
        Assert.Equal(File.ReadAllText(Path.Combine(wholeDir, "matrix.csv")), File.ReadAllText(Path.Combine(dir, "matrix.csv")));
        foreach (var cell in new[] { "none-fedavg-pill-off-seed-42", "sign-flip-fedavg-pill-off-seed-42" })
            Assert.Equal(WithoutTimings(Path.Combine(wholeDir, cell, "rounds.csv")), WithoutTimings(Path.Combine(dir, cell, "rounds.csv")));
        Assert.DoesNotContain("cells done", File.ReadAllText(Path.Combine(dir, "matrix.md")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_cell_made_before_a_setting_existed_should_resume_after_its_round_not_start_again()
    {
        // arrange: a 1-cell grid of 2 rounds, whole; the same stopped by its budget after round 1, its cell made to look as a
        // FedActors without fedactors.device.batch-wait left it (config.conf without the key, the checkpoint under that hash)
        string[] grid = ["hocon/experiments/quickstart.conf", "--attacks", "none", "--defences", "fedavg", "--set", "fedactors.rounds=2",
            "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10", "--set", "fedactors.clients.per-round=10"];
        var (whole, pieces, _) = WholeAndStopped(grid);
        var cell = Path.Combine(Assert.Single(Directory.GetDirectories(pieces)), "none-fedavg-pill-off-seed-42");
        var configPath = Path.Combine(cell, "config.conf");
        RunScriptTests.MadeBeforeBatchWait(cell, 1);

        // act
        var (code, o, e) = RunScriptTests.RunScript("matrix", "--resume", Path.GetDirectoryName(cell)!);

        // assert: after round 1, with the setting's default and the uninterrupted rounds (before: the cell silently started again)
        Assert.True(code == 0, o + e);
        Assert.Contains("resuming after round 1 of 2", o);
        Assert.Contains("fedactors.device.batch-wait", o);
        Assert.Contains("batch-wait", File.ReadAllText(configPath));
        var wholeCell = Path.Combine(Assert.Single(Directory.GetDirectories(whole)), "none-fedavg-pill-off-seed-42");
        Assert.Equal(WithoutTimings(Path.Combine(wholeCell, "rounds.csv")), WithoutTimings(Path.Combine(cell, "rounds.csv")));
    }

    [Fact]
    public void A_matrix_should_refuse_a_changed_plan_on_resume_a_folder_that_is_not_a_matrix_and_a_shared_state_file()
    {
        var (code, o, e) = RunScriptTests.RunScript("matrix", "--resume", RunScriptTests.TempDir(), "--set", "fedactors.rounds=3");
        Assert.True(code == 2, o + e);
        Assert.Contains("a resumed matrix runs its own plan", o + e);
        (code, o, e) = RunScriptTests.RunScript("matrix", "--resume", RunScriptTests.TempDir());
        Assert.True(code == 2, o + e);
        Assert.Contains("matrix.json", o + e);
        (code, o, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--defences", "fedavg");
        Assert.True(code == 2, o + e);
        Assert.Contains("--attacks and --defences", o + e);
        // one state file for every cell would mix their clients: each cell keeps its own
        (code, o, e) = RunScriptTests.RunScript("matrix", "hocon/experiments/quickstart.conf", "--attacks", "none", "--defences", "fedavg",
            "--set", $"fedactors.state.path=\"{Path.Combine(RunScriptTests.TempDir(), "shared.db")}\"");
        Assert.True(code == 2, o + e);
        Assert.Contains("each cell keeps its state in its own folder", o + e);
    }

    /// <summary>A grid run whole, and again stopped by a budget spent after its first round: both folders, and the second's output.</summary>
    private static (string Whole, string Pieces, string Output) WholeAndStopped(string[] grid)
    {
        var whole = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["matrix", .. grid, "--out", whole]);
        Assert.True(code == 0, o + e);
        var pieces = RunScriptTests.TempDir();
        (code, o, e) = RunScriptTests.RunScript(["matrix", .. grid, "--out", pieces, "--max-minutes", "0.0001"]);
        Assert.True(code == 0, o + e);
        return (whole, pieces, o);
    }

    private static string[] WithoutTimings(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length).Where(i => header[i] is not ("round_ms" or "compute_ms")).ToArray();
        return [.. lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i])))];
    }
}