using System.Collections.Concurrent;
using Npgsql;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>One write a member acknowledged: its unique id, the writer, the member that committed it (its address), when.</summary>
internal sealed record AckedWrite(long Id, string Writer, string Member, DateTimeOffset AckedAt);

/// <summary>What <see cref="SafetyChecker.Figures"/> measured: lost writes by kind, split-brain seconds, the longest write gap.</summary>
internal sealed record SafetyWriteFigures(int Lost, int LostAsyncTail, int LostAfterPromotion, double SplitBrainSeconds, double LongestGapSeconds,
    double? TimeToWritableSeconds, DateTimeOffset? WritesBackAt);

/// <summary>
/// The suite's independent checker: writers with their own connections, one straight to each member's PostgreSQL and
/// one through haproxy's primary service (as Pigsty's clients connect), each inserting a unique id every
/// <see cref="Interval"/> and recording every acknowledged commit with the member that answered (<c>inet_server_addr()</c>)
/// and the time. It knows nothing of the agent. Connections to a frozen member give up after a second (connect) or
/// two (statement) without waiting on a cancel request, so one hung member never stalls the others.
/// </summary>
internal sealed class SafetyChecker : IAsyncDisposable
{
    /// <summary>
    /// The checker's write figures after a fault at <paramref name="injectedAt"/>: lost writes split into the
    /// asynchronous tail of <paramref name="leaderBefore"/> (acknowledged before any other member acknowledged one) and
    /// the ones after a promotion; how long two members acknowledged writes at once; the longest gap between
    /// acknowledgements and when writes came back after it. Pure.
    /// </summary>
    public static SafetyWriteFigures Figures(IReadOnlyList<AckedWrite> acked, IReadOnlyList<AckedWrite>? lost, string? leaderBefore, DateTimeOffset injectedAt)
    {
        ArgumentNullException.ThrowIfNull(acked);
        var post = acked.Where(a => a.AckedAt >= injectedAt).OrderBy(a => a.AckedAt).ToList();
        var firstOther = post.Where(a => a.Member != leaderBefore).Select(a => (DateTimeOffset?)a.AckedAt).FirstOrDefault();

        // Two members acknowledging: for each pair, the overlap of their post-fault acknowledgement spans.
        var spans = post.GroupBy(a => a.Member).ToDictionary(g => g.Key, g => (First: g.First().AckedAt, Last: g.Last().AckedAt));
        var split = 0.0;
        foreach (var a in spans)
        {
            foreach (var b in spans.Where(b => string.CompareOrdinal(b.Key, a.Key) > 0))
            {
                var overlap = ((a.Value.Last < b.Value.Last ? a.Value.Last : b.Value.Last) - (a.Value.First > b.Value.First ? a.Value.First : b.Value.First)).TotalSeconds;
                split = Math.Max(split, overlap);
            }
        }

        // Writes stopped and came back: the longest gap between consecutive acknowledgements after the fault.
        var ordered = acked.Where(a => a.AckedAt >= injectedAt.AddSeconds(-1)).OrderBy(a => a.AckedAt).Select(a => a.AckedAt).ToList();
        var gap = 0.0;
        DateTimeOffset? back = null;
        for (var i = 1; i < ordered.Count; i++)
        {
            var g = (ordered[i] - ordered[i - 1]).TotalSeconds;
            if (g > gap)
            {
                gap = g;
                back = ordered[i];
            }
        }

        var lostList = lost ?? [];
        var tail = lostList.Count(l => l.Member == leaderBefore && (firstOther is null || l.AckedAt < firstOther));
        return new SafetyWriteFigures(lostList.Count, tail, lostList.Count - tail, Math.Round(split, 2), Math.Round(gap, 1),
            gap > 1 && back is { } backAt ? Math.Round((backAt - injectedAt).TotalSeconds, 1) : null, back);
    }

    public const string Table = "pgra_safety_writes";

    private readonly LabManifest _lab;
    private readonly LabCluster _cluster;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<AckedWrite> _acked = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _writers = [];
    private long _failures;
    private long _next;

    public SafetyChecker(LabManifest lab, LabCluster cluster, TimeProvider time, long idBase)
    {
        _lab = lab;
        _cluster = cluster;
        _time = time;
        _next = idBase;
        IdBase = idBase;
    }

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Ids of this run start here (runs never reuse an id).</summary>
    public long IdBase { get; }

    public IReadOnlyList<AckedWrite> Acknowledged => [.. _acked];

