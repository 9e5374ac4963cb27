using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Telemetry;

/// <summary>
/// What the state gauges (<c>pgra.acting.approvals.pending</c>, <c>pgra.incidents.open</c>, <c>pgra.journal.entries</c>)
/// report: read from the journal (the approval book, the incidents' events, the head) at most once per
/// <see cref="MaxAge"/>, so that a scrape or an export costs no more than one set of journal queries per interval. A
/// gauge's callback is synchronous and returns the values read last; the web host's <c>/metrics</c> awaits
/// <see cref="RefreshAsync"/> before it collects, and an OTLP export's collection starts a refresh in the background
/// when the values are older than <see cref="MaxAge"/>. The process has one: the last one <see cref="Register"/>ed is the
/// one the gauges read (the daemon registers one; tests that start several web hosts run one at a time).
/// </summary>
internal sealed partial class AgentStateMetrics : IAsyncDisposable
{
    private static readonly Lock Registry = new();
    private static readonly List<AgentStateMetrics> Registered = [];

    private readonly IJournal _journal;
    private readonly ApprovalBook _approvals;
    private readonly TimeProvider _time;
    private readonly SecretStore? _secrets;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private Task _background = Task.CompletedTask;
    private DateTimeOffset? _readAt;

    public AgentStateMetrics(IJournal journal, ApprovalBook approvals, TimeProvider time, TimeSpan maxAge, SecretStore? secrets = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(approvals);
        _journal = journal;
        _approvals = approvals;
        _time = time ?? TimeProvider.System;
        _secrets = secrets;
        _logger = logger ?? NullLogger.Instance;
        MaxAge = maxAge > TimeSpan.Zero ? maxAge : TimeSpan.FromSeconds(1);
    }

    /// <summary>How old the values may get before a collection reads the journal again.</summary>
    public TimeSpan MaxAge { get; }

    /// <summary>The values read last (empty before the first read).</summary>
    public StateValues Values { get; private set; } = StateValues.Empty;

    /// <summary>The registered source the gauges read, if any.</summary>
    public static AgentStateMetrics? Current
    {
        get
        {
            lock (Registry)
            {
                return Registered.Count == 0 ? null : Registered[^1];
            }
        }
    }

    /// <summary>Makes this the source the state gauges read until disposed, and publishes the gauges.</summary>
    public AgentStateMetrics Register()
    {
        // Touch the gauges: a static class's instruments exist once it is first used, and a host that never acts
        // (pgra serve) would otherwise never publish the approvals gauge.
        _ = AgentTelemetry.Acting.ApprovalsPending;
        _ = AgentTelemetry.Incidents.Open;
        _ = AgentTelemetry.Journal.Entries;
        lock (Registry)
        {
            Registered.Remove(this);
            Registered.Add(this);
        }

        return this;
    }

    /// <summary>The current source's measurements of one gauge; starts a background read when they are stale.</summary>
    internal static IEnumerable<Measurement<long>> Observe(Func<StateValues, IReadOnlyList<Measurement<long>>> pick)
    {
        var current = Current;
        if (current is null)
        {
            return [];
        }

        current.RefreshInBackground();
        return pick(current.Values);
    }

    private bool Stale => _readAt is not { } at || _time.GetUtcNow() - at >= MaxAge;

    /// <summary>Reads the journal again when the values are older than <see cref="MaxAge"/> (one read at a time).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (!Stale)
        {
            return;
        }

        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!Stale)
            {
                return;
            }

            Values = await ReadAsync(cancellationToken).ConfigureAwait(false);
            _readAt = _time.GetUtcNow();
        }
        catch (Exception ex) when (ex is JournalException or IOException or InvalidOperationException or System.Data.Common.DbException)
        {
            // Keep the last values; try again after another interval rather than on every collection.
            _readAt = _time.GetUtcNow();
            LogReadFailed(_logger, ex.GetType().Name, LogRedaction.Text(ex.Message, _secrets));
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private void RefreshInBackground()
    {
        if (!Stale || _disposed.IsCancellationRequested || !_background.IsCompleted)
        {
            return;
        }

        _background = Task.Run(async () =>
        {
            try
            {
                await RefreshAsync(_disposed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
            {
            }
        });
    }

    private async Task<StateValues> ReadAsync(CancellationToken cancellationToken)
    {
        // Every cluster that ever had an approval or an incident keeps a series (0 when none is pending or open).
        var approvals = await _approvals.ListAsync(includeClosed: true, cancellationToken).ConfigureAwait(false);
        var pending = approvals.GroupBy(a => a.Action.Cluster, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new Measurement<long>(g.LongCount(a => a.Status == ApprovalStatus.Pending), new KeyValuePair<string, object?>("cluster", g.Key)))
            .ToList();

        var events = await _journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Incident] }, cancellationToken).ConfigureAwait(false);
        var incidents = events.Where(e => e.CorrelationId is not null).GroupBy(e => e.CorrelationId!, StringComparer.Ordinal)
            .Select(g => IncidentStore.Fold(g.ToList())).OfType<Incident>().ToList();
        var open = incidents.GroupBy(i => (i.Cluster, Severity: FindingJson.SeverityName(i.Severity)))
            .OrderBy(g => g.Key.Cluster, StringComparer.Ordinal).ThenBy(g => g.Key.Severity, StringComparer.Ordinal)
            .Select(g => new Measurement<long>(g.LongCount(i => i.State != IncidentState.Resolved),
                new KeyValuePair<string, object?>("cluster", g.Key.Cluster), new KeyValuePair<string, object?>("severity", g.Key.Severity)))
            .ToList();

        var head = await _journal.QueryAsync(new JournalQuery { Limit = 1, Descending = true, IncludeDamaged = true }, cancellationToken).ConfigureAwait(false);
        return new StateValues(pending, open, [new Measurement<long>(head.Count == 0 ? 0 : head[0].Seq)]);
    }

    public async ValueTask DisposeAsync()
    {
        lock (Registry)
        {
            Registered.Remove(this);
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        try
        {
            await _background.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _disposed.Dispose();
        _refreshing.Dispose();
    }

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "State gauges: could not read the journal ({Error}: {Message}); the last values are kept")]
    private static partial void LogReadFailed(ILogger logger, string error, string message);
}

/// <summary>The state gauges' values as read at one time.</summary>
internal sealed record StateValues(
    IReadOnlyList<Measurement<long>> ApprovalsPending,
    IReadOnlyList<Measurement<long>> IncidentsOpen,
    IReadOnlyList<Measurement<long>> JournalEntries)
{
    public static StateValues Empty { get; } = new([], [], []);
}
