using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>replication-broken</c>: with a writable leader whose replication the sensors can see, a replica is not streaming
/// from it (absent from pg_stat_replication, Patroni state stopped/crashed, or on another timeline).
/// </summary>
public sealed class ReplicationBrokenDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.ReplicationBroken,
        Order = 60,
        Severity = FindingSeverity.Warning,
        Summary = "A replica is not streaming from the leader (no WAL receiver, stopped, wrong timeline).",
        Explanation = "A replica stopped replicating from the leader.",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 10,
        RootCauseRank = 90,
    };

    private static readonly HashSet<string> Up = new(StringComparer.Ordinal) { "running", "streaming" };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null)
        {
            yield break;
        }

        foreach (var replica in input.Current.Members.Where(m => m.Name != leader).Select(m => m.Name))
        {
            var run = Persistence.Held(input, s => Symptom(s, replica), input.Settings.PersistenceOf(Code));
            if (run is not null)
            {
                yield return Persistence.ToFinding(input, run, Code, Described.Severity, [replica],
                    $"{replica} does not replicate from leader {leader}: {run[^1].Evidence[^1].Observation}");
            }
        }
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string replica)
    {
        var leader = s.Leader;
        var m = s.FindMember(replica);
        if (leader is null || m is null || replica == leader || !LeaderWritable(s))
        {
            return null;
        }

        var leaderTimeline = s.FindMember(leader)?.Timeline ?? s.Timeline;
        string? why = null;
        if (m.PatroniState is { } state && !Up.Contains(state))
        {
            why = $"Patroni state '{state}'";
        }
        else if (!m.Reachable && m.PostgresReachable != true)
        {
            why = "neither its Patroni API nor PostgreSQL answers";
        }
        else if (m.Timeline is { } tl && leaderTimeline is { } ltl && tl != ltl)
        {
            why = string.Create(CultureInfo.InvariantCulture, $"on timeline {tl}, the leader is on {ltl}");
        }
        else if (m.Streaming == false)
        {
            why = $"not in the leader's pg_stat_replication (no WAL stream)";
        }

        return why is null ? null : [new FindingEvidence(s.TakenAt, m.Streaming == false ? "postgres" : "patroni", replica, $"{replica}: {why}")];
    }
}

/// <summary>
/// <c>replication-lag</c>: a replica's lag is past the limit (bytes: threshold <c>lag_bytes</c>, else Patroni's
/// maximum_lag_on_failover, else pg_rpo; seconds: threshold <c>lag_seconds</c>) for a while, or its replay stalled:
/// its receive position moves while its replay position stands still, behind it, for <c>lag_seconds</c> (fires even
/// while the byte lag is under the limit; the summary then says "replay stalled on ...").
/// </summary>
public sealed class ReplicationLagDetector : IDetector
{
    /// <summary>Lag limit in bytes; unset: Patroni's maximum_lag_on_failover, else pg_rpo. Older key: <c>detection.replication_lag_bytes</c>.</summary>
    private static readonly ParameterSpec LagBytes = new("lag_bytes", ParameterType.Integer,
        "Lag limit in bytes; unset: Patroni's maximum_lag_on_failover, else the inventory's pg_rpo.") { Minimum = 0, Unit = "bytes" };

    /// <summary>Replay lag limit; also how long a replay stall must last. Older key: <c>detection.replication_lag_seconds</c>.</summary>
    private static readonly ParameterSpec LagSeconds = new("lag_seconds", ParameterType.Number,
        "Replay lag limit in seconds; also how long a replay stall must last.") { Default = "60", Minimum = 0, Unit = "seconds" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.ReplicationLag,
        Order = 70,
        Severity = FindingSeverity.Warning,
        Summary = "A replica lags past the limit (bytes or seconds), or its replay stalled while WAL keeps arriving.",
        Explanation = "A replica fell behind the leader past the lag limit (it could not be a failover candidate within the RPO).",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 10,
        RootCauseRank = 100,
        Thresholds = [LagBytes, LagSeconds],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public static long LimitBytes(ClusterSnapshot s, DetectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(settings);
        return (settings.Threshold(FindingCodes.ReplicationLag, LagBytes.Name) is { } bytes ? (long?)(long)bytes : null)
            ?? s.Patroni?.Config?.MaximumLagOnFailoverBytes ?? s.Inventory.MaximumLagOnFailoverBytes;
    }

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null)
        {
            yield break;
        }