    public long FailedAttempts => Interlocked.Read(ref _failures);

    /// <summary>Creates the table on the leader, then starts one writer per member and one through haproxy.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var leader = await _cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("no leader to create the checker's table on");
        await using (var c = new NpgsqlConnection(_cluster.ConnectionString(leader, _lab.Credentials.Superuser, _lab.Database)))
        {
            await c.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {Table} (id bigint PRIMARY KEY, writer text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())", c);
            await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var m in _lab.Members)
        {
            _writers.Add(WriteLoopAsync("direct:" + m.Name, Direct(m), _stop.Token));
        }

        _writers.Add(WriteLoopAsync("haproxy", Through(), _stop.Token));
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_writers).ConfigureAwait(false);
    }

    /// <summary>Acknowledged ids of this run that the cluster no longer has, read from the leader once it takes writes.</summary>
    public async Task<IReadOnlyList<AckedWrite>> LostAsync(CancellationToken cancellationToken)
    {
        var leader = await _cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("no leader to read the checker's table from");
        var present = new HashSet<long>();
        await using var c = new NpgsqlConnection(_cluster.ConnectionString(leader, _lab.Credentials.Superuser, _lab.Database));
        await c.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT id FROM {Table} WHERE id >= $1", c) { Parameters = { new() { Value = IdBase } } };
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            present.Add(reader.GetInt64(0));
        }

        return Acknowledged.Where(a => !present.Contains(a.Id)).OrderBy(a => a.AckedAt).ToList();
    }

    private string Direct(LabMember m) => new NpgsqlConnectionStringBuilder(_cluster.ConnectionString(m, _lab.Credentials.Superuser, _lab.Database, application: "pgra-safety"))
    {
        Timeout = 1,
        CommandTimeout = 2,
        CancellationTimeout = -1,
        KeepAlive = 1,
    }.ConnectionString;

    private string Through() => new NpgsqlConnectionStringBuilder(_cluster.PrimaryServiceConnectionString(_lab.Credentials.App, "pgra-safety"))
    {
        Timeout = 1,
        CommandTimeout = 2,
        CancellationTimeout = -1,
        KeepAlive = 1,
        Pooling = false,
    }.ConnectionString;

    private async Task WriteLoopAsync(string writer, string connectionString, CancellationToken stop)
    {
        await Task.Yield();
        NpgsqlConnection? connection = null;
        while (!stop.IsCancellationRequested)
        {
            var id = Interlocked.Increment(ref _next);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            limit.CancelAfter(TimeSpan.FromSeconds(2.5));
            try
            {
                if (connection is null)
                {
                    connection = new NpgsqlConnection(connectionString);
                    await connection.OpenAsync(limit.Token).ConfigureAwait(false);
                }

                await using var cmd = new NpgsqlCommand($"INSERT INTO {Table} (id, writer) VALUES ($1, $2) RETURNING host(inet_server_addr())", connection)
                {
                    Parameters = { new() { Value = id }, new() { Value = writer } },
                };
                var server = (string?)await cmd.ExecuteScalarAsync(limit.Token).ConfigureAwait(false);
                var at = _time.GetUtcNow();
                _acked.Enqueue(new AckedWrite(id, writer, _lab.Members.FirstOrDefault(m => m.Ip == server)?.Name ?? server ?? "?", at));
            }
            catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or IOException or TimeoutException or InvalidOperationException)
            {
                if (stop.IsCancellationRequested)
                {
                    break;
                }

                Interlocked.Increment(ref _failures);
                Drop(ref connection);
            }

            try
            {
                await Task.Delay(Interval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Drop(ref connection);
    }

    private static void Drop(ref NpgsqlConnection? connection)
    {
        var c = connection;
        connection = null;
        if (c is null)
        {
            return;
        }

        // Never wait on a frozen server to say goodbye: dispose in the background.
        _ = Task.Run(async () =>
        {
            try
            {
                await c.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or OperationCanceledException)
            {
            }
        });
    }

    /// <summary><see cref="LostAsync"/>, asked again every second for 30 s while the cluster has no leader to answer; null (with a note) if it never did.</summary>
    public async Task<IReadOnlyList<AckedWrite>?> LostOrNoteAsync(List<string> notes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notes);
        for (var attempt = 0; attempt < 30; attempt++)
        {
            try
            {
                return await LostAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                if (attempt == 29)
                {
                    notes.Add("lost writes not counted: " + ex.Message);
                }

                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
