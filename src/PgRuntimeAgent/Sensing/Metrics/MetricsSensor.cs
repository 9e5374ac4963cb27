using System.Text.RegularExpressions;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Host;

namespace PgRuntimeAgent.Sensing.Metrics;

/// <summary>A catalogue reading for a cluster: one value per member, and which candidate expression produced it.</summary>
public sealed record MetricReading
{
    public required string Name { get; init; }
    public string Unit { get; init; } = "";

    /// <summary>ok (series found), absent (no candidate returned a series), error (the query failed).</summary>
    public string Status { get; init; } = "absent";

    /// <summary>Source of the winning candidate (pigsty, postgres_exporter, patroni, node_exporter...).</summary>
    public string? Source { get; init; }

    /// <summary>The PromQL that produced the values.</summary>
    public string? Query { get; init; }

    /// <summary>Member -> value exactly as the API sent it ("1", "0.25", "NaN", "+Inf").</summary>
    public IReadOnlyDictionary<string, string> Values { get; init; } = new Dictionary<string, string>();

    public string? Reason { get; init; }

    /// <summary>
    /// Member -> which series its value was chosen from, when a reading picks among several series per member
    /// (<c>fs_free_ratio</c>: the mount holding which of the member's paths). Empty otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, string> Basis { get; init; } = new Dictionary<string, string>();

    public double? NumberFor(string member) =>
        Values.TryGetValue(member, out var v) ? PromSample.ParseValue(v) is var d && !double.IsNaN(d) ? d : null : null;
}

/// <summary>The metrics sensor's result for a cluster.</summary>
public sealed record MetricsObservation
{
    public string? Endpoint { get; init; }
    public IReadOnlyList<MetricReading> Readings { get; init; } = [];

    /// <summary>Alerts (firing and pending) whose cls or ins label points at this cluster.</summary>
    public IReadOnlyList<PromAlert> Alerts { get; init; } = [];

    public int Queries { get; init; }

    public MetricReading? Find(string name) => Readings.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));
}

/// <summary>Runs the <see cref="MetricsCatalogue"/> for one cluster, concurrently, with per-query timeouts.</summary>
internal sealed class MetricsSensor(PrometheusClient? client, TimeProvider time, TimeSpan timeout)
{
    /// <summary>Pigsty's pg_fs_main: /pg is a link to /data/postgres/&lt;cluster&gt;-&lt;version&gt; on this filesystem.</summary>
    public const string PigstyMainFs = "/data";

    /// <summary>
    /// The members' data and WAL paths (<c>sensing.ssh.paths</c>, placeholders <c>{member}</c> and <c>{cluster}</c>):
    /// <c>fs_free_ratio</c> is read from the filesystems holding them. Default: Pigsty's /pg/data and /pg/data/pg_wal.
    /// </summary>
    public IReadOnlyList<string> MemberPaths { get; init; } = new SshSettings().Paths;

    public async Task<(MetricsObservation Observation, SensorStatus Health)> ObserveAsync(PgCluster cluster, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var sw = SensorStopwatch.Start(time);
        if (client is null)
        {
            return (new MetricsObservation(), new SensorStatus(SensorNames.Metrics, null, SensorHealth.Unknown,
                "no metrics endpoint: the inventory has no infra node and settings give no endpoints.metrics_url", sw.ElapsedMs));
        }

        var endpoint = client.BaseUrl.ToString();
        var before = client.Requests;
        var alertsTask = SensorCall.RunAsync($"GET {client.BaseUrl}api/v1/alerts", timeout, time, client.GetAlertsAsync, cancellationToken);
        var readingTasks = MetricsCatalogue.All.Select(q => ReadAsync(client, q, cluster, cancellationToken)).ToList();
        var readings = await Task.WhenAll(readingTasks).ConfigureAwait(false);
        var alerts = await alertsTask.ConfigureAwait(false);

        var members = cluster.Members.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var clusterAlerts = (alerts.Value ?? [])
            .Where(a => a.State is "firing" or "pending")
            .Where(a => (a.Labels.TryGetValue("cls", out var c) && c == cluster.Name) || (a.Labels.TryGetValue("ins", out var i) && members.Contains(i)))
            .ToList();

        var errors = readings.Where(r => r.Status == "error").ToList();
        SensorHealth health;
        string? reason;
        if (errors.Count == readings.Length)
        {
            health = SensorHealth.Unknown;
            reason = errors[0].Reason;
        }
        else if (errors.Count > 0 || alerts.Value is null)
        {
            health = SensorHealth.Degraded;
            reason = string.Join("; ", errors.Select(e => $"{e.Name}: {e.Reason}").Append(alerts.Reason).OfType<string>().Take(4));
        }
        else
        {
            var absent = readings.Where(r => r.Status == "absent").Select(r => r.Name).ToList();
            health = readings.Any(r => r.Name == "pg_up" && r.Status == "absent") ? SensorHealth.Degraded : SensorHealth.Ok;
            reason = absent.Count == 0 ? null : "no series for " + string.Join(", ", absent);
        }

        var observation = new MetricsObservation
        {
            Endpoint = endpoint,
            Readings = readings,
            Alerts = clusterAlerts,
            Queries = client.Requests - before,
        };
        return (observation, new SensorStatus(SensorNames.Metrics, endpoint, health, reason, sw.ElapsedMs));
    }

