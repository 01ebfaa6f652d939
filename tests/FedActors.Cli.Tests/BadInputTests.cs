using System.Text.Json;
using FedActors.Cli.Output;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary>Bad input as users really send it: each ends with exit 2 and a message naming what is wrong, no stack trace,
/// and nothing left under the run folder's root.</summary>
[Collection("Cli")]
public class BadInputTests
{
    private static readonly string[] Small =
        ["--set", "fedactors.rounds=1", "--set", "fedactors.data.limit=2000", "--set", "fedactors.clients.count=10", "--set", "fedactors.clients.per-round=5"];

    private static string Write(string name, string text)
    {
        var path = Path.Combine(RunScriptTests.TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (string Out, string Err) Refused(string outDir, params string[] args)
    {
        var (code, o, e) = RunScriptTests.RunScript(args);
        Assert.True(code == 2, $"exit {code}\n{o}\n{e}");
        Assert.DoesNotContain("   at ", o + e); // no stack trace
        Assert.StartsWith("error: ", e.Trim());
        if (Directory.Exists(outDir)) Assert.Empty(Directory.GetFileSystemEntries(outDir));
        return (o, e);
    }

    public static TheoryData<string, string, string> BadFiles => new()
    {
        { "unclosed.conf", "fedactors {\n  rounds = 2\n", "line 1" },
        { "extra.conf", "fedactors { rounds = 2 }}}\n", "closes nothing" },
        { "mismatched.conf", "fedactors { seed = [1, 2 }\n", "'[' of line 1 is still open" },
        { "eqeq.conf", "fedactors {\n  rounds = = 2\n}\n", "line 2" },
        { "string.conf", "fedactors { name = \"abc }\n", "quoted string" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_hocon_file_with_a_syntax_mistake_should_be_refused_with_its_line(string name, string text, string expected)
    {
        var outDir = RunScriptTests.TempDir();
        var (_, e) = Refused(outDir, ["run", Write(name, text), "--out", outDir]);
        Assert.Contains(name, e);
        Assert.Contains(expected, e);
    }

    [Theory]
    [InlineData("fedactors.rounds==2", "--set")]
    [InlineData("fedactors.cluster.shards=0", "fedactors.cluster.shards")]
    [InlineData("akka.loglevel=BANANA", "akka.loglevel")]
    [InlineData("fedactors.state.passivate-idle-after=0s", "fedactors.state.passivate-idle-after")]
    [InlineData("fedactors.state.max-active-entities=3", "fedactors.state.max-active-entities")]
    [InlineData("fedactors.state.max-active-entities=-1", "fedactors.state.max-active-entities")]
    [InlineData("fedactors.round.max-in-flight=0", "fedactors.round.max-in-flight")]
    [InlineData("fedactors.data.partition.samples-sigma=-1", "fedactors.data.partition.samples-sigma")]
    [InlineData("fedactors.defence.skymask.threshold=1", "fedactors.defence.skymask.threshold")]
    [InlineData("fedactors.defence.skymask.mask-learning-rate=0", "fedactors.defence.skymask.mask-learning-rate")]
    public void A_bad_value_should_be_refused_naming_its_key(string set, string key)
    {
        var outDir = RunScriptTests.TempDir();
        string[] skymask = set.Contains("skymask") ? ["--set", "fedactors.defence.rule=skymask", "--set", "fedactors.server.root-samples=100"] : [];
        var (_, e) = Refused(outDir, ["run", "hocon/experiments/quickstart.conf", .. Small, .. skymask, "--set", set, "--out", outDir]);
        Assert.Contains(key, e);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("-1")]
    [InlineData("Infinity")]
    public void A_bad_budget_should_be_refused(string minutes)
    {
        var outDir = RunScriptTests.TempDir();
        var (_, e) = Refused(outDir, ["run", "hocon/experiments/quickstart.conf", .. Small, "--max-minutes", minutes, "--out", outDir]);
        Assert.Contains("--max-minutes", e);
    }

    [Fact]
    public void An_out_folder_that_is_a_file_or_cannot_be_written_should_be_refused()
    {
        var file = Write("afile", "x");
        var (_, e) = Refused(file, ["run", "hocon/experiments/quickstart.conf", .. Small, "--out", file]);
        Assert.Contains("--out", e);
        (_, e) = Refused("/proc/fedactors-runs", ["run", "hocon/experiments/quickstart.conf", .. Small, "--out", "/proc/fedactors-runs"]);
        Assert.Contains("--out", e);
    }

    [Fact]
    public void A_state_path_that_is_a_folder_a_corrupt_file_or_another_runs_state_should_be_refused()
    {
        var folder = RunScriptTests.TempDir();
        var outDir = RunScriptTests.TempDir();
        var (_, e) = Refused(outDir, ["run", "hocon/experiments/quickstart.conf", .. Small, "--set", $"fedactors.state.path=\"{folder}\"", "--out", outDir]);
        Assert.Contains("fedactors.state.path", e);

        var corrupt = Write("corrupt.db", new string('x', 5000));
        (_, e) = Refused(outDir, ["run", "hocon/experiments/quickstart.conf", .. Small, "--set", $"fedactors.state.path=\"{corrupt}\"", "--out", outDir]);
        Assert.Contains("fedactors.state.path", e);

        // a state file a first run wrote: a second run must not mix its clients into it
        var shared = Path.Combine(RunScriptTests.TempDir(), "shared.db");
        var (code, o, err) = RunScriptTests.RunScript(["run", "hocon/experiments/quickstart.conf", .. Small, "--set", $"fedactors.state.path=\"{shared}\"", "--out", RunScriptTests.TempDir()]);
        Assert.True(code == 0, o + err);
        (_, e) = Refused(outDir, ["run", "hocon/experiments/quickstart.conf", .. Small, "--set", "fedactors.model.kind=cnn", "--set", $"fedactors.state.path=\"{shared}\"", "--out", outDir]);
        Assert.Contains("holds a run committed up to round 1", e);
    }

    [Fact]
    public void Two_runs_made_in_the_same_second_should_get_their_own_folders()
    {
        var root = RunScriptTests.TempDir();
        var folders = Enumerable.Range(0, 8).AsParallel().Select(_ => RunFolder.Create(root, "same")).ToArray();
        Assert.Equal(8, folders.Distinct().Count());
        Assert.Equal(8, Directory.GetDirectories(root).Length);
    }

    [Fact]
    public void A_secret_should_be_written_nowhere_and_an_unreachable_seq_should_be_said()
    {
        // arrange: a Seq API key, a Seq URL nobody listens on, the durable buffer on, a control token of our own
        var outDir = RunScriptTests.TempDir();

        // act
        var (code, o, e) = RunScriptTests.RunScript(["run", "hocon/experiments/quickstart.conf", .. Small, "--out", outDir,
            "--set", "fedactors.monitoring.seq.api-key=SECRET-KEY-42", "--set", "fedactors.monitoring.seq.url=\"http://127.0.0.1:9\"",
            "--set", "fedactors.monitoring.seq.durable=on", "--set", "fedactors.control.token=TOKEN-SECRET-17", "--set", "fedactors.cluster.hostname=0.0.0.0"]);

        // assert: the run completed; it warned about Seq and about listening on every interface; no file holds a secret
        Assert.True(code == 0, o + e);
        Assert.Contains("does not answer", o + e);
        Assert.Contains("listens beyond this machine", o + e);
        var run = Assert.Single(Directory.GetDirectories(outDir));
        foreach (var f in Directory.GetFiles(run, "*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(f);
            Assert.False(text.Contains("SECRET-KEY-42") || text.Contains("TOKEN-SECRET-17"), $"{f} holds a secret");
        }
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        Assert.Equal(JsonValueKind.Null, summary.RootElement.GetProperty("false_negative_rate").ValueKind); // no attackers: undefined
        Assert.DoesNotContain("NaN", File.ReadAllText(Path.Combine(run, "summary.json")));
    }
}
