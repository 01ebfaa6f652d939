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

    private static string Line(RoundSummary r, int rounds) =>
        string.Create(CultureInfo.InvariantCulture,
            $"round {r.Round}/{rounds}  accuracy {RunReport.Pct(r.Accuracy)}  responded {r.Responded}/{r.Selected}  dropped {r.Dropped}{(r.TimedOut + r.Failed > 0 ? $"  failed {r.TimedOut + r.Failed}" : "")}  {r.RoundMs} ms");
}
