using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Acting.Fencing;

/// <summary>
/// Releases the Patroni leader key of a member that has just been fenced, through etcd's v3 JSON gateway: one
/// transaction that deletes <c>&lt;pg_namespace&gt;/&lt;scope&gt;/leader</c> only while its value still names that
/// member, so a leader elected meanwhile is never touched. A killed Patroni no longer renews the key, so it would
/// expire within ttl anyway; releasing it at once lets the failover start now instead of ttl seconds later. When
/// etcd cannot be reached (TLS or authentication the agent is not configured for) nothing is lost: the key expires.
/// </summary>
internal sealed class DcsLeaderKey
{
    private readonly HttpMessageHandler? _handler;
    private readonly IReadOnlyList<Uri> _endpoints;

    public DcsLeaderKey(PgCluster cluster, IReadOnlyList<Uri> endpoints, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(endpoints);
        Key = $"{cluster.DcsNamespace.TrimEnd('/')}/{cluster.PatroniScope}/leader";
        _endpoints = endpoints;
        _handler = handler;
    }

    /// <summary>The leader key (for example <c>/pg/pg-test/leader</c>).</summary>
    public string Key { get; }

    /// <summary>The etcd members of the inventory as client URLs (http, the etcd group's client port).</summary>
    public static IReadOnlyList<Uri> Endpoints(Topology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology.Etcd.Select(e => new Uri($"http://{(e.Ip.Contains(':', StringComparison.Ordinal) ? $"[{e.Ip}]" : e.Ip)}:{e.ClientPort.ToString(CultureInfo.InvariantCulture)}/")).ToList();
    }

    /// <summary>Deletes the key if it names <paramref name="member"/>; says what happened (never throws for etcd's answers).</summary>
    public async Task<(bool Released, string Detail)> ReleaseAsync(string member, CancellationToken cancellationToken)
    {
        if (_endpoints.Count == 0)
        {
            return (false, "no etcd member in the inventory: the leader key expires by itself within ttl");
        }

        var key = B64(Key);
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(new JsonObject { ["key"] = key, ["result"] = "EQUAL", ["target"] = "VALUE", ["value"] = B64(member) }),
            ["success"] = new JsonArray(new JsonObject { ["requestDeleteRange"] = new JsonObject { ["key"] = key } }),
        }.ToJsonString();
        var errors = new List<string>();
        using var http = _handler is null ? new HttpClient() : new HttpClient(_handler, disposeHandler: false);
        foreach (var endpoint in _endpoints)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(new Uri(endpoint, "v3/kv/txn"), content, timeout.Token).ConfigureAwait(false);
                var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    errors.Add($"{endpoint.Authority}: http {(int)response.StatusCode} {Short(text)}");
                    continue;
                }

                using var doc = JsonDocument.Parse(text);
                var succeeded = doc.RootElement.TryGetProperty("succeeded", out var s) && s.ValueKind == JsonValueKind.True;
                return succeeded
                    ? (true, $"released {Key} (it named {member}) in etcd {endpoint.Authority}: the failover need not wait for its ttl")
                    : (false, $"{Key} no longer names {member} in etcd {endpoint.Authority}: left alone");
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                errors.Add($"{endpoint.Authority}: {ex.GetType().Name}: {Short(ex.Message)}");
            }
        }

        return (false, $"could not release {Key} ({string.Join("; ", errors)}): it expires by itself within ttl");
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Short(string text) => text.Length <= 160 ? text.Trim() : text[..157].Trim() + "...";
}
