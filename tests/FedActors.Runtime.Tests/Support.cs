using System.Collections.Concurrent;
using Akka.Configuration;
using FedActors.Runtime.Monitoring;
using FedActors.Runtime.Settings;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Xunit;

namespace FedActors.Runtime.Tests;

/// <summary>Collects a test's own log events (never the global logger).</summary>
public sealed class InMemorySink : ILogEventSink
{
    public ConcurrentQueue<LogEvent> Events { get; } = new();
    public void Emit(LogEvent logEvent) => Events.Enqueue(logEvent);

    public IEnumerable<LogEvent> Named(string name) =>
        Events.Where(e => e.Properties.TryGetValue("Event", out var v) && v is ScalarValue { Value: string s } && s == name);

    public static object? Scalar(LogEvent e, string property) =>
        e.Properties.TryGetValue(property, out var v) && v is ScalarValue s ? s.Value : null;
}

public static class Support
{
    public static (RunEvents Events, InMemorySink Sink) Events()
    {
        var sink = new InMemorySink();
        var logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(sink).CreateLogger();
        return (new RunEvents(logger), sink);
    }

    /// <summary>The effective config for an in-process node, with extra HOCON lines on top.</summary>
    public static Config NodeConfig(params string[] overrides) => FedActorsSettings.Load(null, overrides);
}

/// <summary>Runs that start an actor system and torch pools one at a time: the machine has few cores.</summary>
[CollectionDefinition("Node", DisableParallelization = true)]
public sealed class NodeCollection;
