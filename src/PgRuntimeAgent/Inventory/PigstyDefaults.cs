namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Pigsty's role defaults the agent relies on when the inventory does not say otherwise (roles/*/defaults/main.yml and
/// the parameter reference). Both generations share everything here except the metrics and logs stack.
/// </summary>
internal static class PigstyDefaults
{
    public const int PgPort = 5432;
    public const int PgbouncerPort = 6432;
    public const int PatroniPort = 8008;
    public const int PgExporterPort = 9630;
    public const int NodeExporterPort = 9100;
    public const int HaproxyExporterPort = 9101;
    public const int EtcdPort = 2379;

    /// <summary>VictoriaMetrics (v4, <c>vmetrics_port</c>).</summary>
    public const int VmetricsPort = 8428;

    /// <summary>VictoriaLogs (v4, <c>vlogs_port</c>).</summary>
    public const int VlogsPort = 9428;

    /// <summary>Prometheus (v3; infra_portal.prometheus.endpoint <c>${admin_ip}:9058</c>).</summary>
    public const int PrometheusPort = 9058;

    /// <summary>Prometheus on Pigsty v1/v2 (infra_portal.prometheus.endpoint <c>${admin_ip}:9090</c>).</summary>
    public const int PrometheusPortV2 = 9090;

    /// <summary>Loki (v3, <c>loki_port</c>).</summary>
    public const int LokiPort = 3100;

    public const int AlertmanagerPort = 9059;

    public const string PatroniUsername = "postgres";
    public const string MonitorUsername = "dbuser_monitor";
    public const string AdminUsername = "dbuser_dba";
    public const string ReplicationUsername = "replicator";
    public const string Dbsu = "postgres";
    public const string PgNamespace = "/pg";
    public const string PgConf = "oltp.yml";
    public const string PgMode = "pgsql";
    public const string BackupMethod = "local";
    public const string EtcdCluster = "etcd";

    /// <summary>pg_rpo: 1 MiB, written to Patroni's maximum_lag_on_failover.</summary>
    public const long PgRpo = 1_048_576;

    /// <summary>pg_rto on Pigsty 3.x and earlier: seconds; the templates derive the Patroni timings from it.</summary>
    public const int PgRtoV3Seconds = 30;

    /// <summary>pg_rto on Pigsty 4.x: a preset name from pg_rto_plan.</summary>
    public const string PgRtoV4Preset = "norm";

    /// <summary>
    /// Pigsty's published default credentials: the agent falls back to them like the playbooks do, and warns when an
    /// inventory keeps them.
    /// </summary>
    public static IReadOnlyDictionary<string, string> DefaultPasswords { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["patroni_password"] = "Patroni.API",
        ["pg_monitor_password"] = "DBUser.Monitor",
        ["pg_admin_password"] = "DBUser.DBA",
        ["pg_replication_password"] = "DBUser.Replicator",
    };

    /// <summary>
    /// pg_rto_plan (Pigsty 4): preset → [ttl, loop_wait, retry_timeout, primary_start_timeout] (the HAProxy columns
    /// of the plan are not needed by the agent).
    /// </summary>
    public static IReadOnlyDictionary<string, RtoPlan> RtoPlans { get; } = new Dictionary<string, RtoPlan>(StringComparer.Ordinal)
    {
        ["fast"] = new(20, 5, 5, 15),
        ["norm"] = new(30, 5, 10, 25),
        ["safe"] = new(60, 10, 20, 45),
        ["wide"] = new(120, 20, 30, 95),
    };

    /// <summary>Pigsty's pgbackrest_repo definitions when the inventory defines none: method → (type, description).</summary>
    public static IReadOnlyDictionary<string, string> DefaultRepos { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["local"] = "posix /pg/backup",
        ["minio"] = "s3 sss.pigsty:9000 bucket pgsql",
    };

    /// <summary>Groups that are part of the platform the agent reads; everything else that is not a pg cluster is ignored.</summary>
    public static bool IsPlatformGroup(string name) => name is "infra" or "etcd";
}

/// <summary>Patroni timings one pg_rto value stands for.</summary>
internal sealed record RtoPlan(int Ttl, int LoopWait, int RetryTimeout, int PrimaryStartTimeout);
