using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// The documented JSON of <c>pgra inventory show --json</c> and <c>pgra inventory check --json</c>
/// (docs/json-output.md). Property names are camelCase and enums kebab-case when serialized with the CLI's options.
/// Bump <see cref="SchemaVersion"/> on any incompatible change.
/// </summary>
internal static class InventoryJson
{
    public const int SchemaVersion = 1;

    /// <param name="settingsPath">The settings file read, null when only defaults apply.</param>
    /// <param name="settingsHow">How that file was found.</param>
    /// <param name="overrides">What the settings laid over the inventory (for where each endpoint came from).</param>
    public static ShowJson Show(Topology topology, string? settingsPath, string settingsHow, InventoryOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(overrides);
        return new ShowJson(
            SchemaVersion,
            topology.SourcePath,
            new SettingsFileJson(settingsPath, settingsHow),
            topology.Generation,
            topology.GenerationReason,
            topology.Version,
            topology.AdminIp,
            topology.Clusters.Select(Cluster).ToArray(),
            Endpoints(topology, overrides),
            topology.Etcd.Select(e => new EtcdJson(e.Name, e.Ip, e.ClientPort)).ToArray(),
            topology.InfraNodes,
            topology.RemoteInstances.Select(r => new RemoteJson(r.Name, r.Cluster, r.Seq, r.Host, r.Port, r.ExporterPort, r.ExporterHost, r.MonitorUsername, Secret(r.MonitorPassword))).ToArray(),
            topology.IgnoredGroups,
            topology.Warnings);
    }

    public static CheckJson Check(InventoryReport report, SettingsLoadResult settings, IReadOnlyList<YamlProblem> problems, IReadOnlyList<YamlProblem> warnings)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(settings);
        var t = report.Topology;
        return new CheckJson(
            SchemaVersion,
            report.SourcePath,
            new SettingsFileJson(settings.Path, settings.How),
            problems.Count == 0,
            problems.Select(Problem).ToArray(),
            warnings.Select(Problem).ToArray(),
            t is null ? null : new SummaryJson(t.Generation, t.Version, t.Clusters.Count, t.AllMembers.Count(), t.Etcd.Count, t.RemoteInstances.Count));
    }

    public static EndpointsJson Endpoints(Topology topology, InventoryOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(overrides);
        var infra = topology.Infra;
        var logsKindOrigin = overrides.OriginOf("endpoints.logs_kind");
        var logs = infra.LogsKind == LogsKind.Files
            ? new EndpointJson("logs", null, Kebab(LogsKind.Files.ToString()), logsKindOrigin?.Source ?? ValueSource.Settings,
                $"logs are read from files ({logsKindOrigin?.Where ?? "endpoints.logs_kind"}); see sensing.log_files")
            : Endpoint("logs", infra.Logs, Kebab(infra.LogsKind.ToString()));
        return new EndpointsJson(
            Endpoint("metrics", infra.Metrics, Kebab(infra.MetricsKind.ToString())),
            logs,
            Endpoint("alertmanager", infra.Alertmanager, "alertmanager"));
    }

    private static EndpointJson Endpoint(string name, Endpoint? e, string kind) =>
        e is null
            ? new EndpointJson(name, null, kind, null, "none: see warnings")
            : new EndpointJson(name, e.Url.ToString().TrimEnd('/'), kind, e.Source, e.Origin);

    private static ClusterJson Cluster(PgCluster c) => new(
        c.Name,
        c.InventoryGroup,
        c.Mode,
        c.PatroniScope,
        c.Shard,
        c.ShardGroup,
        c.DcsNamespace,
        c.Vip,
        c.DeclaredPrimary?.Name,
        c.IsStandbyCluster,
        c.Members.Select(m => new MemberJson(
            m.Name, m.Seq, m.Ip, m.DeclaredRole, m.Offline, m.Upstream, m.PatroniUrl.ToString().TrimEnd('/'),
            new PortsJson(m.Ports.Postgres, m.Ports.Pgbouncer, m.Ports.Patroni, m.Ports.PgExporter, m.Ports.NodeExporter, m.Ports.HaproxyExporter))).ToArray(),
        new HaJson(c.Ha.RtoPreset, c.Ha.TtlSeconds, c.Ha.LoopWaitSeconds, c.Ha.RetryTimeoutSeconds, c.Ha.PrimaryStartTimeoutSeconds,
            c.Ha.MaximumLagOnFailoverBytes, c.Ha.Synchronous, c.Ha.SynchronousStrict, c.Ha.PgConf, c.Ha.WatchdogMode),
        new BackupJson(c.Backup.Enabled, c.Backup.Method, c.Backup.Repo, c.Backup.Stanza),
        new CredentialsJson(
            c.Credentials.PatroniUsername, Secret(c.Credentials.PatroniPassword),
            c.Credentials.MonitorUsername, Secret(c.Credentials.MonitorPassword),
            c.Credentials.AdminUsername, Secret(c.Credentials.AdminPassword),
            c.Credentials.ReplicationUsername, Secret(c.Credentials.ReplicationPassword)));

    private static SecretJson? Secret(SecretRef? secret) => secret is null ? null : new SecretJson(SecretRef.Mask, secret.Origin);

    private static ProblemJson Problem(YamlProblem p) => new(p.File, p.Line, p.Column, p.Subject, p.Message, p.Hint, p.ToString());

    private static string Kebab(string pascal) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(pascal);
}