        var settings = input.Settings;
        var held = settings.PersistenceOf(Code);
        var lagSeconds = settings.Threshold(Code, LagSeconds);
        foreach (var replica in input.Current.Members.Where(m => m.Name != leader).Select(m => m.Name))
        {
            var run = Persistence.Held(input, s => Symptom(s, replica, settings), held);
            var stall = ReplayStall.Find(input, replica, Math.Max(2, held.Consecutive));
            var stallHeld = stall is not null && stall.Seconds >= lagSeconds;
            if (run is null && !stallHeld)
            {
                continue;
            }

            var basis = run ?? stall!.Run;
            var first = basis[0].Snapshot.FindMember(replica)?.LagBytes;
            var last = input.Current.FindMember(replica);
            var trend = first is { } a && last?.LagBytes is { } b ? (b > a ? ", rising" : b < a ? ", falling" : ", steady") : "";
            var lag = $"{replica} lags {Describe(last)} behind {leader} (limit {Bytes(LimitBytes(input.Current, settings))} / "
                + string.Create(CultureInfo.InvariantCulture, $"{lagSeconds:0.#} s){trend}");
            yield return Persistence.ToFinding(input, stall is null ? basis : Merge(stall.Run, run), Code, Described.Severity, [replica],
                stall is null ? lag : $"{stall.Describe(replica)}; {lag}");
        }
    }

    private static string Describe(MemberState? m) =>
        m is null ? "?" : string.Join(", ", new[]
        {
            m.LagBytes is { } b ? Bytes(b) : null,
            m.LagSeconds is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s:0.#} s") : null,
        }.OfType<string>().DefaultIfEmpty("an unknown amount"));

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string replica, DetectionSettings settings)
    {
        var m = s.FindMember(replica);
        if (s.Leader is null || m is null || replica == s.Leader)
        {
            return null;
        }

        var limit = LimitBytes(s, settings);
        var overBytes = m.LagBytes is { } b && b > limit;
        var overSeconds = m.LagSeconds is { } sec && sec > settings.Threshold(FindingCodes.ReplicationLag, LagSeconds);
        if (!overBytes && !overSeconds)
        {
            return null;
        }

        return [new FindingEvidence(s.TakenAt, "patroni", replica, $"{replica} lag {Describe(m)} (limit {Bytes(limit)})")];
    }

    /// <summary>Both runs' observations, one per snapshot, oldest first.</summary>
    private static IReadOnlyList<SymptomObservation> Merge(IReadOnlyList<SymptomObservation> a, IReadOnlyList<SymptomObservation>? b) =>
        b is null ? a
            : a.Concat(b).GroupBy(o => o.Snapshot, ReferenceEqualityComparer.Instance)
                .Select(g => new SymptomObservation(g.First().Snapshot, g.SelectMany(o => o.Evidence).ToList()))
                .OrderBy(o => o.Snapshot.TakenAt)
                .ToList();

    /// <summary>
    /// A replay that stands still while WAL keeps arriving: on consecutive snapshots ending with the current one the
    /// replica's replay position is the same and behind its receive position, and the receive position moved.
    /// </summary>
    /// <param name="Run">The snapshots of the stall, oldest first, with what each showed.</param>
    /// <param name="AtLeast">The stall goes back to the oldest snapshot kept: it may be older.</param>
    private sealed record ReplayStall(long Receive, long Replay, double Seconds, bool AtLeast, bool? Paused, IReadOnlyList<SymptomObservation> Run)
    {
        public string Describe(string replica) =>
            $"replay stalled on {replica}: receiving up to {Lsn.Format(Receive)}, replay stuck at {Lsn.Format(Replay)} for "
            + string.Create(CultureInfo.InvariantCulture, $"{(AtLeast ? "at least " : "")}{Seconds:0} s")
            + (Paused == true ? " (replay is paused: pg_is_wal_replay_paused)" : "");

        public static ReplayStall? Find(DetectionInput input, string replica, int consecutive)
        {
            if (input.Current.FindMember(replica) is not { } now || Lsn.Parse(now.ReplayLsn) is not { } stuck)
            {
                return null;
            }

            var run = new List<(ClusterSnapshot Snapshot, long Receive)>();
            foreach (var s in input.NewestFirst())
            {
                var m = s.FindMember(replica);
                if (m is null || string.Equals(s.Leader, replica, StringComparison.Ordinal) || Lsn.Parse(m.ReplayLsn) != stuck
                    || Lsn.Parse(m.ReceiveLsn) is not { } received || received <= stuck)
                {
                    break;
                }

                run.Add((s, received));
            }

            // Newest first: the receive position must have moved on while replay did not.
            if (run.Count < consecutive || run[0].Receive <= run[^1].Receive)
            {
                return null;
            }

            run.Reverse();
            var observations = run.Select(r => new SymptomObservation(r.Snapshot,
            [
                new FindingEvidence(r.Snapshot.TakenAt, "snapshot", replica, string.Create(CultureInfo.InvariantCulture,
                    $"{replica} received up to {Lsn.Format(r.Receive)}, replayed up to {Lsn.Format(stuck)} ({Bytes(r.Receive - stuck)} received, not replayed)")),
            ])).ToList();
            var paused = input.Current.Patroni?.Members.FirstOrDefault(v => v.Member == replica)?.Node?.ReplayPaused;
            return new ReplayStall(run[^1].Receive, stuck, (input.Current.TakenAt - run[0].Snapshot.TakenAt).TotalSeconds,
                AtLeast: run.Count == input.History.Count + 1, paused, observations);
        }
    }
}

