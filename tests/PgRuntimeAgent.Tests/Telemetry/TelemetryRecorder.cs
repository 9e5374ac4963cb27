using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Tests.Telemetry;

/// <summary>Hears the agent's meters and activity sources as OpenTelemetry would (tests run in parallel: filter by tags).</summary>
internal sealed class TelemetryRecorder : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)> _measurements = new();
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public TelemetryRecorder()
    {
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith(AgentTelemetry.Prefix + ".", StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((i, v, tags, _) => Keep(i, v, tags));
        _meters.SetMeasurementEventCallback<double>((i, v, tags, _) => Keep(i, v, tags));
        _meters.Start();
        _activities = new ActivityListener
        {
            ShouldListenTo = s => AgentTelemetry.SourceNames.Contains(s.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => _stopped.Enqueue(a),
        };
        ActivitySource.AddActivityListener(_activities);
    }

    /// <summary>Activities that ended while recording.</summary>
    public IReadOnlyCollection<Activity> Stopped => _stopped;

    public void Dispose()
    {
        _meters.Dispose();
        _activities.Dispose();
    }

    private void Keep(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var t in tags)
        {
            map[t.Key] = t.Value?.ToString();
        }

        _measurements.Enqueue((instrument.Name, value, map));
    }

    /// <summary>True when <paramref name="instrument"/> recorded a measurement carrying every tag given.</summary>
    public bool Heard(string instrument, params (string Key, string Value)[] tags) =>
        _measurements.Any(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value));

    /// <summary>The values <paramref name="instrument"/> recorded with every tag given.</summary>
    public IReadOnlyList<double> Values(string instrument, params (string Key, string Value)[] tags) =>
        [.. _measurements.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value)).Select(m => m.Value)];
}
