using System.Text.Json.Nodes;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Reads;

/// <summary>/config of one member: the typed view the sensor uses and the document as Patroni sent it.</summary>
internal sealed record PatroniConfigDocument(PatroniDynamicConfig Config, JsonNode? Document);

/// <summary>
/// Everything a read may use, and nothing else: the topology, the clock, and queries through the sensing code
/// (snapshot, logs, one PostgreSQL probe in a read-only transaction, the metrics API, Patroni's GET endpoints,
/// <c>pgbackrest info</c>, the journal opened read-only). No actuator, pipeline, command runner, journal writer or
/// secret store is reachable from it, so a read cannot change anything.
/// </summary>
internal sealed class ReadContext : IAsyncDisposable
{
    private readonly SensingSettings _sensing;
    private readonly SecretStore _secrets;
    private readonly SensingOverrides _overrides;
    private readonly SensingHttp _http;
    private readonly Func<CancellationToken, Task<IJournal>> _openJournal;
    private readonly ICommandRunner _local;
    private readonly ICommandRunner _ssh;
    private readonly Lazy<SnapshotService> _snapshots;
    private IJournal? _journal;

    /// <param name="sensing">The <c>sensing:</c> section: timeouts, SSH, the PostgreSQL probe and pgBackRest settings.</param>
    /// <param name="endpoints">The <c>endpoints:</c> section: the metrics URL that overrides the inventory's.</param>
    /// <param name="journal">The <c>journal:</c> section: the journal reads open read-only.</param>
    /// <param name="openJournal">How the journal is opened (null: read-only, as <paramref name="journal"/> names it).</param>
    public ReadContext(Topology topology, SensingSettings sensing, EndpointSettings endpoints, JournalSettings journal, SecretStore secrets,
        TimeProvider time, string baseDirectory, SensingOverrides? overrides = null, Func<CancellationToken, Task<IJournal>>? openJournal = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(sensing);
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(time);
        Topology = topology;
        Time = time;
        _sensing = sensing;
        _secrets = secrets;
        _overrides = overrides ?? new SensingOverrides();
        _http = new SensingHttp(_overrides.HttpHandler);
        _local = _overrides.LocalRunner ?? new LocalCommandRunner();
        _ssh = _overrides.SshRunner ?? new SshRunner(sensing.Ssh);
        _snapshots = new Lazy<SnapshotService>(() => new SnapshotService(topology, sensing, endpoints, secrets, time, _overrides));
        _openJournal = openJournal ?? (ct => OpenJournalReadOnlyAsync(journal, baseDirectory, secrets, time, ct));
        MetricsUrl = _overrides.MetricsUrl ?? endpoints.MetricsUrl ?? topology.Infra.Metrics?.Url;
    }

    public Topology Topology { get; }

    /// <summary>The <c>fleet:</c> section (several agents sharing the clusters); off when its agent_id is not set.</summary>
    public Fleet.FleetSettings Fleet { get; init; } = new();

    /// <summary>The etcd endpoints of the fleet's leases (<c>fleet.etcd_urls</c>, else the inventory's etcd group).</summary>
    public IReadOnlyList<Uri> FleetEtcd { get; init; } = [];

    public TimeProvider Time { get; }

    /// <summary>The Prometheus-compatible API metrics are read from; null when none is configured.</summary>
    public Uri? MetricsUrl { get; }

    /// <summary>A cluster of the topology (the request was validated, so it exists).</summary>
    public PgCluster Cluster(string name) => Topology.FindCluster(name) ?? throw new InputException($"no cluster '{name}' in {Topology.SourcePath}");

    /// <summary>A full snapshot, exactly as <c>pgra snapshot</c> takes it.</summary>
    public Task<ClusterSnapshot> TakeSnapshotAsync(PgCluster cluster, CancellationToken cancellationToken) =>
        _snapshots.Value.TakeAsync(cluster, cancellationToken);

    /// <summary>Log entries from the configured backend (files, Loki, VictoriaLogs), as <c>pgra logs</c> reads them.</summary>
    public Task<(LogQueryResult? Result, SensorStatus Health)> QueryLogsAsync(PgCluster cluster, LogQuery query, CancellationToken cancellationToken) =>
        _snapshots.Value.QueryLogsAsync(cluster, query, cancellationToken);

