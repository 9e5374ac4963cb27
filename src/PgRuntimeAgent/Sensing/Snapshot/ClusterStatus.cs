using PgRuntimeAgent.Sensing.Patroni;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary><c>pgra status --json</c>: one entry per cluster (snake_case, like the snapshot).</summary>
internal sealed record StatusDocument(int SchemaVersion, DateTimeOffset TakenAt, string Inventory, IReadOnlyList<ClusterStatus> Clusters);

/// <summary>One cluster at a glance.</summary>
internal sealed record ClusterStatus(
    string Cluster,
    string? Leader,
    string? DeclaredPrimary,
    long? Timeline,
    IReadOnlyList<MemberStatus> Members,
    double? BackupAgeSeconds,
    string? LastBackup,
    IReadOnlyList<string> FiringAlerts,
    IReadOnlyDictionary<string, SensorHealth> Sensors,
    IReadOnlyList<SensorStatus> SensorProblems,
    IReadOnlyList<DriftItem> Drift,
    double DurationMs);

/// <summary>One member at a glance: declared and live role, state, lag.</summary>
internal sealed record MemberStatus(
    string Name,
    string? DeclaredRole,
    string Role,
    string? State,
    bool Reachable,
    bool? PostgresRunning,
    long? Timeline,
    long? LagBytes,
    double? LagSeconds,
    bool? Streaming,
    bool? PendingRestart);

/// <summary>A snapshot at a glance (<c>pgra status</c>, the API's <c>/api/v1/clusters</c>): live roles, lag, timeline, backup age, alerts, sensor health, drift.</summary>
internal static class ClusterStatuses
{
    public static ClusterStatus Of(ClusterSnapshot s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var last = s.Backup is { } b ? new[] { b.LastFull, b.LastDiff, b.LastIncr }.OfType<Backup.BackupSummary>().MaxBy(x => x.StoppedAt) : null;
        return new ClusterStatus(
            s.Cluster,
            s.Leader,
            s.Inventory.DeclaredPrimary,
            s.Timeline,
            s.Members.Select(m => new MemberStatus(
                m.Name,
                m.DeclaredRole?.ToString().ToLowerInvariant(),
                RoleText(m),
                m.PatroniState,
                m.Reachable,
                m.PostgresRunning,
                m.Timeline,
                m.LagBytes,
                m.LagSeconds,
                m.Streaming,
                m.PendingRestart)).ToList(),
            s.Backup?.LastBackupAgeSeconds,
            last?.Label,
            s.Metrics?.Alerts.Where(a => a.State == "firing").Select(a => a.Name).Distinct(StringComparer.Ordinal).ToList() ?? [],
            s.Sensors.ToDictionary(x => x.Sensor, x => x.Health, StringComparer.Ordinal),
            s.Sensors.Where(x => x.Health != SensorHealth.Ok).ToList(),
            s.Drift,
            s.DurationMs);
    }

    private static string RoleText(MemberState m) => m.PatroniRole switch
    {
        PatroniRole.Leader => "leader",
        PatroniRole.Replica => "replica",
        PatroniRole.SyncStandby => "sync_standby",
        PatroniRole.QuorumStandby => "quorum_standby",
        PatroniRole.StandbyLeader => "standby_leader",
        PatroniRole.Uninitialized => "uninitialized",
        _ => "unknown",
    };
}
