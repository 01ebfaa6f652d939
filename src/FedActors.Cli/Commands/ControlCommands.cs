using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FedActors.Cli.Control;
using FedActors.Core.Faults;

namespace FedActors.Cli.Commands;

/// <summary><c>fedactors inject &lt;kind&gt; … --run FOLDER</c> and <c>fedactors status --run FOLDER</c>: the control API of a
/// live run, found through its <c>control.json</c>.</summary>
public static class ControlCommands
{
    public static Command Inject()
    {
        var kind = new Argument<string>("kind") { Description = "Fault kind: " + string.Join(", ", FaultKinds.All) };
        var run = new Option<string>("--run") { Description = "The live run's folder (it holds control.json)", Required = true };
        var round = new Option<int>("--round") { Description = "First round (default: the next round boundary; at once for kill-node, partition-node, pause, resume, stop)" };
        var rounds = new Option<int?>("--rounds") { Description = "Rounds it lasts (0 = to the end)" };
        var clients = new Option<string>("--clients") { Description = "Client ids, e.g. 0-99,120 (default: all)", DefaultValueFactory = _ => "" };
        var fraction = new Option<double>("--fraction") { Description = "Share of those clients hit, or of messages lost (0, 1]", DefaultValueFactory = _ => 1 };
        var seconds = new Option<double>("--seconds") { Description = "straggle: added simulated seconds; partition-node: how long" };
        var factor = new Option<double>("--factor") { Description = "slow-node: how many times slower", DefaultValueFactory = _ => 1 };
        var node = new Option<string>("--node") { Description = "slow-node, kill-node, partition-node: host:port (see status)", DefaultValueFactory = _ => "" };
        var messages = new Option<string>("--messages") { Description = "lose-messages: tasks, updates or both", DefaultValueFactory = _ => "both" };
        var key = new Option<string>("--key") { Description = "set: " + string.Join(", ", FaultKinds.SettableKeys), DefaultValueFactory = _ => "" };
        var value = new Option<string>("--value") { Description = "set: the new value", DefaultValueFactory = _ => "" };
        var command = new Command("inject", "Inject a fault into a live run (through its control API)")
            { kind, run, round, rounds, clients, fraction, seconds, factor, node, messages, key, value };
        command.SetAction((p, cancel) =>
        {
            var fault = new Fault(p.GetValue(kind)!, p.GetValue(round), p.GetValue(rounds), p.GetValue(clients)!, p.GetValue(fraction), p.GetValue(seconds),
                p.GetValue(factor), p.GetValue(node)!, p.GetValue(messages)!, p.GetValue(key)!, p.GetValue(value)!, "api");
            return SendAsync(p.GetValue(run)!, HttpMethod.Post, "/faults", fault.ToJson(), cancel);
        });
        return command;
    }

    public static Command Status()
    {
        var run = new Option<string>("--run") { Description = "The live run's folder (it holds control.json)", Required = true };
        var command = new Command("status", "Where a live run stands: round, phase, nodes, faults") { run };
        command.SetAction((p, cancel) => SendAsync(p.GetValue(run)!, HttpMethod.Get, "/status", null, cancel));
        return command;
    }

    private static async Task<int> SendAsync(string runDir, HttpMethod method, string path, string? body, CancellationToken cancel)
    {
        var endpoint = ControlEndpoint.Read(runDir);
        if (endpoint is null)
        {
            Console.Error.WriteLine($"error: {runDir} has no live run (no {ControlEndpoint.FileName}: the run has ended, or runs with fedactors.control.enabled = off)");
            return ExitCodes.InvalidInput;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(method, endpoint.Url.TrimEnd('/') + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.Token);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try { response = await http.SendAsync(request, cancel); }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"error: no live run answers at {endpoint.Url} ({e.Message}); the run in {runDir} has probably ended");
            return ExitCodes.InvalidInput;
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancel);
            string pretty;
            try { pretty = JsonNode.Parse(text)?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? text; }
            catch (JsonException) { pretty = text; }
            int status = (int)response.StatusCode;
            if (status is 200 or 202)
            {
                if (status == 202 && JsonNode.Parse(text)?["round"] is { } r)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accepted: takes effect in round {r}"));
                Console.WriteLine(pretty);
                return ExitCodes.Ok;
            }
            Console.Error.WriteLine($"error ({status}): {pretty}");
            return status is >= 400 and < 500 ? ExitCodes.InvalidInput : ExitCodes.Failed;
        }
    }
}
