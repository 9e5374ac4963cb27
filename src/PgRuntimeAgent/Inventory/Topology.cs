namespace PgRuntimeAgent.Inventory;

/// <summary>Which Pigsty generation an inventory follows; it decides the default metrics and logs stack.</summary>
public enum PigstyGeneration
{
    /// <summary>Pigsty 3.x: Prometheus (9058) and Loki (3100).</summary>
    V3,

    /// <summary>Pigsty 4.x: VictoriaMetrics (8428) and VictoriaLogs (9428).</summary>
    V4,
}

/// <summary>Where an effective value came from, so an operator can tell a default from a choice.</summary>
public enum ValueSource
{
    PigstyDefault,
    Inventory,
    Settings,
    Environment,
}

/// <summary>The role an instance has in the inventory (pg_role). Live roles come from Patroni.</summary>
public enum DeclaredRole
{
    Primary,
    Replica,
    Offline,
}

/// <summary>What the inventory describes: the typed topology of a Pigsty deployment.</summary>
public sealed record Topology
{
    /// <summary>Full path of the inventory file this topology was read from.</summary>
    public required string SourcePath { get; init; }

    public required PigstyGeneration Generation { get; init; }

    /// <summary>Pigsty version string from all.vars.version when present (for example v4.5.0).</summary>
    public string? Version { get; init; }

    public string? AdminIp { get; init; }

    public required IReadOnlyList<PgCluster> Clusters { get; init; }

    public required InfraEndpoints Infra { get; init; }

    public IReadOnlyList<EtcdMember> Etcd { get; init; } = [];

    /// <summary>Groups recognised but not managed (redis, mysql, minio members...).</summary>
    public IReadOnlyList<string> IgnoredGroups { get; init; } = [];

    /// <summary>Things worth telling the operator that do not stop the agent (no infra group, ...).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Why <see cref="Generation"/> was chosen (for example <c>all.vars.version is v4.5.0</c>).</summary>
    public string GenerationReason { get; init; } = "";

    /// <summary>IPs of the infra group's hosts, ordered by infra_seq.</summary>
    public IReadOnlyList<string> InfraNodes { get; init; } = [];

    /// <summary>Remote PostgreSQL instances monitored through pg_exporters (not managed by Patroni, read-only to the agent).</summary>
    public IReadOnlyList<RemotePgInstance> RemoteInstances { get; init; } = [];

    public IEnumerable<PgMember> AllMembers => Clusters.SelectMany(c => c.Members);

    public PgMember? FindMember(string name) =>
        AllMembers.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    public PgCluster? FindCluster(string name) =>
        Clusters.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal));
}

/// <summary>A PostgreSQL cluster (one pg_cluster) and everything the inventory implies about it.</summary>
public sealed record PgCluster
{
    public required string Name { get; init; }

    /// <summary>Members ordered by pg_seq.</summary>
    public required IReadOnlyList<PgMember> Members { get; init; }

    public required HaSettings Ha { get; init; }

    /// <summary>pg_vip_address when pg_vip_enabled, else null.</summary>
    public string? Vip { get; init; }

    public required BackupSettings Backup { get; init; }

    /// <summary>
    /// When backups are scheduled: the pg_crontab (else node_crontab) lines of the cluster's hosts that run
    /// <c>pg-backup</c> or <c>pgbackrest backup</c>, with <c>file:line</c>. Empty when none do.
    /// </summary>
    public BackupSchedule BackupSchedule { get; init; } = BackupSchedule.None;

    public required ClusterCredentials Credentials { get; init; }

    /// <summary>The member the inventory calls primary (may be stale after a failover: Patroni is the truth).</summary>
    public PgMember? DeclaredPrimary => Members.FirstOrDefault(m => m.DeclaredRole == DeclaredRole.Primary);

    public PgMember? FindMember(string name) =>
        Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    /// <summary>pg_mode: <c>pgsql</c>, or <c>citus</c> for a Citus shard group.</summary>
    public string Mode { get; init; } = "pgsql";

    /// <summary>pg_shard of a Citus cluster (the Patroni scope of every group of the shard).</summary>
    public string? Shard { get; init; }

    /// <summary>pg_group of a Citus cluster (0 is the coordinator).</summary>
    public int? ShardGroup { get; init; }

    /// <summary>The Patroni scope: pg_shard for Citus, else the cluster name. DCS keys live under /pg/&lt;scope&gt;/.</summary>
    public string PatroniScope => string.Equals(Mode, "citus", StringComparison.Ordinal) && !string.IsNullOrEmpty(Shard) ? Shard : Name;

    /// <summary>pg_namespace: the DCS key prefix (default <c>/pg</c>).</summary>
    public string DcsNamespace { get; init; } = "/pg";

    /// <summary>The inventory group the cluster is defined in.</summary>
    public string InventoryGroup { get; init; } = "";

    /// <summary>
    /// The business databases of pg_databases (their <c>name</c>s in inventory order, those with <c>state: absent</c>
    /// left out). The Postgres sensor reads per-database statistics (tables, indexes) in each of them.
    /// </summary>
    public IReadOnlyList<string> Databases { get; init; } = [];

    /// <summary>True when the primary replicates from pg_upstream: a standby cluster.</summary>
    public bool IsStandbyCluster => DeclaredPrimary?.Upstream is not null;
}

/// <summary>One instance: <c>&lt;cluster&gt;-&lt;seq&gt;</c>, the Patroni member name and the metrics "ins" label.</summary>
public sealed record PgMember
{
    public required string Name { get; init; }

    public required string Cluster { get; init; }

    public required int Seq { get; init; }

    public required string Ip { get; init; }

    public required DeclaredRole DeclaredRole { get; init; }

