using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Tests.Telemetry;

/// <summary>One log event as a provider receives it: the formatted message and its structured values.</summary>
internal sealed record RecordedLog(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyList<KeyValuePair<string, object?>> State, Exception? Exception)
{
    /// <summary>The message and every structured value, as a sink would write them.</summary>
    public string Everything => Message + " " + string.Join(" ", State.Select(p => $"{p.Key}={p.Value}")) + " " + Exception;
}

/// <summary>
/// An in-memory logger factory for tests: every event at every level is kept (and copied to the test's output), so a
/// test asserts which events were logged, at what level and with which text.
/// </summary>
internal sealed class LogRecorder : ILoggerFactory
{
    private readonly ConcurrentQueue<RecordedLog> _logs = new();

    public IReadOnlyList<RecordedLog> Logs => _logs.ToArray();

    /// <summary>The events with <paramref name="eventId"/>.</summary>
    public IReadOnlyList<RecordedLog> WithId(int eventId) => _logs.Where(l => l.EventId.Id == eventId).ToList();

    /// <summary>The single event with <paramref name="eventId"/>, asserted to be at <paramref name="level"/>.</summary>
    public RecordedLog Single(int eventId, LogLevel level)
    {
        var log = Assert.Single(WithId(eventId));
        Assert.Equal(level, log.Level);
        return log;
    }

    public ILogger CreateLogger(string categoryName) => new RecordingLogger(this, categoryName);

    public ILogger Logger(string category = "test") => CreateLogger(category);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class RecordingLogger(LogRecorder recorder, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
            var log = new RecordedLog(category, logLevel, eventId, formatter(state, exception), values.ToList(), exception);
            recorder._logs.Enqueue(log);
            TestContext.Current.TestOutputHelper?.WriteLine($"{logLevel} {category}[{eventId.Id}] {log.Message}");
        }
    }
}
