using Akka.Configuration;
using Serilog.Events;

namespace FedActors.Runtime.Settings;

/// <summary><c>fedactors.monitoring</c>, typed and checked.</summary>
/// <param name="ConsoleLevel">Lowest level echoed to the console; null = off.</param>
/// <param name="SeqUrl">null = no Seq.</param>
/// <param name="ClientsCsv">Write <c>clients.csv</c> (each evaluated client's accuracy per evaluated round) in the run folder.</param>
public sealed record MonitoringSettings(LogEventLevel? ConsoleLevel, string? SeqUrl, string? SeqApiKey, bool SeqDurable, TimeSpan SeqPeriod,
    bool ClientsCsv = true)
{
    public static MonitoringSettings Read(Config c)
    {
        var level = c.GetString("fedactors.monitoring.console-level") switch
        {
            "off" => (LogEventLevel?)null,
            "information" => LogEventLevel.Information,
            "warning" => LogEventLevel.Warning,
            var s => throw new ConfigurationError("fedactors.monitoring.console-level", $"\"{s}\"", "off, warning or information"),
        };
        var url = c.GetString("fedactors.monitoring.seq.url");
        if (!string.IsNullOrEmpty(url) && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            throw new ConfigurationError("fedactors.monitoring.seq.url", $"\"{url}\"", "an http(s) URL such as http://localhost:5341, or \"\" for off");
        var key = c.GetString("fedactors.monitoring.seq.api-key");
        if (string.IsNullOrEmpty(key)) key = Environment.GetEnvironmentVariable("SEQ_API_KEY");
        var options = new HoconOptionReader(c, "fedactors.monitoring");
        bool durable = options.Bool("seq.durable");
        TimeSpan period;
        try { period = c.GetTimeSpan("fedactors.monitoring.seq.period", null, allowInfinite: false); }
        catch (Exception) { throw new ConfigurationError("fedactors.monitoring.seq.period", c.GetString("fedactors.monitoring.seq.period"), "a duration such as 2s"); }
        if (period <= TimeSpan.Zero) throw new ConfigurationError("fedactors.monitoring.seq.period", period.ToString(), "a positive duration");
        return new MonitoringSettings(level, string.IsNullOrEmpty(url) ? null : url, string.IsNullOrEmpty(key) ? null : key, durable, period,
            options.Bool("clients-csv"));
    }

    /// <summary>The log targets of a run writing into <paramref name="runDir"/>.</summary>
    /// <param name="runDir">The run folder (null on a clients node, which keeps no run files: console and Seq only).</param>
    public Monitoring.LogTargets TargetsFor(string? runDir) => new(
        ClefPath: runDir is null ? null : Path.Combine(runDir, "events.clef"),
        ConsoleLevel: ConsoleLevel,
        SeqUrl: SeqUrl,
        SeqApiKey: SeqApiKey,
        SeqBufferPath: runDir is not null && SeqUrl is not null && SeqDurable ? Path.Combine(runDir, "seq-buffer", "events") : null,
        SeqPeriod: SeqPeriod);
}