/// <summary>
/// <c>archive-failing</c>: on the leader, pg_stat_archiver's last failure is newer than its last success, or its
/// failure counter grows, or metrics count archiver failures in the last 15 minutes.
/// </summary>
public sealed class ArchiveFailingDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.ArchiveFailing,
        Order = 80,
        Severity = FindingSeverity.Warning,
        Summary = "WAL archiving fails on the leader (pg_stat_archiver failures, archive_command errors in the logs).",
        Explanation = "WAL archiving failed: point-in-time recovery is at risk and WAL piles up on the primary.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 110,
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var leader = input.Current.Leader;
        if (leader is null)
        {
            yield break;
        }

        ClusterSnapshot? previous = null;
        var previousBySnapshot = new Dictionary<ClusterSnapshot, ClusterSnapshot?>(ReferenceEqualityComparer.Instance);
        foreach (var s in input.History.Append(input.Current))
        {
            previousBySnapshot[s] = previous;
            previous = s;
        }

        var run = Persistence.Held(input, s => Symptom(s, previousBySnapshot.GetValueOrDefault(s), leader),
            input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        var row = Archiver(input.Current, leader);
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, [leader],
            $"WAL archiving fails on {leader}" + (row?.GetValueOrDefault("last_failed_wal") is { } wal ? $" (last failed segment {wal})" : ""));
    }

    private static IReadOnlyDictionary<string, string?>? Archiver(ClusterSnapshot s, string member) =>
        s.Postgres.FirstOrDefault(p => p.Member == member)?.Probe("archiver") is { Status: "ok", Rows.Count: > 0 } probe ? probe.Rows[0] : null;

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, ClusterSnapshot? previous, string leader)
    {
        if (!string.Equals(s.Leader, leader, StringComparison.Ordinal))
        {
            return null;
        }

        var evidence = new List<FindingEvidence>();
        var row = Archiver(s, leader);
        var failedAge = Number(row, "last_failed_age_seconds");
        var archivedAge = Number(row, "last_archived_age_seconds");
        if (failedAge is { } fa && (archivedAge is null || fa < archivedAge))
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", leader, string.Create(CultureInfo.InvariantCulture,
                $"pg_stat_archiver: last failure {fa:0} s ago ({row!.GetValueOrDefault("last_failed_wal")}), last success {(archivedAge is { } aa ? $"{aa:0} s ago" : "never")}, failed_count {row!.GetValueOrDefault("failed_count")}")));
        }

        var count = s.Postgres.FirstOrDefault(p => p.Member == leader)?.ArchiverFailedCount;
        var before = previous?.Postgres.FirstOrDefault(p => p.Member == leader)?.ArchiverFailedCount;
        if (count is { } c && before is { } b && c > b && evidence.Count == 0)
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "postgres", leader, string.Create(CultureInfo.InvariantCulture, $"pg_stat_archiver.failed_count rose from {b} to {c}")));
        }

        if (evidence.Count == 0 && s.Metrics?.Find("archiver_failures_15m")?.NumberFor(leader) is { } m && m > 0 && row is null)
        {
            evidence.Add(new FindingEvidence(s.TakenAt, "metrics", leader, string.Create(CultureInfo.InvariantCulture, $"{m:0} archiver failures in the last 15 minutes")));
        }

        if (evidence.Count == 0)
        {
            return null;
        }

        foreach (var e in Logs(s, leader, s.TakenAt.AddMinutes(-5)).Where(e => e.Message.Contains("archive command failed", StringComparison.OrdinalIgnoreCase)).TakeLast(1))
        {
            evidence.Add(new FindingEvidence(e.Time, "logs", leader, Short(e.Message)));
        }

        return evidence;
    }
}

