using FedActors.Core.Simulation;

namespace FedActors.Cli.Output;

/// <summary>PNG plots of a run with ScottPlot: accuracy and loss of the global model per round.</summary>
public static class Plots
{
    /// <param name="personalised">The rounds' accuracy is the clients' own models' (pooled), not the global model's.</param>
    public static void WriteAccuracyAndLoss(string runDir, IReadOnlyList<RoundSummary> rounds, bool personalised = false)
    {
        string what = personalised ? "Personalised models' test" : "Global model test";
        var evaluated = rounds.Where(r => !double.IsNaN(r.Accuracy)).ToArray();
        var xs = evaluated.Select(r => (double)r.Round).ToArray();
        Line(Path.Combine(runDir, "accuracy.png"), $"{what} accuracy", "accuracy (%)", xs, evaluated.Select(r => r.Accuracy * 100).ToArray());
        Line(Path.Combine(runDir, "loss.png"), $"{what} loss", "cross-entropy", xs, evaluated.Select(r => r.Loss).ToArray(),
            ("mean local training loss", rounds.Where(r => !double.IsNaN(r.TrainLoss)).Select(r => ((double)r.Round, r.TrainLoss)).ToArray()));
    }

    private static void Line(string path, string title, string yLabel, double[] xs, double[] ys, params (string Label, (double X, double Y)[] Points)[] extra)
    {
        var plot = new ScottPlot.Plot();
        var main = plot.Add.Scatter(xs, ys);
        main.LegendText = "test";
        foreach (var (label, points) in extra)
        {
            var s = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            s.LegendText = label;
        }
        if (extra.Length > 0) plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.Title(title);
        plot.XLabel("round");
        plot.YLabel(yLabel);
        plot.SavePng(path, 900, 500);
    }
}