    /// <summary>
    /// One probe of the PostgreSQL sensor's catalogue on one member (with the <c>server</c> probe, which tells the role),
    /// through the sensor itself: monitor credentials, a read-only transaction, statement_timeout and lock_timeout.
    /// </summary>
    public async Task<(PostgresMemberObservation Observation, SensorStatus Health)> ProbePostgresAsync(PgCluster cluster, PgMember member, string probe,
        CancellationToken cancellationToken)
    {
        var skip = PostgresProbeCatalogue.All.Select(p => p.Name).Where(n => n != "server" && n != probe)
            .Concat(_sensing.Postgres.Skip).Distinct(StringComparer.Ordinal).ToList();
        var sensor = new PostgresSensor(_secrets, _sensing.Postgres with { Skip = skip }, Time, _sensing.TimeoutFor(SensorNames.Postgres))
        {
            AddressOf = _overrides.PostgresAddress ?? (m => (m.Ip, m.Ports.Postgres)),
        };
        return await sensor.ObserveAsync(cluster, member, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An instant query at <paramref name="at"/>.</summary>
    public Task<SensorOutcome<PromQueryResult>> QueryMetricsAsync(string query, DateTimeOffset at, CancellationToken cancellationToken) =>
        MetricsAsync($"instant query {query}", client => ct => client.QueryAsync(query, at, ct), cancellationToken);

    /// <summary>A range query (the caller bounds range and step).</summary>
    public Task<SensorOutcome<PromQueryResult>> QueryMetricsRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step,
        CancellationToken cancellationToken) =>
        MetricsAsync($"range query {query}", client => ct => client.QueryRangeAsync(query, start, end, step, ct), cancellationToken);

    /// <summary>GET /history of one member's Patroni.</summary>
    public Task<SensorOutcome<IReadOnlyList<PatroniHistoryEntry>>> GetPatroniHistoryAsync(PgCluster cluster, PgMember member, CancellationToken cancellationToken) =>
        PatroniAsync<IReadOnlyList<PatroniHistoryEntry>>(cluster, member, "history", (client, _) => client.GetHistoryAsync, cancellationToken);

    /// <summary>GET /config of one member's Patroni (the dynamic configuration held in the DCS).</summary>
    public Task<SensorOutcome<PatroniConfigDocument>> GetPatroniConfigAsync(PgCluster cluster, PgMember member, CancellationToken cancellationToken) =>
        PatroniAsync<PatroniConfigDocument>(cluster, member, "config", (_, http) => async ct =>
        {
            var endpoint = $"GET {SensingHttp.ApiUrl(http.BaseAddress!, "config")}";
            using var response = await SensingHttp.CreateApi<IPatroniApi>(http).GetConfigAsync(ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new SensorResponseException(endpoint, $"answered HTTP {(int)response.StatusCode} {response.StatusCode}: {JsonRead.Excerpt(body)}");
            }

            return new PatroniConfigDocument(PatroniParser.ParseConfig(body, endpoint), JsonNode.Parse(body));
        }, cancellationToken);

    /// <summary><c>pgbackrest info --output=json</c> for the cluster's stanza, run as the backup sensor runs it.</summary>
    public async Task<(SensorOutcome<IReadOnlyList<PgBackRestStanza>> Outcome, string Stanza, string Endpoint)> GetBackupInfoAsync(PgCluster cluster,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var settings = _sensing.Pgbackrest;
        var stanza = string.IsNullOrEmpty(cluster.Backup.Stanza) ? cluster.Name : cluster.Backup.Stanza;
        var sensor = new BackupSensor(settings, _local, _ssh, Time, _sensing.TimeoutFor(SensorNames.Backup));
        var command = sensor.CommandFor(stanza);
        var endpoint = settings.SshHost is { } h ? $"ssh {h}: {command}" : command;
        var runner = settings.SshHost is null ? _local : _ssh;
        var outcome = await SensorCall.RunAsync(endpoint, _sensing.TimeoutFor(SensorNames.Backup) * 2, Time, async ct =>
        {
            var result = await runner.RunAsync(settings.SshHost ?? "localhost", command, ct).ConfigureAwait(false);
            if (result.ExitCode != 0 && string.IsNullOrWhiteSpace(result.StandardOutput))
            {
                throw new SensorResponseException(endpoint, $"exit code {result.ExitCode}: {JsonRead.Excerpt(result.StandardError, 300)}");
            }

            return PgBackRestInfoParser.Parse(result.StandardOutput, endpoint);
        }, cancellationToken).ConfigureAwait(false);
        return (outcome, stanza, endpoint);
    }

    /// <summary>Journal entries (the journal is opened read-only on first use).</summary>
    public async Task<IReadOnlyList<JournalEntry>> QueryJournalAsync(JournalQuery query, CancellationToken cancellationToken)
    {
        var journal = await JournalAsync(cancellationToken).ConfigureAwait(false);
        return await journal.QueryAsync(query, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every incident the journal holds, oldest first.</summary>
    public async Task<IReadOnlyList<Incident>> ListIncidentsAsync(CancellationToken cancellationToken)
    {
        var journal = await JournalAsync(cancellationToken).ConfigureAwait(false);
        return await IncidentStore.ListAsync(journal, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>JSON text with every known secret masked (token by token, so it stays JSON).</summary>
    public string RedactJson(string json) => _secrets.RedactJson(json);

    /// <summary>Free text with every known secret masked.</summary>
    public string Redact(string? text) => _secrets.Redact(text);

    public async ValueTask DisposeAsync()
    {
        if (_snapshots.IsValueCreated)
        {
            _snapshots.Value.Dispose();
        }

        _http.Dispose();
        if (_journal is not null)
        {
            await _journal.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<IJournal> JournalAsync(CancellationToken cancellationToken) =>
        _journal ??= await _openJournal(cancellationToken).ConfigureAwait(false);

    private static async Task<IJournal> OpenJournalReadOnlyAsync(JournalSettings journal, string baseDirectory, SecretStore secrets, TimeProvider time,
        CancellationToken cancellationToken) =>
        journal.Backend == JournalBackend.Postgres
            ? await JournalFactory.OpenAsync(journal, baseDirectory, secrets, time, cancellationToken).ConfigureAwait(false)
            : await SqliteJournal.OpenReadOnlyAsync(JournalFactory.ResolvePath(journal, baseDirectory), secrets, time, cancellationToken).ConfigureAwait(false);

    private async Task<SensorOutcome<PromQueryResult>> MetricsAsync(string what, Func<PrometheusClient, Func<CancellationToken, Task<PromQueryResult>>> call,
        CancellationToken cancellationToken)
    {
        if (MetricsUrl is null)
        {
            return new SensorOutcome<PromQueryResult>(null, SensorHealth.Unknown,
                "no metrics endpoint: set endpoints.metrics_url in the settings or declare Prometheus/VictoriaMetrics in the inventory", 0, false);
        }

        using var http = _http.CreateClient(MetricsUrl);
        var client = new PrometheusClient(http);
        return await SensorCall.RunAsync($"{MetricsUrl} {what}", _sensing.TimeoutFor(SensorNames.Metrics) * 4, Time, call(client), cancellationToken)
            .ConfigureAwait(false);
    }

    private async Task<SensorOutcome<T>> PatroniAsync<T>(PgCluster cluster, PgMember member, string path,
        Func<PatroniClient, HttpClient, Func<CancellationToken, Task<T>>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(member);
        var url = (_overrides.PatroniUrl ?? (m => m.PatroniUrl))(member);
        using var http = _http.CreateClient(url, cluster.Credentials.PatroniUsername, cluster.Credentials.PatroniPassword, _secrets);
        var client = new PatroniClient(http);
        return await SensorCall.RunAsync($"GET {url}{path}", _sensing.TimeoutFor(SensorNames.Patroni) * 2, Time, call(client, http), cancellationToken)
            .ConfigureAwait(false);
    }
}
