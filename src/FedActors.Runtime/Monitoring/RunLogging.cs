using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace FedActors.Runtime.Monitoring;

/// <summary>Where a run's events go.</summary>
/// <param name="ClefPath">The run's CLEF file (loadable later with <c>seqcli ingest</c>); null = none.</param>
/// <param name="SeqUrl">Seq server; null = off.</param>
/// <param name="SeqBufferPath">Base file name of the durable Seq buffer; null = in-memory batching only.</param>
public sealed record LogTargets(string? ClefPath, LogEventLevel? ConsoleLevel, string? SeqUrl, string? SeqApiKey, string? SeqBufferPath, TimeSpan SeqPeriod);

/// <summary>Builds a run's Serilog logger: CLEF file, console, and Seq (durable when asked) with the experiment as
/// a property on every event.</summary>
public static class RunLogging
{
    public static Logger Create(LogTargets t, string experiment, string runId, Action<LoggerConfiguration>? extra = null)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Akka", LogEventLevel.Warning)
            .Enrich.WithProperty("Experiment", experiment)
            .Enrich.WithProperty("RunId", runId)
            // a crash fault's exception, logged by the shard that restarts the entity: the FaultInjected event says it already
            .Filter.ByExcluding(e => e.Exception is Actors.ClientEntity.InjectedCrash);
        if (t.ClefPath is not null) config = config.WriteTo.File(new CompactJsonFormatter(), t.ClefPath);
        if (t.ConsoleLevel is { } level) config = config.WriteTo.Console(restrictedToMinimumLevel: level, standardErrorFromLevel: LogEventLevel.Verbose);
        if (!string.IsNullOrEmpty(t.SeqUrl))
            config = config.WriteTo.Seq(t.SeqUrl, apiKey: string.IsNullOrEmpty(t.SeqApiKey) ? null : t.SeqApiKey,
                bufferBaseFilename: t.SeqBufferPath, period: t.SeqPeriod);
        extra?.Invoke(config);
        return config.CreateLogger();
    }
}
