using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Dcs;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Telemetry;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary>Seams for tests and benchmarks: where to reach members and how to run commands. Null = the real thing.</summary>
public sealed record SensingOverrides
{
    public HttpMessageHandler? HttpHandler { get; init; }
    public Func<PgMember, Uri>? PatroniUrl { get; init; }
    public Func<PgMember, (string Host, int Port)>? PostgresAddress { get; init; }
    public ICommandRunner? LocalRunner { get; init; }
    public ICommandRunner? SshRunner { get; init; }
    public Func<PgMember, MemberLogFiles, IFileAccess>? FileAccess { get; init; }
    public Uri? MetricsUrl { get; init; }
    public Uri? LogsUrl { get; init; }
    public LogsKind? LogsKind { get; init; }

    /// <summary>
    /// etcd client URLs for the leader-key read. Null: the inventory's etcd members, unless <see cref="PatroniUrl"/>
    /// redirects the members (a test or benchmark fake), in which case the DCS is not read unless this is set.
    /// </summary>
    public IReadOnlyList<Uri>? EtcdEndpoints { get; init; }
}

/// <summary>
/// Takes <see cref="ClusterSnapshot"/>s. Every sensor runs concurrently under its own timeout; a dead sensor costs
/// at most its timeout and shows as unknown with the reason, never as an exception. Fleet snapshots run at most
/// <see cref="SensingSettings.MaxParallelism"/> clusters at once.
/// </summary>
internal sealed class SnapshotService : IDisposable
{
    private readonly Topology _topology;
    private readonly SensingSettings _settings;
    private readonly SecretStore _secrets;
    private readonly TimeProvider _time;
    private readonly SensingOverrides _overrides;
    private readonly SensingHttp _http;
    private readonly Uri? _metricsUrl;
    private readonly Uri? _logsUrl;
    private readonly LogsKind _logsKind;
    private readonly ICommandRunner _local;
    private readonly ICommandRunner _ssh;
    private readonly ILogger _logger;

    /// <summary>The index advisor's latest advice and cadence, per cluster (see <see cref="IndexAdvisorCache"/>).</summary>
    private readonly IndexAdvisorCache _advisor;

    /// <summary>Per cluster/sensor, the health of the last snapshot (a change is logged, not every unhealthy snapshot).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SensorHealth> _lastHealth = new(StringComparer.Ordinal);

    /// <summary>Per cluster, the last leader seen taking writes (see <see cref="ClusterSnapshot.LastWritable"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, WritablePosition> _lastWritable = new(StringComparer.Ordinal);

    /// <summary>
    /// Members (cluster/member) whose Patroni or PostgreSQL timed out on the previous snapshot: they get half the
    /// timeout next time, so a hung member costs every later snapshot less and detection on the others is not held
    /// back by it; one answer in time gives the full timeout back.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _hung = new(StringComparer.Ordinal);

