namespace PgRuntimeAgent.Sensing.Metrics;

/// <summary>One way to get a reading: a PromQL template and which exporter's names it relies on.</summary>
/// <param name="Source">pigsty (pg_exporter / recording rules), postgres_exporter (prometheus-postgres-exporter 0.11,
/// Debian), patroni (Patroni's /metrics), node_exporter (by ins label), node_exporter_by_instance (by instance address).</param>
/// <param name="Template">PromQL with placeholders {cls} (cluster name), {members} (regex of member names) and
/// {node_instances} (regex of "ip:node_exporter_port").</param>
public sealed record MetricExpression(string Source, string Template);

/// <summary>How the series of a reading become one value per member.</summary>
public enum MetricMapping
{
    /// <summary>One series per member, found by its ins label or its instance / ip address.</summary>
    PerMember,

    /// <summary>
    /// One series per filesystem of each node (label <c>mountpoint</c>): the member's value is the lowest free ratio of
    /// the filesystems holding its own data and WAL paths (see <see cref="MetricsSensor.MapFilesystemsToMembers"/>).
    /// </summary>
    MemberFilesystems,
}

/// <summary>A named reading the agent uses, with its candidates in order: the first that returns series wins.</summary>
public sealed record MetricQuery(string Name, string Unit, string Description, IReadOnlyList<MetricExpression> Candidates,
    MetricMapping Mapping = MetricMapping.PerMember);

/// <summary>
/// The metric queries a snapshot runs, written against Pigsty's names (pg_exporter, recording rules, labels cls/ins)
/// with fallbacks for prometheus-postgres-exporter 0.11 (the Debian package: pg_stat_database_*, pg_settings_*,
/// pg_stat_activity_*, pg_stat_archiver_*, pg_replication_lag) and for Patroni's and node_exporter's own series.
/// </summary>
public static class MetricsCatalogue
{
    private const string RealFs = "fstype!~\"tmpfs|overlay|squashfs|ramfs|devtmpfs|nsfs|autofs\"";