    private async Task<MetricReading> ReadAsync(PrometheusClient prom, MetricQuery query, PgCluster cluster, CancellationToken cancellationToken)
    {
        string? lastQuery = null;
        foreach (var candidate in query.Candidates)
        {
            var promql = Expand(candidate.Template, cluster);
            lastQuery = promql;
            var outcome = await SensorCall.RunAsync($"query {query.Name}", timeout, time,
                ct => prom.QueryAsync(promql, null, ct), cancellationToken).ConfigureAwait(false);
            if (outcome.Value is null)
            {
                // A transport or server error is not a reason to try the next name: it would fail too, and cost time.
                return new MetricReading { Name = query.Name, Unit = query.Unit, Status = "error", Query = promql, Reason = outcome.Reason };
            }

            var (values, basis) = query.Mapping == MetricMapping.MemberFilesystems
                ? MapFilesystemsToMembers(outcome.Value, cluster, MemberPaths)
                : (MapToMembers(outcome.Value, cluster), new Dictionary<string, string>());
            if (values.Count > 0)
            {
                return new MetricReading
                {
                    Name = query.Name,
                    Unit = query.Unit,
                    Status = "ok",
                    Source = candidate.Source,
                    Query = promql,
                    Values = values,
                    Basis = basis,
                };
            }
        }

        return new MetricReading
        {
            Name = query.Name,
            Unit = query.Unit,
            Status = "absent",
            Query = lastQuery,
            Reason = $"no series from {string.Join(", ", query.Candidates.Select(c => c.Source).Distinct(StringComparer.Ordinal))}",
        };
    }

    /// <summary>Fills the placeholders of a catalogue template for a cluster.</summary>
    public static string Expand(string template, PgCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(cluster);
        var members = string.Join("|", cluster.Members.Select(m => Regex.Escape(m.Name)));
        var instances = string.Join("|", cluster.Members.Select(m => Regex.Escape($"{m.Ip}:{m.Ports.NodeExporter}")));
        return template
            .Replace("{cls}", PromString(cluster.Name), StringComparison.Ordinal)
            .Replace("{members}", PromString(members), StringComparison.Ordinal)
            .Replace("{node_instances}", PromString(instances), StringComparison.Ordinal);
    }

    /// <summary>Series -> member: by the ins label, else by the host part of instance (or the ip label) matching a member's IP.</summary>
    public static IReadOnlyDictionary<string, string> MapToMembers(PromQueryResult result, PgCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(cluster);
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var s in result.Series)
        {
            if (s.Samples.Count > 0 && MemberOf(s, cluster) is { } member)
            {
                map[member.Name] = s.Samples[^1].Value;
            }
        }

