using System.Text.RegularExpressions;
using PgRuntimeAgent.Inventory;

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

            var values = MapToMembers(outcome.Value, cluster);
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
            if (s.Samples.Count == 0)
            {
                continue;
            }

            var member = s.Label("ins") is { } ins && cluster.FindMember(ins) is { } byName ? byName.Name : null;
            if (member is null)
            {
                var host = s.Label("ip") ?? HostOf(s.Label("instance"));
                var byIp = cluster.Members.Where(m => string.Equals(m.Ip, host, StringComparison.Ordinal)).ToList();
                member = byIp.Count == 1 ? byIp[0].Name : null;
            }

            if (member is not null)
            {
                map[member] = s.Samples[^1].Value;
            }
        }

        return map;
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