internal sealed record ShowJson(
    int SchemaVersion,
    string Source,
    SettingsFileJson Settings,
    PigstyGeneration Generation,
    string GenerationReason,
    string? Version,
    string? AdminIp,
    IReadOnlyList<ClusterJson> Clusters,
    EndpointsJson Endpoints,
    IReadOnlyList<EtcdJson> Etcd,
    IReadOnlyList<string> InfraNodes,
    IReadOnlyList<RemoteJson> RemoteInstances,
    IReadOnlyList<string> IgnoredGroups,
    IReadOnlyList<string> Warnings);

internal sealed record SettingsFileJson(string? Path, string How);

internal sealed record ClusterJson(
    string Name,
    string InventoryGroup,
    string Mode,
    string PatroniScope,
    string? Shard,
    int? ShardGroup,
    string DcsNamespace,
    string? Vip,
    string? DeclaredPrimary,
    bool StandbyCluster,
    IReadOnlyList<MemberJson> Members,
    HaJson Ha,
    BackupJson Backup,
    CredentialsJson Credentials);

internal sealed record MemberJson(string Name, int Seq, string Ip, DeclaredRole Role, bool Offline, string? Upstream, string PatroniUrl, PortsJson Ports);

internal sealed record PortsJson(int Postgres, int Pgbouncer, int Patroni, int PgExporter, int NodeExporter, int HaproxyExporter);

internal sealed record HaJson(
    string RtoPreset,
    int TtlSeconds,
    int LoopWaitSeconds,
    int RetryTimeoutSeconds,
    int PrimaryStartTimeoutSeconds,
    long MaximumLagOnFailoverBytes,
    bool Synchronous,
    bool SynchronousStrict,
    string PgConf,
    string WatchdogMode);

internal sealed record BackupJson(bool Enabled, string Method, string? Repo, string Stanza);

internal sealed record CredentialsJson(
    string PatroniUsername,
    SecretJson? PatroniPassword,
    string MonitorUsername,
    SecretJson? MonitorPassword,
    string AdminUsername,
    SecretJson? AdminPassword,
    string ReplicationUsername,
    SecretJson? ReplicationPassword);

/// <summary>A secret as output shows it: always the mask, and where the value came from.</summary>
internal sealed record SecretJson(string Value, string Origin);

internal sealed record EndpointsJson(EndpointJson Metrics, EndpointJson Logs, EndpointJson Alertmanager)
{
    public IEnumerable<EndpointJson> All() => [Metrics, Logs, Alertmanager];
}

/// <param name="Url">Null when there is no such endpoint (see the warnings) or logs are read from files.</param>
/// <param name="Kind">prometheus | victoria-metrics, loki | victoria-logs | files, alertmanager.</param>
/// <param name="Source">pigsty-default | inventory | settings | environment; null when there is no endpoint.</param>
internal sealed record EndpointJson(
    [property: System.Text.Json.Serialization.JsonIgnore] string Name,
    string? Url,
    string Kind,
    ValueSource? Source,
    string? Origin);

internal sealed record EtcdJson(string Name, string Ip, int ClientPort);

internal sealed record RemoteJson(string Name, string Cluster, int Seq, string Host, int Port, int ExporterPort, string? ExporterHost, string MonitorUsername, SecretJson? MonitorPassword);

internal sealed record CheckJson(
    int SchemaVersion,
    string Source,
    SettingsFileJson Settings,
    bool Valid,
    IReadOnlyList<ProblemJson> Problems,
    IReadOnlyList<ProblemJson> Warnings,
    SummaryJson? Summary);

internal sealed record ProblemJson(string File, long Line, long Column, string? Subject, string Message, string? Hint, string Text);

internal sealed record SummaryJson(PigstyGeneration Generation, string? Version, int Clusters, int Members, int EtcdMembers, int RemoteInstances);
