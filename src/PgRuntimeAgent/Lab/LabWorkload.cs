using System.Collections.Concurrent;
using Npgsql;

namespace PgRuntimeAgent.Lab;

/// <summary>Options of the lab workload.</summary>
internal sealed record LabWorkloadOptions
{
    /// <summary>Where writes go: the primary service (haproxy 5433 on every member) in the lab.</summary>
    public required string WriteConnectionString { get; init; }

    /// <summary>Where reads go (the replica service, 5434), or null for no reader.</summary>
    public string? ReadConnectionString { get; init; }

    /// <summary>Pause between two write attempts.</summary>
    public TimeSpan WriteInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan ReadInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Table the writer inserts into (created when missing).</summary>
    public string Table { get; init; } = "pgra_workload";
}

/// <summary>One acknowledged write: the server committed it and said so.</summary>
internal sealed record LabAckedWrite(long Seq, DateTimeOffset SentAt, DateTimeOffset AckedAt);

/// <summary>A stretch of time with failed writes between two acknowledged ones.</summary>
internal sealed record LabOutage(DateTimeOffset LastAckBefore, DateTimeOffset FirstAckAfter, int FailedAttempts, string FirstError)
{
    public TimeSpan Duration => FirstAckAfter - LastAckBefore;
}

/// <summary>What the workload saw, and (after <see cref="LabWorkload.VerifyAsync"/>) what survived.</summary>
internal sealed record LabWorkloadReport
{
    public required string RunId { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset StoppedAt { get; init; }
    public required long Attempts { get; init; }
    public required long Acknowledged { get; init; }
    public required long Failed { get; init; }
    public required IReadOnlyList<LabOutage> Outages { get; init; }
    public long Reads { get; init; }
    public long FailedReads { get; init; }

    /// <summary>Longest write outage (0 when none): last acknowledged write before the failures to the first after.</summary>
    public TimeSpan LongestOutage => Outages.Count == 0 ? TimeSpan.Zero : Outages.Max(o => o.Duration);

    /// <summary>True when writes failed at the end of the run and never came back.</summary>
    public bool EndedInOutage { get; init; }

    /// <summary>Acknowledged writes that are not in the table afterwards (null until verified).</summary>
    public long? LostAcknowledged { get; init; }
}

/// <summary>
/// A steady writer (and optional reader) for the lab: inserts one row per attempt through the primary service and
/// records every acknowledged write with its time, so tests measure the write outage and lost acknowledged writes
/// exactly. Start with <see cref="Start"/>, stop with <see cref="StopAsync"/>, then <see cref="VerifyAsync"/>.
/// </summary>
internal sealed class LabWorkload : IAsyncDisposable
{
    private readonly LabWorkloadOptions _options;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<LabAckedWrite> _acked = new();
    private readonly List<LabOutage> _outages = [];
    private readonly Task _writer;
    private readonly Task _reader;
    private long _attempts;
    private long _failed;
    private long _reads;
    private long _failedReads;
    private DateTimeOffset _stoppedAt;
    private bool _endedInOutage;

    private LabWorkload(LabWorkloadOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        RunId = Guid.NewGuid().ToString("N")[..12];
        StartedAt = time.GetUtcNow();
        _writer = Task.Run(() => WriteLoopAsync(_stop.Token));
        _reader = options.ReadConnectionString is null ? Task.CompletedTask : Task.Run(() => ReadLoopAsync(_stop.Token));
    }

    public string RunId { get; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Every acknowledged write so far, in order.</summary>
    public IReadOnlyList<LabAckedWrite> Acknowledged => [.. _acked];

    public long Attempts => Interlocked.Read(ref _attempts);

    public long FailedAttempts => Interlocked.Read(ref _failed);

    public DateTimeOffset? LastAckedAt => _acked.LastOrDefault()?.AckedAt;

    /// <summary>Creates the table (through the write path) and starts writing.</summary>
    public static async Task<LabWorkload> StartAsync(LabWorkloadOptions options, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var clock = time ?? TimeProvider.System;
        var started = clock.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var conn = new NpgsqlConnection(options.WriteConnectionString);
                await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand(
                    $"CREATE TABLE IF NOT EXISTS {options.Table} (run_id text NOT NULL, seq bigint NOT NULL, sent_at timestamptz NOT NULL, " +
                    "committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (run_id, seq))", conn);
                await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (NpgsqlException ex) when (clock.GetElapsedTime(started) < TimeSpan.FromSeconds(20)
                && (ex is PostgresException { SqlState: PostgresErrorCodes.ReadOnlySqlTransaction } || ex.IsTransient || ex is PostgresException { SqlState: "08P01" }))
            {
                // Right after a leader change the primary service can still route to the member that just stepped
                // down (haproxy's next health check) and a pooler can still refuse logins (server_login_retry): a
                // client retries, as Pigsty's do.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 250 * attempt)), clock, cancellationToken).ConfigureAwait(false);
            }
        }

        return Start(options, clock);
    }