/// <summary>
/// <c>backup-stale</c>: the newest good backup is older than the schedule allows. With a pg_crontab (or node_crontab)
/// backup schedule in the inventory: no backup finished after the last scheduled start that is more than threshold
/// <c>grace_minutes</c> old. Without one: older than threshold <c>max_age_hours</c>.
/// No backup at all is stale too. Nothing is said while the backup sensor cannot see.
/// </summary>
public sealed class BackupStaleDetector : IDetector
{
    /// <summary>Newest backup allowed age without a backup schedule. Older key: <c>detection.backup_max_age_hours</c>.</summary>
    private static readonly ParameterSpec MaxAge = new("max_age_hours", ParameterType.Number,
        "Newest backup allowed age when the inventory has no backup schedule (hours).") { Default = "26", Minimum = 0, Unit = "hours" };

    /// <summary>A scheduled backup counts as missed this long after its start. Older key: <c>detection.backup_grace_minutes</c>.</summary>
    private static readonly ParameterSpec Grace = new("grace_minutes", ParameterType.Number,
        "A scheduled backup counts as missed this long after its start time (minutes).") { Default = "120", Minimum = 0, Unit = "minutes" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.BackupStale,
        Order = 90,
        Severity = FindingSeverity.Warning,
        Summary = "The newest backup is older than the backup schedule allows (or there is none).",
        Explanation = "No backup was taken when the schedule said one should be.",
        ConsecutiveSnapshots = 1,
        MinimumSeconds = 0,
        RootCauseRank = 120,
        PersistenceSettable = false,
        Thresholds = [MaxAge, Grace],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var s = input.Current;
        if (s.Backup is not { } backup || s.HealthOf(SensorNames.Backup) == SensorHealth.Unknown || backup.BackupRunning)
        {
            yield break;
        }

        var stanza = backup.Stanza;
        DateTimeOffset? lastEnd = backup.LastBackupAgeSeconds is { } age ? s.TakenAt.AddSeconds(-age) : null;
        var schedule = input.Context.BackupSchedule;
        var maxAgeHours = input.Settings.Threshold(Code, MaxAge);
        string? why = null;
        string allowed;
        if (!schedule.IsEmpty && schedule.LastDue(s.TakenAt.AddMinutes(-input.Settings.Threshold(Code, Grace))) is { } due)
        {
            allowed = $"a backup after every scheduled start ({schedule.Describe()})";
            if (lastEnd is null || lastEnd < due.At)
            {
                why = $"the {due.Entry.Type} backup scheduled at {FindingJson.Time(due.At)} by '{due.Entry.Cron}' ({due.Entry.Origin}) did not produce a backup";
            }
        }
        else
        {
            allowed = string.Create(CultureInfo.InvariantCulture, $"at most {maxAgeHours:0.#} h old (detection.backup_max_age_hours; {schedule.Describe()})");
            if (lastEnd is null || (s.TakenAt - lastEnd.Value).TotalHours > maxAgeHours)
            {
                why = "the newest backup is older than allowed";
            }
        }

        if (why is null)
        {
            yield break;
        }

        var newest = lastEnd is { } end
            ? string.Create(CultureInfo.InvariantCulture, $"newest good backup finished {FindingJson.Time(end)} ({(s.TakenAt - end).TotalHours:0.#} h ago, {backup.LastFull?.Label ?? "no full"})")
            : $"no good backup in stanza {stanza} (pgBackRest status {backup.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "?"}: {backup.StatusMessage ?? "?"})";
        yield return new Finding
        {
            Code = Code,
            Severity = Described.Severity,
            Cluster = s.Cluster,
            Subject = "cluster",
            Summary = $"backup of {s.Cluster} is stale: {why}",
            Evidence =
            [
                new FindingEvidence(s.TakenAt, "backup", null, newest),
                new FindingEvidence(s.TakenAt, "inventory", null, "allowed: " + allowed),
            ],
            FirstSeen = s.TakenAt,
            LastSeen = s.TakenAt,
        };
    }
}

