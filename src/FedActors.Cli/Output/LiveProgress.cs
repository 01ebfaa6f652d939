using System.Globalization;
using FedActors.Core.Simulation;
using Spectre.Console;

namespace FedActors.Cli.Output;

/// <summary>Shows a run's progress: a live bar on a terminal, one line per round otherwise (CI logs).</summary>
public static class LiveProgress
{
    /// <param name="done">Rounds already done (a resumed or forked run): the bar starts there.</param>
    public static async Task<T> RunAsync<T>(int rounds, Func<Action<RoundSummary>, Task<T>> run, int done = 0)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return await run(r => Console.WriteLine(Line(r, rounds)));
        T result = default!;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask($"round {done}/{rounds}", maxValue: rounds);
                task.Increment(done);
                result = await run(r =>
                {
                    task.Description = Markup.Escape(Line(r, rounds));
                    task.Increment(1);
                });
            });
        return result;
    }

    /// <summary>One round in a line, with the same names as <c>rounds.csv</c> (timed out and failed apart).</summary>
    public static string Line(RoundSummary r, int rounds) =>
        string.Create(CultureInfo.InvariantCulture,
            $"round {r.Round}/{rounds}  accuracy {RunReport.Pct(r.Accuracy)}  responded {r.Responded}/{r.Selected}  dropped {r.Dropped}{(r.TimedOut > 0 ? $"  timed out {r.TimedOut}" : "")}{(r.Failed > 0 ? $"  failed {r.Failed}" : "")}{Faults(r.Faults)}{(r.NotAggregated is { } why ? $"  model kept: {why}" : "")}  {r.RoundMs} ms");

    private static string Faults(Core.Faults.FaultCounts f)
    {
        var parts = new List<string>();
        if (f.Dropped > 0) parts.Add($"{f.Dropped} dropped");
        if (f.Crashed > 0) parts.Add($"{f.Crashed} crashed");
        if (f.LostMessages > 0) parts.Add($"{f.LostMessages} lost messages");
        if (f.Straggled > 0) parts.Add($"{f.Straggled} straggled");
        if (f.NodeFaults > 0) parts.Add($"{f.NodeFaults} node faults");
        return parts.Count == 0 ? "" : "  faults: " + string.Join(", ", parts);
    }
}