    private TimeSpan DeadlineFor(string sensor, PgCluster cluster, PgMember member)
    {
        var full = _settings.TimeoutFor(sensor);
        return _hung.ContainsKey($"{cluster.Name}/{member.Name}") ? TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(500).Ticks, full.Ticks / 2)) : full;
    }

    /// <summary>
    /// The members that did not answer in time: Patroni timed out, or PostgreSQL timed out before a single probe came
    /// back. A member that answered some probes before the deadline is slow (a loaded host), not hung: halving its
    /// deadline would cut off more of its probes each time (measured on the lab at load 8: 1-2 of 22 probes within 2 s).
    /// </summary>
    internal static HashSet<string> HungMembers(IEnumerable<SensorStatus> details, IReadOnlyList<PostgresMemberObservation> postgres) =>
        details.Where(d => d.Sensor is SensorNames.Patroni or SensorNames.Postgres && d.Target is not null
                && d.Reason?.Contains("timed out", StringComparison.OrdinalIgnoreCase) == true
                && !(d.Sensor == SensorNames.Postgres && postgres.Any(o => string.Equals(o.Member, d.Target, StringComparison.Ordinal) && o.Probes.Count > 0)))
            .Select(d => d.Target!).ToHashSet(StringComparer.Ordinal);

    private void RememberHung(PgCluster cluster, IReadOnlyList<SensorStatus> details, IReadOnlyList<PostgresMemberObservation> postgres)
    {
        var hung = HungMembers(details, postgres);
        foreach (var m in cluster.Members)
        {
            var key = $"{cluster.Name}/{m.Name}";
            if (hung.Contains(m.Name))
            {
                if (_hung.TryAdd(key, true))
                {
                    var timedOut = details.First(d => d.Sensor is SensorNames.Patroni or SensorNames.Postgres && string.Equals(d.Target, m.Name, StringComparison.Ordinal)
                        && d.Reason?.Contains("timed out", StringComparison.OrdinalIgnoreCase) == true);
                    Log.MemberDeadlineHit(_logger, m.Name, cluster.Name, timedOut.Sensor, LogRedaction.Text(timedOut.Reason, _secrets));
                }
            }
            else if (_hung.TryRemove(key, out _))
            {
                Log.MemberDeadlineCleared(_logger, m.Name, cluster.Name);
            }
        }
    }

    /// <param name="sensing">The <c>sensing:</c> section: sensors, timeouts, parallelism, SSH, log files.</param>
    /// <param name="endpoints">The <c>endpoints:</c> section: metrics and logs URLs that override the inventory's.</param>
    public SnapshotService(Topology topology, SensingSettings sensing, EndpointSettings endpoints, SecretStore secrets, TimeProvider? time = null,
        SensingOverrides? overrides = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(sensing);
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(secrets);
        _topology = topology;
        _settings = sensing;
        _secrets = secrets;
        _time = time ?? TimeProvider.System;
        _overrides = overrides ?? new SensingOverrides();
        _http = new SensingHttp(_overrides.HttpHandler);
        _metricsUrl = _overrides.MetricsUrl ?? endpoints.MetricsUrl ?? topology.Infra.Metrics?.Url;
        _logsKind = _overrides.LogsKind ?? endpoints.LogsKind ?? topology.Infra.LogsKind;
        _logsUrl = _overrides.LogsUrl ?? endpoints.LogsUrl ?? topology.Infra.Logs?.Url;
        _local = _overrides.LocalRunner ?? new LocalCommandRunner();
        _ssh = _overrides.SshRunner ?? new SshRunner(_settings.Ssh);
        _logger = logger ?? NullLogger.Instance;
        _advisor = new IndexAdvisorCache(secrets, _time, _settings.Postgres.Advisor) { AddressOf = _overrides.PostgresAddress ?? (m => (m.Ip, m.Ports.Postgres)) };
    }

    public Topology Topology => _topology;

    /// <summary>Snapshot of one cluster by name; an unknown name is operator input error.</summary>
    public Task<ClusterSnapshot> TakeAsync(string clusterName, CancellationToken cancellationToken)
    {
        var cluster = _topology.FindCluster(clusterName)
            ?? throw new InputException($"no cluster '{clusterName}' in {_topology.SourcePath}",
                [$"clusters: {string.Join(", ", _topology.Clusters.Select(c => c.Name))}"]);
        return TakeAsync(cluster, cancellationToken);
    }

    /// <summary>
    /// The snapshot's duration and each sensor that could not see, as metrics (<see cref="AgentTelemetry.Sensing"/>);
    /// as logs, a sensor whose health changed since the last snapshot of the cluster and a snapshot slower than the
    /// sensing interval.
    /// </summary>
    private void Record(ClusterSnapshot snapshot)
    {
        foreach (var sensor in snapshot.Sensors.Where(x => _settings.IsEnabled(x.Sensor)))
        {
            var key = $"{snapshot.Cluster}/{sensor.Sensor}";
            var previous = _lastHealth.TryGetValue(key, out var p) ? p : SensorHealth.Ok;
            _lastHealth[key] = sensor.Health;
            if (sensor.Health == previous)
            {
                continue;
            }

            if (sensor.Health == SensorHealth.Ok)
            {
                Log.SensorRecovered(_logger, sensor.Sensor, snapshot.Cluster, previous);
            }
            else
            {
                Log.SensorUnhealthy(_logger, sensor.Sensor, snapshot.Cluster, sensor.Health, LogRedaction.Text(sensor.Reason ?? "no reason given", _secrets));
            }
        }

        var intervalMs = Math.Max(0.2, _settings.IntervalSeconds) * 1000;
        if (snapshot.DurationMs > intervalMs)
        {
            Log.SlowSnapshot(_logger, snapshot.Cluster, snapshot.DurationMs, intervalMs);
        }

        Log.SnapshotTaken(_logger, snapshot.Cluster, snapshot.DurationMs, snapshot.Leader ?? "unknown");

        AgentTelemetry.Sensing.SnapshotDuration.Record(snapshot.DurationMs / 1000.0, new KeyValuePair<string, object?>("cluster", snapshot.Cluster));
        foreach (var sensor in snapshot.Sensors.Where(x => x.Health != SensorHealth.Ok))
        {
            AgentTelemetry.Sensing.SensorUnhealthy.Add(1, new TagList
            {
                { "cluster", snapshot.Cluster }, { "sensor", sensor.Sensor }, { "health", sensor.Health.ToString().ToLowerInvariant() },
            });
        }
    }

    /// <summary>Snapshots of every cluster, at most max_parallelism at once, in inventory order.</summary>
    public async Task<IReadOnlyList<ClusterSnapshot>> TakeAllAsync(CancellationToken cancellationToken)
    {
        var results = new ClusterSnapshot[_topology.Clusters.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _settings.MaxParallelism), CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, results.Length), options, async (i, ct) =>
        {
            results[i] = await TakeAsync(_topology.Clusters[i], ct).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return results;
    }

    public async Task<ClusterSnapshot> TakeAsync(PgCluster cluster, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        using var activity = AgentTelemetry.Sensing.Source.StartActivity("pgra.snapshot");
        activity?.SetTag("pgra.cluster", cluster.Name);
        var started = _time.GetTimestamp();
        var takenAt = _time.GetUtcNow();

        var patroniTask = Guard(SensorNames.Patroni, cluster.Name, cluster.Name, ObservePatroniAsync(cluster, cancellationToken));
        var metricsTask = Guard(SensorNames.Metrics, null, cluster.Name, ObserveMetricsAsync(cluster, cancellationToken));
        var postgresTask = Guard(SensorNames.Postgres, cluster.Name, cluster.Name, ObservePostgresAsync(cluster, cancellationToken));
        var leadership = Task.WhenAll(patroniTask, postgresTask);
        var logsTask = BehindAsync($"{cluster.Name}/logs", () => Guard(SensorNames.Logs, null, cluster.Name, ObserveLogsAsync(cluster, takenAt, cancellationToken)), leadership, cancellationToken);
        var backupTask = BehindAsync($"{cluster.Name}/backup", () => Guard(SensorNames.Backup, cluster.Name, cluster.Name, ObserveBackupAsync(cluster, cancellationToken)), leadership, cancellationToken);
        var hostTask = Guard(SensorNames.Host, null, cluster.Name, ObserveHostsAsync(cluster, metricsTask, cancellationToken));
        await Task.WhenAll(patroniTask, metricsTask, logsTask, backupTask, postgresTask, hostTask).ConfigureAwait(false);

        var (patroni, patroniHealth) = patroniTask.Result;
        var (metrics, metricsHealth) = metricsTask.Result;
        var (logs, logsHealth) = logsTask.Result;
        var (backup, backupHealth) = backupTask.Result;
        var (postgres, postgresHealth) = postgresTask.Result;
        var (hosts, hostHealth) = hostTask.Result;

        // The DCS is the arbiter of leadership: read the leader key from etcd itself, after the members' probes, so a
        // member seen writable above that still holds the key holds it in this read too (a switchover's new leader
        // takes the key before it promotes). Members' Patroni views that disagree with etcd are stale caches.
        var dcs = patroni is null ? null : await ReadDcsAsync(cluster, cancellationToken).ConfigureAwait(false);
        if (dcs is not null)
        {
            patroni = SnapshotFusion.WithDcs(patroni!, dcs);
            patroniHealth = [.. patroniHealth, new SensorStatus(SensorNames.Patroni, "etcd", dcs.Read ? SensorHealth.Ok : SensorHealth.Degraded,
                dcs.Read ? null : dcs.Error, 0)];
        }

        var (members, leader, leaderSource, timeline) = SnapshotFusion.FuseMembers(cluster, patroni, metrics, postgres ?? []);
        var drift = SnapshotFusion.Drift(cluster, patroni, members, leader, metrics);
        var details = new List<SensorStatus>();
        var overall = new List<SensorStatus>();
        foreach (var (name, parts) in new[]
        {
            (SensorNames.Patroni, patroniHealth), (SensorNames.Metrics, metricsHealth), (SensorNames.Logs, logsHealth),
            (SensorNames.Backup, backupHealth), (SensorNames.Postgres, postgresHealth), (SensorNames.Host, hostHealth),
        })
        {
            details.AddRange(parts);
            overall.Add(Aggregate(name, parts));
        }

        var snapshot = new ClusterSnapshot
        {
            Cluster = cluster.Name,
            TakenAt = takenAt,
            DurationMs = SensorCall.Ms(_time, started),
            Inventory = InventoryView.From(cluster, _topology.SourcePath),
            Members = members,
            Leader = leader,
            LeaderSource = leaderSource,
            Timeline = timeline,
            Patroni = patroni,
            Metrics = metrics,
            Logs = logs,
            Backup = backup,
            Postgres = postgres ?? [],
            Hosts = hosts ?? [],
            Sensors = overall,
            SensorDetails = details,
            Drift = drift,
        };
        RememberHung(cluster, details, snapshot.Postgres);
        Record(snapshot);
        var withFacts = SnapshotFusion.WithFailoverFacts(snapshot, _lastWritable.TryGetValue(cluster.Name, out var previous) ? previous : null);
        if (withFacts.LastWritable is { } seen)
        {
            _lastWritable[cluster.Name] = seen;
        }

        return withFacts;
    }

    private async Task<DcsLeaderObservation?> ReadDcsAsync(PgCluster cluster, CancellationToken ct)
    {
        var endpoints = _overrides.EtcdEndpoints ?? (_overrides.PatroniUrl is null ? DcsLeaderKey.Endpoints(_topology) : null);
        if (endpoints is null || endpoints.Count == 0)
        {
            return null;
        }

        var key = new DcsLeaderKey(cluster, endpoints, _http);
        return await key.ReadAsync(_settings.TimeoutFor(SensorNames.Patroni), ct).ConfigureAwait(false);
    }

    /// <summary>Log entries for <c>pgra logs</c>, from the configured backend.</summary>
    public async Task<(LogQueryResult? Result, SensorStatus Health)> QueryLogsAsync(PgCluster cluster, LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var source = CreateLogSource(cluster, out var why);
        if (source is null)
        {
            return (null, new SensorStatus(SensorNames.Logs, null, SensorHealth.Unknown, why, 0));
        }

        var outcome = await SensorCall.RunAsync($"{source.Kind} logs", _settings.TimeoutFor(SensorNames.Logs) * 4, _time,
            ct => source.QueryAsync(query, ct), cancellationToken).ConfigureAwait(false);
        var health = outcome.Value is null ? SensorHealth.Unknown
            : outcome.Value.Warnings.Count > 0 ? SensorHealth.Degraded : SensorHealth.Ok;
        var reason = outcome.Reason ?? (outcome.Value?.Warnings.Count > 0 ? string.Join("; ", outcome.Value.Warnings) : null);
        return (outcome.Value, new SensorStatus(SensorNames.Logs, source.Kind, health, reason, outcome.ElapsedMs));
    }

    public void Dispose() => _http.Dispose();

    private async Task<(PatroniObservation?, IReadOnlyList<SensorStatus>)> ObservePatroniAsync(PgCluster cluster, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Patroni))
        {
            return (null, [Disabled(SensorNames.Patroni)]);
        }

        var sensor = new PatroniSensor(_http, _secrets, _time, _settings.TimeoutFor(SensorNames.Patroni))
        {
            ApiUrlOf = _overrides.PatroniUrl ?? (m => m.PatroniUrl),
            TimeoutOf = m => DeadlineFor(SensorNames.Patroni, cluster, m),
        };
        var (observation, health) = await sensor.ObserveAsync(cluster, ct).ConfigureAwait(false);
        return (observation, health);
    }

    private async Task<(MetricsObservation?, IReadOnlyList<SensorStatus>)> ObserveMetricsAsync(PgCluster cluster, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Metrics))
        {
            return (null, [Disabled(SensorNames.Metrics)]);
        }

        using var client = _metricsUrl is null ? null : _http.CreateClient(_metricsUrl);
        var sensor = new MetricsSensor(client is null ? null : new PrometheusClient(client), _time, _settings.TimeoutFor(SensorNames.Metrics))
        {
            MemberPaths = _settings.Ssh.Paths,
        };
        var (observation, health) = await sensor.ObserveAsync(cluster, ct).ConfigureAwait(false);
        return (observation, [health]);
    }

    private async Task<(LogsObservation?, IReadOnlyList<SensorStatus>)> ObserveLogsAsync(PgCluster cluster, DateTimeOffset now, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Logs))
        {
            return (null, [Disabled(SensorNames.Logs)]);
        }

        var since = now - TimeSpan.FromMinutes(Math.Max(0.1, _settings.LogsWindowMinutes));
        var limit = Math.Max(1, _settings.LogsMaxEntries);
        var query = new LogQuery { Cluster = cluster.Name, Since = since, Until = now, Limit = limit * 4 };
        var (result, health) = await QueryLogsAsync(cluster, query, ct).ConfigureAwait(false);
        if (result is null)
        {
            return (null, [health]);
        }

        // Keep the worst first when cutting: warnings and errors outrank routine INFO lines.
        var kept = result.Entries
            .OrderByDescending(e => e.Severity >= LogSeverity.Warning)
            .ThenByDescending(e => e.Time)
            .Take(limit)
            .OrderByDescending(e => e.Time)
            .ToList();
        var observation = new LogsObservation
        {
            Backend = health.Target ?? "",
            Since = since,
            Until = now,
            Entries = kept,
            Truncated = result.Truncated || kept.Count < result.Entries.Count,
            CountsBySeverity = result.Entries.GroupBy(e => e.Severity.ToString().ToLowerInvariant())
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            Warnings = result.Warnings,
        };
        return (observation, [health]);
    }

    private async Task<(BackupObservation?, IReadOnlyList<SensorStatus>)> ObserveBackupAsync(PgCluster cluster, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Backup))
        {
            return (null, [Disabled(SensorNames.Backup)]);
        }

        var sensor = new BackupSensor(_settings.Pgbackrest, _local, _ssh, _time, _settings.TimeoutFor(SensorNames.Backup));
        var (observation, health) = await sensor.ObserveAsync(cluster, ct).ConfigureAwait(false);
        return (observation, [health]);
    }

    private async Task<(IReadOnlyList<PostgresMemberObservation>?, IReadOnlyList<SensorStatus>)> ObservePostgresAsync(PgCluster cluster, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Postgres))
        {
            return (null, [Disabled(SensorNames.Postgres)]);
        }

        var sensor = new PostgresSensor(_secrets, _settings.Postgres, _time, _settings.TimeoutFor(SensorNames.Postgres))
        {
            AddressOf = _overrides.PostgresAddress ?? (m => (m.Ip, m.Ports.Postgres)),
            TimeoutOf = m => DeadlineFor(SensorNames.Postgres, cluster, m),
        };
        var results = await Task.WhenAll(cluster.Members.Select(m => sensor.ObserveAsync(cluster, m, ct))).ConfigureAwait(false);
        var advise = !_settings.Postgres.Skip.Contains(IndexAdvice.ProbeName, StringComparer.Ordinal);
        var observations = results.Select((r, i) => advise ? _advisor.Attach(cluster, cluster.Members[i], r.Observation) : r.Observation).ToList();
        return (observations, results.Select(r => r.Health).ToList());
    }

    private async Task<(IReadOnlyList<HostObservation>?, IReadOnlyList<SensorStatus>)> ObserveHostsAsync(
        PgCluster cluster, Task<(MetricsObservation?, IReadOnlyList<SensorStatus>)> metricsTask, CancellationToken ct)
    {
        if (!_settings.IsEnabled(SensorNames.Host))
        {
            return (null, [Disabled(SensorNames.Host)]);
        }

        // The host sensor fills in what node_exporter does not say; wait for metrics to know which members need it.
        var (metrics, _) = await metricsTask.ConfigureAwait(false);
        var needed = cluster.Members.Where(m => new[] { "fs_free_ratio", "mem_usage", "load1" }
            .Any(n => metrics?.Find(n)?.Values.ContainsKey(m.Name) != true)).ToList();
        if (needed.Count == 0)
        {
            return ([], [new SensorStatus(SensorNames.Host, null, SensorHealth.Ok, "not needed: node_exporter series cover every member", 0)]);
        }

        var sensor = new HostSensor(_ssh, _settings.Ssh, _time, _settings.TimeoutFor(SensorNames.Host));
        var results = await Task.WhenAll(needed.Select(m => sensor.ObserveAsync(m, ct))).ConfigureAwait(false);
        return (results.Select(r => r.Observation).OfType<HostObservation>().ToList(), results.Select(r => r.Health).ToList());
    }

    private ILogSource? CreateLogSource(PgCluster cluster, out string? why)
    {
        why = null;
        switch (_logsKind)
        {
            case LogsKind.Files:
                return new FileLogSource(_settings.LogFiles, cluster, _overrides.FileAccess ?? FileAccessFor);
            case LogsKind.Loki when _logsUrl is not null:
                return new LokiLogSource(_http.CreateClient(_logsUrl));
            case LogsKind.VictoriaLogs when _logsUrl is not null:
                return new VictoriaLogsLogSource(_http.CreateClient(_logsUrl));
            default:
                why = $"no logs endpoint for {_logsKind}: set endpoints.logs_url or endpoints.logs_kind: files";
                return null;
        }
    }

    private IFileAccess FileAccessFor(PgMember member, MemberLogFiles files)
    {
        var host = files.SshHost;
        if (host is null && !_settings.LogFiles.ContainsKey(member.Name) && !IsLoopback(member.Ip))
        {
            host = member.Ip; // Pigsty defaults on a remote member: read them over SSH
        }

        return host is null ? LocalFileAccess.Instance : new SshFileAccess(_ssh, host);
    }

    private static bool IsLoopback(string ip) => System.Net.IPAddress.TryParse(ip, out var a) && System.Net.IPAddress.IsLoopback(a);

    private static SensorStatus Disabled(string sensor) => new(sensor, null, SensorHealth.Unknown, $"disabled in settings (sensing.disabled: [{sensor}])", 0);

    private static SensorStatus Aggregate(string sensor, IReadOnlyList<SensorStatus> parts)
    {
        if (parts.Count == 1 && (parts[0].Target is null || sensor is SensorNames.Metrics or SensorNames.Logs or SensorNames.Backup))
        {
            return parts[0] with { Target = null };
        }

        var health = SensorStatus.Combine(parts.Select(p => p.Health));
        var reasons = parts.Where(p => p.Reason is not null).Select(p => p.Target is null ? p.Reason! : $"{p.Target}: {p.Reason}").ToList();
        return new SensorStatus(sensor, null, health, reasons.Count == 0 ? null : string.Join("; ", reasons), parts.Count == 0 ? 0 : parts.Max(p => p.ElapsedMs));
    }

    /// <summary>Turns a bug inside a sensor into an unknown health entry, so a snapshot is always produced.</summary>
    /// <summary>How long a slow sensor is awaited once the leadership sensors (Patroni, PostgreSQL) have answered.</summary>
    private static readonly TimeSpan SlowSensorGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>Per cluster and sensor: the call in flight and the last result (<see cref="BehindAsync{T}"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> _slow = new(StringComparer.Ordinal);

    private sealed class SlowSensor<T>
    {
        public Task<T>? InFlight { get; set; }
        public (T Value, DateTimeOffset StartedAt)? Last { get; set; }
    }

    /// <summary>
    /// A slow, slowly changing sensor (pgBackRest's info, log files) never holds a snapshot back: it is awaited until
    /// the leadership sensors have answered and <see cref="SlowSensorGrace"/> more; a call still running then is left
    /// to finish in the background (the next snapshot takes its result, and starts no second call meanwhile), and this
    /// snapshot carries the last result, its reason saying how old it is. Measured in the lab on a host with load 20:
    /// `pgbackrest info` took 3.4-4.7 s and every snapshot of a failing cluster waited for it, delaying a fence.
    /// The first snapshot (one-shot CLI commands) waits: there is nothing older to show.
    /// </summary>
    private async Task<(T?, IReadOnlyList<SensorStatus>)> BehindAsync<T>(string key, Func<Task<(T?, IReadOnlyList<SensorStatus>)>> start, Task leadership,
        CancellationToken cancellationToken)
    {
        var slot = (SlowSensor<(T?, IReadOnlyList<SensorStatus>)>)_slow.GetOrAdd(key, _ => new SlowSensor<(T?, IReadOnlyList<SensorStatus>)>());
        Task<(T?, IReadOnlyList<SensorStatus>)> call;
        lock (slot)
        {
            if (slot.InFlight is { } running)
            {
                call = running;
            }
            else
            {
                var startedAt = _time.GetUtcNow();
                call = start();
                slot.InFlight = call;
                _ = call.ContinueWith(t =>
                {
                    lock (slot)
                    {
                        if (t.IsCompletedSuccessfully)
                        {
                            slot.Last = (t.Result, startedAt);
                        }

                        slot.InFlight = null;
                    }
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        if (!call.IsCompleted)
        {
            await Task.WhenAny(call, leadership).ConfigureAwait(false);
            if (!call.IsCompleted)
            {
                await Task.WhenAny(call, Task.Delay(SlowSensorGrace, _time, cancellationToken)).ConfigureAwait(false);
            }
        }

        if (!call.IsCompleted)
        {
            ((T?, IReadOnlyList<SensorStatus>) Value, DateTimeOffset StartedAt)? last;
            lock (slot)
            {
                last = slot.Last;
            }

            if (last is { } previous)
            {
                var age = (_time.GetUtcNow() - previous.StartedAt).TotalSeconds;
                var note = string.Create(CultureInfo.InvariantCulture, $"the result of {age:0.#} s ago: this snapshot's call is still running");
                return (previous.Value.Item1, previous.Value.Item2.Select(h => h with { Reason = h.Reason is null ? note : $"{h.Reason}; {note}" }).ToList());
            }
        }

        return await call.ConfigureAwait(false);
    }

    private async Task<(T?, IReadOnlyList<SensorStatus>)> Guard<T>(string sensor, string? target, string cluster, Task<(T?, IReadOnlyList<SensorStatus>)> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var error = LogRedaction.Exception(ex, _secrets);
            Log.SensorCrashed(_logger, sensor, cluster, ex.GetType().Name, error);
            return (default, [new SensorStatus(sensor, target, SensorHealth.Unknown, $"internal error in the {sensor} sensor: {ex.GetType().Name}: {error}", 0)]);
        }
    }
}