    /// <summary>True when the member serves offline queries (pg_role offline or pg_offline_query).</summary>
    public bool Offline { get; init; }

    public required MemberPorts Ports { get; init; }

    /// <summary>pg_upstream: the IP this instance replicates from (standby cluster leader or cascading replica).</summary>
    public string? Upstream { get; init; }

    /// <summary><c>https</c> when patroni_ssl_enabled, else <c>http</c>.</summary>
    public string PatroniScheme { get; init; } = "http";

    /// <summary>Patroni's REST API of this member.</summary>
    public Uri PatroniUrl =>
        new($"{PatroniScheme}://{(Ip.Contains(':', StringComparison.Ordinal) && !Ip.StartsWith('[') ? $"[{Ip}]" : Ip)}:{Ports.Patroni}/");
}

/// <summary>Ports of one member, Pigsty defaults unless the inventory says otherwise.</summary>
public sealed record MemberPorts
{
    public int Postgres { get; init; } = 5432;
    public int Pgbouncer { get; init; } = 6432;
    public int Patroni { get; init; } = 8008;
    public int PgExporter { get; init; } = 9630;
    public int NodeExporter { get; init; } = 9100;
    public int HaproxyExporter { get; init; } = 9101;
}

/// <summary>HA behaviour the inventory implies (pg_rto preset, pg_rpo, sync mode).</summary>
public sealed record HaSettings
{
    /// <summary>pg_rto preset name (Pigsty: fast, norm, safe, wide) or the number as given.</summary>
    public string RtoPreset { get; init; } = "norm";
    public int TtlSeconds { get; init; } = 30;
    public int LoopWaitSeconds { get; init; } = 5;
    public int RetryTimeoutSeconds { get; init; } = 10;
    public int PrimaryStartTimeoutSeconds { get; init; } = 25;

    /// <summary>pg_rpo in bytes: Patroni's maximum_lag_on_failover.</summary>
    public long MaximumLagOnFailoverBytes { get; init; } = 1_048_576;

    /// <summary>True when synchronous replication is configured (pg_conf crit.yml or patroni sync mode).</summary>
    public bool Synchronous { get; init; }

    /// <summary>pg_conf template name (oltp.yml, olap.yml, crit.yml, tiny.yml).</summary>
    public string PgConf { get; init; } = "oltp.yml";

    /// <summary>synchronous_mode_strict: writes block when no synchronous replica is available (Pigsty 4 crit.yml).</summary>
    public bool SynchronousStrict { get; init; }

    /// <summary>patroni_watchdog_mode: off, automatic or required.</summary>
    public string WatchdogMode { get; init; } = "off";
}

/// <summary>How the cluster is backed up (pgBackRest stanza = cluster name).</summary>
public sealed record BackupSettings
{
    /// <summary>pgbackrest_method: local or minio (or another repo name).</summary>
    public string Method { get; init; } = "local";

    /// <summary>Repository description (path or endpoint) for display; never holds secrets.</summary>
    public string? Repo { get; init; }

    public string Stanza { get; init; } = "";

    /// <summary>pgbackrest_enabled; false when the cluster has no pgBackRest at all.</summary>
    public bool Enabled { get; init; } = true;
}

/// <summary>Who the agent authenticates as; passwords are references into the <see cref="Secrets.SecretStore"/>.</summary>
public sealed record ClusterCredentials
{
    public string PatroniUsername { get; init; } = "postgres";
    public Secrets.SecretRef? PatroniPassword { get; init; }
    public string MonitorUsername { get; init; } = "dbuser_monitor";
    public Secrets.SecretRef? MonitorPassword { get; init; }
    public string AdminUsername { get; init; } = "dbuser_dba";
    public Secrets.SecretRef? AdminPassword { get; init; }
    public string ReplicationUsername { get; init; } = "replicator";
    public Secrets.SecretRef? ReplicationPassword { get; init; }
}

public enum MetricsKind
{
    Prometheus,
    VictoriaMetrics,
}

public enum LogsKind
{
    Loki,
    VictoriaLogs,
    Files,
}

/// <summary>An effective URL and where it came from.</summary>
public sealed record Endpoint(Uri Url, ValueSource Source)
{
    /// <summary>Where exactly it came from: a file:line, an environment variable, or the Pigsty default used.</summary>
    public string Origin { get; init; } = "";
}

/// <summary>Infra endpoints the sensors use. Null when the inventory has no infra node and settings give none.</summary>
public sealed record InfraEndpoints
{
    public Endpoint? Metrics { get; init; }
    public MetricsKind MetricsKind { get; init; }
    public Endpoint? Logs { get; init; }
    public LogsKind LogsKind { get; init; }
    public Endpoint? Alertmanager { get; init; }
}

public sealed record EtcdMember(string Name, string Ip, int ClientPort);

/// <summary>A remote PostgreSQL (RDS) instance Pigsty monitors with a pg_exporter on an infra node (pg_exporters).</summary>
public sealed record RemotePgInstance
{
    /// <summary><c>&lt;cluster&gt;-&lt;seq&gt;</c>, the metrics "ins" label.</summary>
    public required string Name { get; init; }

    public required string Cluster { get; init; }

    public required int Seq { get; init; }

    /// <summary>pg_host: where the database is.</summary>
    public required string Host { get; init; }

    public int Port { get; init; } = 5432;

    /// <summary>The pg_exporters key: the local port the exporter listens on.</summary>
    public required int ExporterPort { get; init; }

    /// <summary>The infra node that runs the exporter.</summary>
    public string? ExporterHost { get; init; }

    public string MonitorUsername { get; init; } = "dbuser_monitor";

    /// <summary>pg_monitor_password of the entry, else the one the exporter's host inherits (all.vars).</summary>
    public Secrets.SecretRef? MonitorPassword { get; init; }
}
