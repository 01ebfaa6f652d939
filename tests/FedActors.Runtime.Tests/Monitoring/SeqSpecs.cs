using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FedActors.Core.Simulation;
using FedActors.Runtime.Monitoring;
using Xunit;

namespace FedActors.Runtime.Tests.Monitoring;

/// <summary>A loopback stand-in for Seq: accepts CLEF batches on <c>/api/events/raw</c> like the real server.</summary>
public sealed class FakeSeq : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    public ConcurrentQueue<JsonElement> Events { get; } = new();
    public ConcurrentQueue<string> Paths { get; } = new();

    public FakeSeq(int port)
    {
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    /// <summary>A FakeSeq on a port nobody else took: a free port is only free until someone binds it, so it retries.</summary>
    public static FakeSeq OnFreePort(out int port)
    {
        for (int attempt = 0; ; attempt++)
        {
            port = FreePort();
            try { return new FakeSeq(port); }
            catch (HttpListenerException) when (attempt < 10) { }
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            Paths.Enqueue(ctx.Request.Url!.AbsolutePath);
            using (var reader = new StreamReader(ctx.Request.InputStream))
            {
                var body = await reader.ReadToEndAsync();
                foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    Events.Enqueue(JsonDocument.Parse(line).RootElement.Clone());
            }
            ctx.Response.StatusCode = 201;
            ctx.Response.ContentType = "application/json";
            await using (var w = new StreamWriter(ctx.Response.OutputStream)) await w.WriteAsync("{\"MinimumLevelAccepted\":null}");
            ctx.Response.Close();
        }
    }

    public IEnumerable<JsonElement> Named(string name) =>
        Events.Where(e => e.TryGetProperty("Event", out var v) && v.GetString() == name);

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}

public class SeqSpecs
{
    private static RoundSummary Round(int r) => new(r, 10, 9, 1, 0, 0, 0, 0, 0.8 + r / 100.0, 0.5, 0.4, 12.5, 300, 500);

    private static async Task Eventually(Func<bool> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(50);
        }
    }

    private static LogTargets Targets(int port, string? buffer) =>
        new(null, null, $"http://127.0.0.1:{port}", null, buffer, TimeSpan.FromMilliseconds(100));

    [Fact]
    public async Task RoundCompleted_events_should_reach_Seq_with_their_properties()
    {
        using var seq = FakeSeq.OnFreePort(out int port);
        using (var logger = RunLogging.Create(Targets(port, null), "seq-test", "run-1"))
        {
            var events = new RunEvents(logger);
            events.RoundCompleted(Round(1));
            events.RoundCompleted(Round(2));
        }
        await Eventually(() => seq.Named("RoundCompleted").Count() == 2, TimeSpan.FromSeconds(10));
        Assert.All(seq.Paths, p => Assert.Equal("/api/events/raw", p));
        var first = seq.Named("RoundCompleted").OrderBy(e => e.GetProperty("Round").GetInt32()).First();
        Assert.Equal(1, first.GetProperty("Round").GetInt32());
        Assert.Equal(10, first.GetProperty("Selected").GetInt32());
        Assert.Equal(9, first.GetProperty("Responded").GetInt32());
        Assert.Equal(1, first.GetProperty("Dropped").GetInt32());
        Assert.Equal(0.81, first.GetProperty("Accuracy").GetDouble(), 10);
        Assert.Equal(300, first.GetProperty("RoundMs").GetInt64());
        Assert.Equal(500, first.GetProperty("ComputeMs").GetInt64());
        Assert.Equal("seq-test", first.GetProperty("Experiment").GetString());
    }

    [Fact]
    public async Task The_durable_buffer_should_deliver_every_event_once_Seq_starts_late()
    {
        // arrange: Seq is down (nothing listens on the port) while the run logs
        int port = FakeSeq.FreePort();
        var buffer = Path.Combine(Path.GetTempPath(), $"seq-buffer-{Guid.NewGuid():N}", "events");
        using var logger = RunLogging.Create(Targets(port, buffer), "seq-test", "run-2");
        var events = new RunEvents(logger);
        for (int r = 1; r <= 20; r++) events.RoundCompleted(Round(r));
        await Task.Delay(800); // several failed shipping attempts

        // act: Seq comes up
        using var seq = new FakeSeq(port);

        // assert: all 20 arrive, in order, none twice
        await Eventually(() => seq.Named("RoundCompleted").Count() >= 20, TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        Assert.Equal(Enumerable.Range(1, 20), seq.Named("RoundCompleted").Select(e => e.GetProperty("Round").GetInt32()));
    }
}

/// <summary>A whole run while Seq is down, with Seq coming up midway: the durable buffer delivers every event.</summary>
[Collection("Node")]
public class SeqRunSpecs
{
    [Fact]
    public async Task Every_event_of_a_run_should_reach_a_Seq_that_was_down_when_the_run_started()
    {
        // arrange: nothing listens on Seq's port at start; the durable buffer is on
        int port = FakeSeq.FreePort();
        var buffer = Path.Combine(Path.GetTempPath(), $"seq-run-{Guid.NewGuid():N}", "events");
        using var e = TestSupport.TestExperiments.Load(TestSupport.TestExperiments.Synthetic(rounds: 4));
        FakeSeq? seq = null;
        try
        {
            using (var logger = RunLogging.Create(new LogTargets(null, null, $"http://127.0.0.1:{port}", null, buffer, TimeSpan.FromMilliseconds(100)), "seq-run", "run-3"))
            {
                // act: the run logs rounds 1-2 into the void; Seq comes up after round 2
                await Hosting.SimulationRunner.RunAsync(e, Support.NodeConfig(), new RunEvents(logger), r => { if (r.Round == 2) seq = new FakeSeq(port); });
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while ((seq?.Named("RunCompleted").Count() ?? 0) == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
            }

            // assert: every round, the start and the end arrived, once each
            Assert.NotNull(seq);
            Assert.Equal([1, 2, 3, 4], seq!.Named("RoundCompleted").Select(ev => ev.GetProperty("Round").GetInt32()).Order());
            Assert.Single(seq.Named("RunStarted"));
            Assert.Single(seq.Named("RunCompleted"));
        }
        finally { seq?.Dispose(); }
    }
}