        return map;
    }

    /// <summary>
    /// Filesystem series (one per mountpoint of each member's node) -> each member's free ratio, read from its own
    /// filesystems: for each of the member's <paramref name="pathTemplates"/> the mount holding it (the longest
    /// mountpoint that is the path or one of its parents; a Pigsty path under /pg also counts as under
    /// <see cref="PigstyMainFs"/>), and of those the lowest ratio. A node that runs several members reports the others'
    /// mounts too, so they never count. Only when the node reports no mount holding any member's path AND its address
    /// belongs to this member alone is the node's lowest ratio used. Otherwise the member has no value (the host sensor
    /// measures it over SSH). <c>Basis</c> says which mount each value comes from.
    /// </summary>
    public static (IReadOnlyDictionary<string, string> Values, IReadOnlyDictionary<string, string> Basis) MapFilesystemsToMembers(
        PromQueryResult result, PgCluster cluster, IReadOnlyList<string> pathTemplates)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(pathTemplates);
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var basis = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pathsOf = cluster.Members.ToDictionary(m => m.Name, m => HostSensor.PathsFor(m, pathTemplates), StringComparer.Ordinal);
        var everyPath = pathsOf.Values.SelectMany(p => p).ToList();
        var byMember = result.Series
            .Where(s => s.Samples.Count > 0)
            .Select(s => (Member: MemberOf(s, cluster), Series: s))
            .Where(x => x.Member is not null)
            .GroupBy(x => x.Member!.Name, StringComparer.Ordinal);
        foreach (var group in byMember)
        {
            var member = cluster.FindMember(group.Key)!;
            var mounts = group
                .Select(x => new Mount(x.Series.Label("mountpoint"), x.Series.Samples[^1].Value))
                .ToList();
            var own = pathsOf[member.Name]
                .Select(path => (Path: path, Mount: Holder(mounts, path)))
                .Where(x => x.Mount is not null)
                .ToList();
            if (own.Count > 0)
            {
                var lowest = own.OrderBy(x => x.Mount!.Ratio).First();
                values[member.Name] = lowest.Mount!.Value;
                basis[member.Name] = $"mount {lowest.Mount.Point} holding {lowest.Path}";
                continue;
            }

            var holdsSomeMemberPath = everyPath.Any(p => Holder(mounts, p) is not null);
            if (!holdsSomeMemberPath && NodeIsOnlyThisMember(member, group.Select(x => x.Series), cluster))
            {
                var lowest = mounts.OrderBy(m => m.Ratio).First();
                values[member.Name] = lowest.Value;
                basis[member.Name] = $"lowest of the node's {mounts.Count} filesystem(s) ({lowest.Point ?? "mountpoint unknown"}): none holds {string.Join(" or ", pathsOf[member.Name])}";
            }
        }

        return (values, basis);
    }

    private sealed record Mount(string? Point, string Value)
    {
        /// <summary>NaN (a filesystem of size 0) sorts last.</summary>
        public double Ratio => PromSample.ParseValue(Value) is var d && !double.IsNaN(d) ? d : double.MaxValue;
    }

    /// <summary>The mount holding <paramref name="path"/>: the longest mountpoint equal to it or a parent of it.</summary>
    private static Mount? Holder(IReadOnlyList<Mount> mounts, string path)
    {
        var candidates = new List<string> { path };
        if (path == "/pg" || path.StartsWith("/pg/", StringComparison.Ordinal))
        {
            candidates.Add(PigstyMainFs + "/postgres" + path[3..]);
        }

        return mounts
            .Where(m => m.Point is { } point && candidates.Any(c => Holds(point, c)))
            .MaxBy(m => m.Point!.Length);
    }

    private static bool Holds(string mountpoint, string path) =>
        mountpoint == "/" || string.Equals(path, mountpoint, StringComparison.Ordinal)
        || path.StartsWith(mountpoint.TrimEnd('/') + "/", StringComparison.Ordinal);

    /// <summary>The node is this member's alone: no other member shares its address, nor the series' instance address.</summary>
    private static bool NodeIsOnlyThisMember(PgMember member, IEnumerable<PromSeries> series, PgCluster cluster)
    {
        int MembersAt(string? host) => cluster.Members.Count(m => string.Equals(m.Ip, host, StringComparison.Ordinal));
        return MembersAt(member.Ip) == 1
            && series.All(s => (s.Label("ip") ?? HostOf(s.Label("instance"))) is not { } host || MembersAt(host) <= 1);
    }

    private static PgMember? MemberOf(PromSeries s, PgCluster cluster)
    {
        if (s.Label("ins") is { } ins && cluster.FindMember(ins) is { } byName)
        {
            return byName;
        }

        var host = s.Label("ip") ?? HostOf(s.Label("instance"));
        var byIp = cluster.Members.Where(m => string.Equals(m.Ip, host, StringComparison.Ordinal)).ToList();
        return byIp.Count == 1 ? byIp[0] : null;
    }

    private static string? HostOf(string? instance)
    {
        if (instance is null)
        {
            return null;
        }

        var colon = instance.LastIndexOf(':');
        return colon > 0 ? instance[..colon].Trim('[', ']') : instance;
    }

    private static string PromString(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