    public static IReadOnlyList<MetricQuery> All { get; } =
    [
        new("pg_up", "bool", "PostgreSQL answers its exporter (1) or not (0).",
        [
            new("pigsty", "pg_up{cls=\"{cls}\"}"),
            new("patroni", "patroni_postgres_running{cls=\"{cls}\"}"),
        ]),
        new("pg_in_recovery", "bool", "1 on a replica (in recovery), 0 on the primary.",
        [
            new("pigsty", "pg_in_recovery{cls=\"{cls}\"}"),
            new("postgres_exporter", "pg_replication_is_replica{cls=\"{cls}\"}"),
            new("patroni", "patroni_replica{cls=\"{cls}\"}"),
        ]),
        new("lag_seconds", "seconds", "Replication replay lag of each replica, in seconds.",
        [
            new("pigsty", "pg:ins:lag_seconds{cls=\"{cls}\"}"),
            new("pigsty", "pg_lag{cls=\"{cls}\"}"),
            new("postgres_exporter", "pg_replication_lag{cls=\"{cls}\"}"),
        ]),
        new("lag_bytes", "bytes", "Replication lag of each replica behind the primary's WAL position, in bytes.",
        [
            new("pigsty", "pg:ins:lag_bytes{cls=\"{cls}\"}"),
            new("patroni", "(scalar(max(patroni_xlog_location{cls=\"{cls}\"})) - patroni_xlog_replayed_location{cls=\"{cls}\"}) and on(ins) (patroni_replica{cls=\"{cls}\"} == 1)"),
        ]),
        new("connections", "count", "Backends connected (all databases).",
        [
            new("pigsty", "sum by (cls, ins) (pg_db_numbackends{cls=\"{cls}\"})"),
            new("postgres_exporter", "sum by (cls, ins) (pg_stat_database_numbackends{cls=\"{cls}\"})"),
            new("postgres_exporter", "sum by (cls, ins) (pg_stat_activity_count{cls=\"{cls}\"})"),
        ]),
        new("max_connections", "count", "The max_connections setting.",
        [
            new("pigsty", "pg_setting_max_connections{cls=\"{cls}\"}"),
            new("postgres_exporter", "pg_settings_max_connections{cls=\"{cls}\"}"),
            new("custom_queries", "pg_max_connections{cls=\"{cls}\"}"),
        ]),
        new("tps", "per_second", "Transactions (commits + rollbacks) per second over the last minute.",
        [
            new("pigsty", "pg:ins:xacts{cls=\"{cls}\"}"),
            new("pigsty", "sum by (cls, ins) (rate(pg_db_xact_commit{cls=\"{cls}\"}[1m]) + rate(pg_db_xact_rollback{cls=\"{cls}\"}[1m]))"),
            new("postgres_exporter", "sum by (cls, ins) (rate(pg_stat_database_xact_commit{cls=\"{cls}\"}[1m]) + rate(pg_stat_database_xact_rollback{cls=\"{cls}\"}[1m]))"),
        ]),
        new("xact_age_seconds", "seconds", "Age of the oldest open transaction.",
        [
            new("pigsty", "max by (cls, ins) (pg_activity_max_tx_duration{cls=\"{cls}\"})"),
            new("postgres_exporter", "max by (cls, ins) (pg_stat_activity_max_tx_duration{cls=\"{cls}\"})"),
            new("custom_queries", "max by (cls, ins) (pg_xact_max_duration{cls=\"{cls}\"})"),
        ]),
        new("xid_age", "xids", "Oldest datfrozenxid age across databases (wraparound distance).",
        [
            new("pigsty", "max by (cls, ins) (pg_db_age{cls=\"{cls}\"})"),
        ]),
        new("archiver_failures_15m", "count", "Failed WAL archive attempts in the last 15 minutes.",
        [
            new("pigsty", "increase(pg_archiver_failed_count{cls=\"{cls}\"}[15m])"),
            new("postgres_exporter", "increase(pg_stat_archiver_failed_count{cls=\"{cls}\"}[15m])"),
        ]),
        // Per mount, not min by node: on a machine that runs several members (the loopback lab) every node_exporter
        // reports every member's mounts, so a node's lowest ratio may be another member's full WAL disk.
        new("fs_free_ratio", "ratio", "Free-space ratio of the filesystem holding the member's data or WAL directory (the lower of the two).",
        [
            new("node_exporter", $"node_filesystem_avail_bytes{{ins=~\"{{members}}\",{RealFs}}} / node_filesystem_size_bytes{{ins=~\"{{members}}\",{RealFs}}}"),
            new("node_exporter_by_instance", $"node_filesystem_avail_bytes{{instance=~\"{{node_instances}}\",{RealFs}}} / node_filesystem_size_bytes{{instance=~\"{{node_instances}}\",{RealFs}}}"),
        ], MetricMapping.MemberFilesystems),
        new("cpu_usage", "ratio", "CPU busy ratio over the last minute.",
        [
            new("pigsty", "node:ins:cpu_usage{ins=~\"{members}\"}"),
            new("node_exporter", "1 - avg by (ins) (rate(node_cpu_seconds_total{mode=\"idle\",ins=~\"{members}\"}[1m]))"),
            new("node_exporter_by_instance", "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\",instance=~\"{node_instances}\"}[1m]))"),
        ]),
        new("mem_usage", "ratio", "Memory in use (1 - MemAvailable / MemTotal).",
        [
            new("pigsty", "node:ins:mem_usage{ins=~\"{members}\"}"),
            new("node_exporter", "1 - node_memory_MemAvailable_bytes{ins=~\"{members}\"} / node_memory_MemTotal_bytes{ins=~\"{members}\"}"),
            new("node_exporter_by_instance", "1 - node_memory_MemAvailable_bytes{instance=~\"{node_instances}\"} / node_memory_MemTotal_bytes{instance=~\"{node_instances}\"}"),
        ]),
        new("load1", "load", "1-minute load average.",
        [
            new("node_exporter", "node_load1{ins=~\"{members}\"}"),
            new("node_exporter_by_instance", "node_load1{instance=~\"{node_instances}\"}"),
        ]),
    ];

    public static MetricQuery? Find(string name) => All.FirstOrDefault(q => string.Equals(q.Name, name, StringComparison.Ordinal));
}
