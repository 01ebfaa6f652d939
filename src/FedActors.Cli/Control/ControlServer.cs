using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using FedActors.Core.Faults;
using FedActors.Runtime.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FedActors.Cli.Control;

/// <summary>Where a run's control API listens and how to reach it: <c>&lt;run folder&gt;/control.json</c>.</summary>
public sealed record ControlEndpoint(string Url, string Token, int Pid)
{
    public const string FileName = "control.json";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>Writes control.json readable by its owner only (0600): it holds the token.</summary>
    public void Write(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(JsonSerializer.SerializeToUtf8Bytes(this, Json));
    }

    /// <summary>The run folder's endpoint, or null when it has none (no live run, or one without a control API).</summary>
    public static ControlEndpoint? Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<ControlEndpoint>(File.ReadAllText(path), Json); }
        catch (JsonException) { return null; }
    }
}

/// <summary>
/// The run's control API, on Kestrel: <c>GET /status</c> (round, phase, clients, nodes, active and scheduled faults) and
/// <c>POST /faults</c> (a fault as JSON: <c>kind</c> and its fields, as in <c>faults.jsonl</c>), each needing
/// <c>Authorization: Bearer &lt;token&gt;</c>. It decides nothing: it parses, asks the coordinator (the fault controller)
/// and reports its answer — 202 with the round the fault takes effect in, or 400 naming the field, with nothing changed.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _runDir;

    private ControlServer(WebApplication app, string runDir, ControlEndpoint endpoint)
    {
        _app = app;
        _runDir = runDir;
        Endpoint = endpoint;
    }

    public ControlEndpoint Endpoint { get; }

    /// <summary>Largest request body read (a fault is a few hundred bytes).</summary>
    private const int MaxBody = 64 * 1024;

    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <param name="host">An IP address to listen on (127.0.0.1 by default).</param>
    /// <param name="token">The bearer token; empty: a fresh random one.</param>
    public static async Task<ControlServer> StartAsync(IActorRef coordinator, string host, int port, string token, string runDir)
    {
        if (token.Length == 0) token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MaxBody;
            k.Listen(IPAddress.Parse(host), port);
        });
        var app = builder.Build();
        var expected = Encoding.UTF8.GetBytes("Bearer " + token);
        app.Use(async (context, next) =>
        {
            var given = Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
            if (!CryptographicOperations.FixedTimeEquals(given, expected))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Error(context, StatusCodes.Status401Unauthorized, "authorization", "a bearer token (Authorization: Bearer <token from control.json>)");
                return;
            }
            await next(context);
        });
        app.MapGet("/status", async context =>
        {
            RunStatus s;
            try { s = await coordinator.Ask<RunStatus>(GetRunStatus.Instance, AskTimeout); }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                await Error(context, StatusCodes.Status503ServiceUnavailable, "run", "a coordinator that answers (it did not within 10 s)");
                return;
            }
            await context.Response.WriteAsJsonAsync(StatusJson(s));
        });
        app.MapPost("/faults", async context =>
        {
            string body;
            try
            {
                using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
                body = await reader.ReadToEndAsync();
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
            {
                await Error(context, StatusCodes.Status413PayloadTooLarge, "(body)", $"a fault of at most {MaxBody} bytes");
                return;
            }
            Fault fault;
            try
            {
                fault = Fault.FromJson(body);
                if (fault.Kind is null) throw new FaultError("kind", "(missing)", "one of " + string.Join(", ", FaultKinds.All));
                if (fault.Round < 0) throw new FaultError("round", $"{fault.Round}", "a round ≥ 1, or none for the next round boundary");
            }
            catch (FaultError e)
            {
                await Error(context, StatusCodes.Status400BadRequest, e.Field, e.Expected, e.Value);
                return;
            }
            object answer;
            try { answer = await coordinator.Ask(new InjectFault(fault), AskTimeout); }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                await Error(context, StatusCodes.Status503ServiceUnavailable, "run", "a coordinator that answers (it did not within 10 s)");
                return;
            }
            switch (answer)
            {
                case FaultAccepted a:
                    context.Response.StatusCode = StatusCodes.Status202Accepted;
                    await context.Response.WriteAsJsonAsync(new JsonObject { ["round"] = a.Round, ["fault"] = JsonNode.Parse(a.Fault.ToJson()) });
                    break;
                case FaultRefused r:
                    await Error(context, StatusCodes.Status400BadRequest, r.Field, r.Reason);
                    break;
                default:
                    await Error(context, StatusCodes.Status500InternalServerError, "run", $"an answer, not {answer.GetType().Name}");
                    break;
            }
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var endpoint = new ControlEndpoint(url, token, Environment.ProcessId);
        endpoint.Write(runDir);
        return new ControlServer(app, runDir, endpoint);
    }

    private static Task Error(HttpContext context, int status, string field, string expected, string? value = null)
    {
        context.Response.StatusCode = status;
        var o = new JsonObject { ["field"] = field, ["error"] = expected };
        if (value is not null) o["value"] = value;
        return context.Response.WriteAsJsonAsync(o);
    }

    public static JsonObject StatusJson(RunStatus s) => new()
    {
        ["experiment"] = s.Experiment,
        ["round"] = s.Round,
        ["rounds"] = s.Rounds,
        ["phase"] = s.Phase,
        ["clients"] = s.Clients,
        ["per_round"] = s.PerRound,
        ["nodes"] = new JsonArray([.. s.Nodes.Select(n => JsonValue.Create(n))]),
        ["active_faults"] = new JsonArray([.. s.ActiveFaults.Select(f => JsonNode.Parse(f.ToJson()))]),
        ["scheduled_faults"] = new JsonArray([.. s.ScheduledFaults.Select(f => JsonNode.Parse(f.ToJson()))]),
    };

    /// <summary>Stops listening and removes control.json: an <c>inject</c> afterwards finds no live run.</summary>
    public async ValueTask DisposeAsync()
    {
        try { File.Delete(Path.Combine(_runDir, ControlEndpoint.FileName)); }
        catch (IOException) { }
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
