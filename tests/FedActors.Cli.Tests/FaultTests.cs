using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace FedActors.Cli.Tests;

/// <summary>Faults in real runs: scripted, replayed from <c>faults.jsonl</c>, and injected over the control API while a run
/// goes (real Kestrel server, real HTTP), with the bad input a user or script really sends.</summary>
[Collection("Cli")]
public class FaultTests : IDisposable
{
    public void Dispose() => RunScriptTests.KillLeftovers();

    private static readonly string[] Small =
    [
        "hocon/experiments/quickstart.conf", "--set", "fedactors.data.limit=3000", "--set", "fedactors.clients.count=20",
        "--set", "fedactors.clients.per-round=10", "--set", "fedactors.round.timeout=2s",
    ];

    /// <summary>rounds.csv without its timing columns.</summary>
    private static string[] Rounds(string runDir)
    {
        var lines = File.ReadAllLines(Path.Combine(runDir, "rounds.csv"));
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length).Where(i => header[i] is not ("round_ms" or "compute_ms")).ToArray();
        return lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i]))).ToArray();
    }

    private static int Column(string runDir, int round, string name)
    {
        var lines = File.ReadAllLines(Path.Combine(runDir, "rounds.csv"));
        int i = Array.IndexOf(lines[0].Split(','), name);
        return int.Parse(lines[round].Split(',')[i], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string RunOnce(string outDir, params string[] more)
    {
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Small, "--out", outDir, .. more]);
        Assert.True(code == 0, o + e);
        return Assert.Single(Directory.GetDirectories(outDir));
    }

    [Fact]
    public void Scripted_faults_should_do_what_they_say_and_repeat_exactly()
    {
        // arrange: one fault of each client kind, in rounds 1-4
        string[] script = ["--set", "fedactors.rounds=4", "--set",
            "fedactors.faults=[{kind=drop,round=1,clients=\"0-9\"},{kind=crash,round=2,fraction=0.5},{kind=lose-messages,round=3,fraction=0.3}," +
            "{kind=straggle,round=4,seconds=100},{kind=set,round=4,key=clients.per-round,value=5}]"];

        // act: the same run twice, and once without faults
        var a = RunOnce(RunScriptTests.TempDir(), script);
        var b = RunOnce(RunScriptTests.TempDir(), script);
        var none = RunOnce(RunScriptTests.TempDir(), "--set", "fedactors.rounds=4");

        // assert: each fault shows in its round; both runs and the replay agree; the run without faults differs
        Assert.Equal(10, Column(a, 1, "selected"));
        Assert.True(Column(a, 1, "fault_dropped") > 0 && Column(a, 1, "fault_dropped") == Column(a, 1, "dropped_out"));
        Assert.True(Column(a, 2, "crashed") > 0 && Column(a, 2, "crashed") == Column(a, 2, "failed"));
        Assert.True(Column(a, 3, "lost_messages") > 0 && Column(a, 3, "lost_messages") == Column(a, 3, "timed_out"));
        Assert.Equal(5, Column(a, 4, "selected"));
        Assert.Equal(5, Column(a, 4, "straggled"));
        Assert.Equal(5, Column(a, 4, "missed_deadline")); // quickstart's deadline is 25 simulated seconds
        Assert.Equal(Rounds(a), Rounds(b));
        Assert.NotEqual(Rounds(a), Rounds(none));
        Assert.Equal(5, File.ReadAllLines(Path.Combine(a, "faults.jsonl")).Length);
        Assert.False(File.Exists(Path.Combine(none, "faults.jsonl")));
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "summary.json")));
        Assert.Equal(5, summary.RootElement.GetProperty("faults").GetArrayLength());
        Assert.Equal(Column(a, 2, "crashed"), summary.RootElement.GetProperty("fault_totals").GetProperty("crashed").GetInt32());
        Assert.False(File.Exists(Path.Combine(a, "control.json")), "control.json outlived the run");
    }

    [Fact]
    public void A_replay_of_faults_jsonl_should_give_the_original_rounds()
    {
        // arrange: a run with scripted faults
        var original = RunOnce(RunScriptTests.TempDir(), "--set", "fedactors.rounds=3", "--set",
            "fedactors.faults=[{kind=crash,round=1,fraction=0.4},{kind=drop,round=2,clients=\"10-19\",rounds=2}]");
        var outDir = RunScriptTests.TempDir();

        // act: its own config, its faults.jsonl as the only script
        var (code, o, e) = RunScriptTests.RunScript("run", Path.Combine(original, "config.conf"), "--set", "fedactors.faults=[]",
            "--faults", Path.Combine(original, "faults.jsonl"), "--out", outDir);

        // assert
        Assert.True(code == 0, o + e);
        Assert.Equal(Rounds(original), Rounds(Assert.Single(Directory.GetDirectories(outDir))));
    }

    [Fact]
    public void Attack_off_should_make_the_malicious_clients_honest_for_its_rounds()
    {
        // arrange: a sign-flip attack switched off in round 2 only
        var runDir = RunOnce(RunScriptTests.TempDir(), "--set", "fedactors.rounds=3", "--set", "fedactors.attack.kind=sign-flip",
            "--set", "fedactors.attack.fraction=0.3", "--set", "fedactors.clients.dropout.probability=0", "--set", "fedactors.round.deadline-seconds=0",
            "--set", "fedactors.faults=[{kind=attack-off,round=2,rounds=1}]");
        var plain = RunOnce(RunScriptTests.TempDir(), "--set", "fedactors.rounds=3", "--set", "fedactors.attack.kind=none",
            "--set", "fedactors.clients.dropout.probability=0", "--set", "fedactors.round.deadline-seconds=0");

        // assert: attackers in rounds 1 and 3, none in round 2
        Assert.True(Column(runDir, 1, "malicious") > 0);
        Assert.Equal(0, Column(runDir, 2, "malicious"));
        Assert.True(Column(runDir, 3, "malicious") > 0);
        Assert.Equal(Column(plain, 2, "responded"), Column(runDir, 2, "responded"));

        // and switched off for the whole run it is the run without an attack, round for round (no crafted update sent)
        var off = RunOnce(RunScriptTests.TempDir(), "--set", "fedactors.rounds=3", "--set", "fedactors.attack.kind=sign-flip",
            "--set", "fedactors.attack.fraction=0.3", "--set", "fedactors.clients.dropout.probability=0", "--set", "fedactors.round.deadline-seconds=0",
            "--set", "fedactors.faults=[{kind=attack-off,round=1,rounds=3}]");
        Assert.Equal(Rounds(plain), Rounds(off));
    }

    private static async Task<(string RunDir, string Url, string Token)> WaitForControl(string outDir, Process run)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            Assert.False(run.HasExited, "the run ended before its control API came up");
            var dir = Directory.GetDirectories(outDir).SingleOrDefault();
            var path = dir is null ? null : Path.Combine(dir, "control.json");
            if (path is not null && File.Exists(path))
            {
                try
                {
                    using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(path));
                    return (dir!, doc.RootElement.GetProperty("url").GetString()!, doc.RootElement.GetProperty("token").GetString()!);
                }
                catch (JsonException) { } // being written
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("no control.json");
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Call(HttpClient http, HttpMethod method, string url, string? token, string? body = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Faults_sent_over_http_during_a_run_should_take_effect_at_the_next_round_and_bad_ones_should_change_nothing()
    {
        // arrange: a live run, paused at the next round boundary (round 1 or a little later: the pause races the run's start)
        var outDir = RunScriptTests.TempDir();
        using var run = RunScriptTests.Start(["run", .. Small, "--set", "fedactors.rounds=12", "--out", outDir]);
        var (runDir, url, token) = await WaitForControl(outDir, run);
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Accepted, (await Call(http, HttpMethod.Post, url + "/faults", token, "{\"kind\":\"pause\"}")).Status);
        var clock = Stopwatch.StartNew();
        while ((await Call(http, HttpMethod.Get, url + "/status", token)).Body.GetProperty("phase").GetString() != "paused")
        {
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "the run did not pause");
            await Task.Delay(50);
        }
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(runDir, "control.json")));
        Assert.DoesNotContain(token, File.ReadAllText(Path.Combine(runDir, "config.conf")));

        // act + assert: bad requests are refused, naming the field, and schedule nothing
        async Task Refused(HttpStatusCode status, string? tokenUsed, string body, string field)
        {
            var (s, b) = await Call(http, HttpMethod.Post, url + "/faults", tokenUsed, body);
            Assert.True(s == status, $"{body}: {s} {b}");
            Assert.Equal(field, b.GetProperty("field").GetString());
        }
        await Refused(HttpStatusCode.Unauthorized, null, "{\"kind\":\"drop\"}", "authorization");
        await Refused(HttpStatusCode.Unauthorized, token + "x", "{\"kind\":\"drop\"}", "authorization");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"explode\"}", "kind");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"drop\",\"fraction\":2}", "fraction");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"drop\",\"fraction\":-0.5}", "fraction");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"drop\",\"clients\":\"0-999\"}", "clients");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"drop\",", "(body)");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"drop\",\"colour\":\"red\"}", "colour");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"set\",\"key\":\"model.kind\",\"value\":\"cnn\"}", "key");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"kill-node\",\"node\":\"10.0.0.9:1\"}", "node");
        await Refused(HttpStatusCode.BadRequest, token, "{\"kind\":\"attack-on\"}", "kind"); // quickstart has no attack
        var (statusCode, status) = await Call(http, HttpMethod.Get, url + "/status", token);
        Assert.Equal(HttpStatusCode.OK, statusCode);
        Assert.Equal("paused", status.GetProperty("phase").GetString());
        int next = status.GetProperty("round").GetInt32() + 1; // the round held back by the pause
        Assert.Equal(0, status.GetProperty("scheduled_faults").GetArrayLength());
        Assert.Equal(1, status.GetProperty("nodes").GetArrayLength());
        Assert.Equal(HttpStatusCode.Unauthorized, (await Call(http, HttpMethod.Get, url + "/status", "nope")).Status);

        // act: the CLI injects a drop of every client and a straggle, then resumes the run
        var (code, o, e) = RunScriptTests.RunScript("inject", "drop", "--clients", "0-19", "--run", runDir);
        Assert.True(code == 0, o + e);
        Assert.Contains($"takes effect in round {next}", o);
        (code, o, e) = RunScriptTests.RunScript("status", "--run", runDir);
        Assert.True(code == 0, o + e);
        Assert.Contains("\"phase\": \"paused\"", o);
        Assert.Contains("\"kind\": \"drop\"", o);
        var (s2, b2) = await Call(http, HttpMethod.Post, url + "/faults", token, $"{{\"kind\":\"straggle\",\"seconds\":5,\"round\":{next + 1},\"clients\":\"0-4\"}}");
        Assert.True(s2 == HttpStatusCode.Accepted, b2.ToString());
        Assert.Equal(next + 1, b2.GetProperty("round").GetInt32());
        Assert.Equal(HttpStatusCode.Accepted, (await Call(http, HttpMethod.Post, url + "/faults", token, "{\"kind\":\"resume\"}")).Status);
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(3)), "the run did not finish");
        run.WaitForExit();

        // assert: the held round lost every client to the drop; faults.jsonl has both faults with their rounds; the API is gone
        Assert.True(run.ExitCode == 0, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        Assert.Equal(10, Column(runDir, next, "fault_dropped"));
        Assert.Equal(0, Column(runDir, next, "responded"));
        Assert.Equal(0, Column(runDir, next + 1, "fault_dropped"));
        // the straggle hits the round's selected clients among 0-4 (quickstart's seed 42, 10 of 20 a round)
        Assert.Equal(Core.Simulation.ClientSampler.Sample(42, next + 1, 20, 10).Count(id => id <= 4), Column(runDir, next + 1, "straggled"));
        var lines = File.ReadAllLines(Path.Combine(runDir, "faults.jsonl"));
        Assert.Equal(2, lines.Length);
        Assert.Contains($"\"kind\":\"drop\",\"round\":{next}", lines[0]);
        Assert.Contains($"\"kind\":\"straggle\",\"round\":{next + 1}", lines[1]);
        Assert.False(File.Exists(Path.Combine(runDir, "control.json")));
        (code, _, e) = RunScriptTests.RunScript("inject", "drop", "--run", runDir);
        Assert.Equal(2, code);
        Assert.Contains("no live run", e);

        // and the replay of faults.jsonl gives the same rounds
        var replayDir = RunScriptTests.TempDir();
        (code, o, e) = RunScriptTests.RunScript("run", Path.Combine(runDir, "config.conf"), "--faults", Path.Combine(runDir, "faults.jsonl"), "--out", replayDir);
        Assert.True(code == 0, o + e);
        Assert.Equal(Rounds(runDir), Rounds(Assert.Single(Directory.GetDirectories(replayDir))));
    }

    [Theory]
    [InlineData("fedactors.faults=[{kind=explode,round=1}]", "fedactors.faults[0].kind")]
    [InlineData("fedactors.faults=[{kind=drop,round=9}]", "fedactors.faults[0].round")]
    [InlineData("fedactors.faults=[{kind=drop,round=1},{kind=drop,round=1,fraction=3}]", "fedactors.faults[1].fraction")]
    [InlineData("fedactors.faults=[{kind=drop}]", "fedactors.faults[0].round")]
    [InlineData("fedactors.faults=[{kind=drop,round=1,speed=2}]", "fedactors.faults[0].speed")]
    [InlineData("fedactors.faults=[{kind=pause,round=1}]", "fedactors.faults[0].kind")]
    [InlineData("fedactors.faults=drop", "fedactors.faults")]
    [InlineData("fedactors.control.host=localhost", "fedactors.control.host")]
    public void A_bad_fault_script_should_be_a_configuration_error_and_write_nothing(string set, string key)
    {
        var outDir = RunScriptTests.TempDir();
        var (code, o, e) = RunScriptTests.RunScript(["run", .. Small, "--set", "fedactors.rounds=3", "--set", set, "--out", outDir]);
        Assert.True(code == 2, o + e);
        Assert.Contains(key, e);
        Assert.DoesNotContain("   at ", e);
        Assert.Empty(Directory.GetDirectories(outDir));
    }

    [Fact]
    public void A_bad_faults_file_should_name_its_line()
    {
        var file = Path.Combine(RunScriptTests.TempDir(), "faults.jsonl");
        File.WriteAllText(file, "{\"kind\":\"drop\",\"round\":1}\n{\"kind\":\"drop\",\"round\":\n");
        var (code, _, e) = RunScriptTests.RunScript(["run", .. Small, "--faults", file, "--out", RunScriptTests.TempDir()]);
        Assert.Equal(2, code);
        Assert.Contains("faults.jsonl:2", e);
    }

    [Fact]
    public void Inject_against_a_folder_without_a_live_run_should_exit_2()
    {
        var (code, _, e) = RunScriptTests.RunScript("inject", "drop", "--run", RunScriptTests.TempDir());
        Assert.Equal(2, code);
        Assert.Contains("no live run", e);
    }

    [Fact]
    public async Task Sigterm_during_a_run_should_write_the_summary_marked_interrupted_and_exit_130()
    {
        // arrange: a long run
        var outDir = RunScriptTests.TempDir();
        using var run = RunScriptTests.Start(["run", .. Small, "--set", "fedactors.rounds=500", "--out", outDir]);
        var (runDir, _, _) = await WaitForControl(outDir, run);
        var csv = Path.Combine(runDir, "rounds.csv");
        var clock = Stopwatch.StartNew();
        while ((!File.Exists(csv) || File.ReadAllLines(csv).Length < 3) && clock.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(100);

        // act: SIGTERM, as a service manager stops it (run.sh execs the CLI, so this is its process). SIGINT takes the same
        // path, but a test runner started in the background inherits SIGINT ignored, as every background job does
        using (var kill = Process.Start("kill", ["-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(1)), "the run did not stop");
        run.WaitForExit();

        // assert
        Assert.True(run.ExitCode == 130, $"run exit {run.ExitCode}:\n{RunScriptTests.Output(run)}");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")));
        Assert.Equal("interrupted", summary.RootElement.GetProperty("ended_early").GetString());
        int rounds = summary.RootElement.GetProperty("rounds").GetInt32();
        Assert.InRange(rounds, 2, 499);
        Assert.Equal(rounds + 1, File.ReadAllLines(csv).Length);
        Assert.True(File.Exists(Path.Combine(runDir, "accuracy.png")));
    }
}
