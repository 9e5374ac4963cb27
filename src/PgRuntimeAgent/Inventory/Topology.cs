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

    public required ClusterCredentials Credentials { get; init; }

    /// <summary>The member the inventory calls primary (may be stale after a failover: Patroni is the truth).</summary>
    public PgMember? DeclaredPrimary => Members.FirstOrDefault(m => m.DeclaredRole == DeclaredRole.Primary);

    public PgMember? FindMember(string name) =>
        Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
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
}

/// <summary>How the cluster is backed up (pgBackRest stanza = cluster name).</summary>
public sealed record BackupSettings
{
    /// <summary>pgbackrest_method: local or minio (or another repo name).</summary>
    public string Method { get; init; } = "local";

    /// <summary>Repository description (path or endpoint) for display; never holds secrets.</summary>
    public string? Repo { get; init; }

    public string Stanza { get; init; } = "";
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
public sealed record Endpoint(Uri Url, ValueSource Source);

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