/// <summary>
/// <c>inventory-drift</c>: the inventory disagrees with Patroni (pg_role primary is not the leader after a failover, a
/// member missing from the DCS or from the inventory). One finding per cluster; evidence lists every drift item.
/// </summary>
public sealed class InventoryDriftDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.InventoryDrift,
        Order = 100,
        Severity = FindingSeverity.Warning,
        Summary = "The inventory (pigsty.yml) disagrees with the live cluster (pg_role after a failover, members).",
        Explanation = "The inventory no longer describes the cluster (pg_role or members differ from Patroni).",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 140,
    };

    private static readonly HashSet<string> Codes = new(StringComparer.Ordinal)
    {
        "declared-primary-not-leader", "member-not-in-patroni", "patroni-member-not-in-inventory",
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var run = Persistence.Held(input, Symptom, input.Settings.PersistenceOf(Code));
        if (run is null)
        {
            yield break;
        }

        var items = input.Current.Drift.Where(d => Codes.Contains(d.Code)).ToList();
        var members = items.Select(d => d.Member).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        yield return Persistence.ToFinding(input, run, Code, Described.Severity, members,
            $"the inventory disagrees with Patroni: {string.Join("; ", items.Select(d => d.Message))}", subject: "cluster");
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s)
    {
        var items = s.Drift.Where(d => Codes.Contains(d.Code)).ToList();
        return items.Count == 0 ? null
            : items.Select(d => new FindingEvidence(s.TakenAt, "inventory", d.Member, $"{d.Code}: expected {d.Expected ?? "-"}, observed {d.Observed ?? "-"}")).ToList();
    }
}

/// <summary>
/// <c>sensor-blind</c>: a sensor saw nothing (health unknown) on consecutive snapshots, or Patroni's API of one member
/// does not answer. Sensors that are disabled or not configured are not blind; <c>detection.ignore_sensors</c> skips some.
/// The whole Patroni sensor blind is critical (no HA decision can be taken); anything else is a warning.
/// </summary>
public sealed class SensorBlindDetector : IDetector
{
    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCodes.SensorBlind,
        Order = 110,
        Severity = FindingSeverity.Warning,
        Summary = "A sensor cannot see (unreachable, timed out): decisions that need it must not be taken. Critical when the whole Patroni sensor is blind.",
        Explanation = "The agent could not see part of the cluster.",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 130,
        Settings =
        [
            new ParameterSpec("ignore_sensors", ParameterType.List, "Sensors whose blindness is not reported (for example host where no SSH is set up)."),
        ],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public static bool IsDeliberate(string? reason) => reason is not null
        && (reason.Contains("disabled", StringComparison.OrdinalIgnoreCase) || reason.Contains("not configured", StringComparison.OrdinalIgnoreCase)
            || reason.Contains("not needed", StringComparison.OrdinalIgnoreCase));

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var ignore = input.Settings.IgnoreSensors;
        foreach (var sensor in SensorNames.All.Where(n => !ignore.Contains(n, StringComparer.Ordinal)))
        {
            var run = Persistence.Held(input, s => Whole(s, sensor), input.Settings.PersistenceOf(Code));
            if (run is not null)
            {
                yield return Persistence.ToFinding(input, run, Code, sensor == SensorNames.Patroni ? FindingSeverity.Critical : Described.Severity, [],
                    $"the {sensor} sensor sees nothing on {input.Current.Cluster}: {run[^1].Evidence[0].Observation}", subject: sensor);
            }
        }

        if (ignore.Contains(SensorNames.Patroni, StringComparer.Ordinal) || input.Current.HealthOf(SensorNames.Patroni) == SensorHealth.Unknown)
        {
            yield break;
        }

        foreach (var member in input.Current.Members.Select(m => m.Name))
        {
            var run = Persistence.Held(input, s => Member(s, member), input.Settings.PersistenceOf(Code));
            if (run is not null)
            {
                yield return Persistence.ToFinding(input, run, Code, Described.Severity, [member],
                    $"Patroni's API of {member} does not answer: {RestError(input.Current, member)}", subject: "patroni:" + member);
            }
        }
    }

    private static IReadOnlyList<FindingEvidence>? Whole(ClusterSnapshot s, string sensor)
    {
        var status = s.Sensors.FirstOrDefault(x => x.Sensor == sensor);
        if (status is null || status.Health != SensorHealth.Unknown || IsDeliberate(status.Reason))
        {
            return null;
        }

        return [new FindingEvidence(s.TakenAt, sensor, null, $"{sensor}: {Short(status.Reason ?? "no reason given")}")];
    }

    private static IReadOnlyList<FindingEvidence>? Member(ClusterSnapshot s, string member)
    {
        if (s.HealthOf(SensorNames.Patroni) == SensorHealth.Unknown)
        {
            return null;
        }

        var view = s.Patroni?.Members.FirstOrDefault(v => v.Member == member);
        return view is { Reachable: false } ? [new FindingEvidence(s.TakenAt, "patroni", member, $"{member} REST API: {RestError(s, member)}")] : null;
    }
}
