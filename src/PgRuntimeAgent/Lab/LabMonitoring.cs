using System.Text.Json;

namespace PgRuntimeAgent.Lab;

internal sealed record ScrapeTarget(string Job, string Instance, string? Ins, string Health, string? LastError);

/// <summary>The lab's Prometheus: scrape targets and instant queries.</summary>
internal static class LabMonitoring
{
    /// <summary>
    /// The scrape job of the agent itself (<c>pgra run</c>'s <c>/metrics</c>, loopback mode): up only while an agent runs,
    /// so <c>lab up</c> neither counts nor waits for it.
    /// </summary>
    public const string AgentJob = "pgra";

    /// <summary>pgsql, patroni, node and haproxy per member, plus etcd, Prometheus and Alertmanager (not <see cref="AgentJob"/>).</summary>
    public static int ExpectedTargets(LabManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return (manifest.Members.Count * 4) + 3;
    }

    public static IReadOnlyList<ScrapeTarget> ParseTargets(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = new List<ScrapeTarget>();
        foreach (var t in doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray())
        {
            var labels = t.GetProperty("labels");
            list.Add(new ScrapeTarget(
                labels.TryGetProperty("job", out var j) ? j.GetString() ?? "" : "",
                labels.TryGetProperty("instance", out var i) ? i.GetString() ?? "" : "",
                labels.TryGetProperty("ins", out var ins) ? ins.GetString() : null,
                t.GetProperty("health").GetString() ?? "unknown",
                t.TryGetProperty("lastError", out var e) ? e.GetString() : null));
        }

        return list;
    }

    public static async Task<IReadOnlyList<ScrapeTarget>> TargetsAsync(HttpClient http, LabManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(manifest);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            var json = await http.GetStringAsync(new Uri(manifest.Endpoints.Prometheus, "/api/v1/targets?state=active"), cts.Token).ConfigureAwait(false);
            return ParseTargets(json);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException && !cancellationToken.IsCancellationRequested)
        {
            return [];
        }
    }
}