    /// <summary>Starts writing (the table must exist; <see cref="StartAsync"/> creates it).</summary>
    public static LabWorkload Start(LabWorkloadOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new LabWorkload(options, time ?? TimeProvider.System);
    }

    /// <summary>Waits until writes are acknowledged again after <paramref name="after"/> (true) or the timeout passes.</summary>
    public async Task<bool> WaitForAckAfterAsync(DateTimeOffset after, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        while (_time.GetElapsedTime(started) < timeout)
        {
            if (LastAckedAt > after)
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    public async Task<LabWorkloadReport> StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stoppedAt = _time.GetUtcNow();
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_writer, _reader).ConfigureAwait(false);
        return Report(null);
    }

    /// <summary>Counts acknowledged writes of this run that are missing from the table (read through <paramref name="connectionString"/>).</summary>
    public async Task<LabWorkloadReport> VerifyAsync(string connectionString, CancellationToken cancellationToken)
    {
        var acked = _acked.Select(a => a.Seq).ToArray();
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            $"SELECT count(*) FROM unnest(@acked) AS a(seq) WHERE NOT EXISTS (SELECT 1 FROM {_options.Table} w WHERE w.run_id = @run AND w.seq = a.seq)", conn);
        cmd.Parameters.AddWithValue("acked", acked);
        cmd.Parameters.AddWithValue("run", RunId);
        var lost = (long)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L);
        return Report(lost);
    }

    private LabWorkloadReport Report(long? lost)
    {
        lock (_outages)
        {
            return new LabWorkloadReport
            {
                RunId = RunId,
                StartedAt = StartedAt,
                StoppedAt = _stoppedAt == default ? _time.GetUtcNow() : _stoppedAt,
                Attempts = Attempts,
                Acknowledged = _acked.Count,
                Failed = FailedAttempts,
                Outages = [.. _outages],
                Reads = Interlocked.Read(ref _reads),
                FailedReads = Interlocked.Read(ref _failedReads),
                EndedInOutage = _endedInOutage,
                LostAcknowledged = lost,
            };
        }
    }

    private async Task WriteLoopAsync(CancellationToken stop)
    {
        NpgsqlConnection? conn = null;
        long seq = 0;
        DateTimeOffset? lastAck = null;
        DateTimeOffset? failingSince = null;
        var failedInRow = 0;
        var firstError = "";
        try
        {
            while (!stop.IsCancellationRequested)
            {
                seq++;
                Interlocked.Increment(ref _attempts);
                var sent = _time.GetUtcNow();
                try
                {
                    if (conn is null)
                    {
                        conn = new NpgsqlConnection(_options.WriteConnectionString);
                        await conn.OpenAsync(stop).ConfigureAwait(false);
                    }

                    await using (var cmd = new NpgsqlCommand($"INSERT INTO {_options.Table} (run_id, seq, sent_at) VALUES (@r, @s, @t)", conn))
                    {
                        cmd.Parameters.AddWithValue("r", RunId);
                        cmd.Parameters.AddWithValue("s", seq);
                        cmd.Parameters.AddWithValue("t", sent);
                        await cmd.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                    }

                    var acked = _time.GetUtcNow();
                    _acked.Enqueue(new LabAckedWrite(seq, sent, acked));
                    if (failingSince is not null)
                    {
                        lock (_outages)
                        {
                            _outages.Add(new LabOutage(lastAck ?? StartedAt, acked, failedInRow, firstError));
                        }

                        failingSince = null;
                        failedInRow = 0;
                    }

                    lastAck = acked;
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is NpgsqlException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException or IOException)
                {
                    Interlocked.Increment(ref _failed);
                    failingSince ??= sent;
                    if (failedInRow++ == 0)
                    {
                        firstError = ex.Message;
                    }

                    if (conn is not null)
                    {
                        await conn.DisposeAsync().ConfigureAwait(false);
                        conn = null;
                    }
                }

                await Task.Delay(_options.WriteInterval, _time, stop).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or NpgsqlException or TimeoutException or IOException)
        {
            // Stopped: Npgsql reports a stop during a connection attempt as "unable to connect", not as a cancellation.
        }
        finally
        {
            _endedInOutage = failingSince is not null;
            if (conn is not null)
            {
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ReadLoopAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var conn = new NpgsqlConnection(_options.ReadConnectionString);
                    await conn.OpenAsync(stop).ConfigureAwait(false);
                    await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {_options.Table} WHERE run_id = @r", conn);
                    cmd.Parameters.AddWithValue("r", RunId);
                    await cmd.ExecuteScalarAsync(stop).ConfigureAwait(false);
                    Interlocked.Increment(ref _reads);
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
                {
                    Interlocked.Increment(ref _failedReads);
                }

                await Task.Delay(_options.ReadInterval, _time, stop).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or NpgsqlException or TimeoutException or IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
