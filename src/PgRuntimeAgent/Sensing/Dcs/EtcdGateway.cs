using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Sensing.Dcs;

/// <summary>
/// etcd's v3 JSON gateway (<c>POST /v3/kv/range</c>, <c>/v3/kv/txn</c>, <c>/v3/lease/grant</c>...), spoken to each
/// member in turn until one answers. Keys and values travel base64-encoded and 64-bit numbers as strings, as the
/// gateway does. Never throws for etcd's answers or an unreachable etcd: the caller gets every member's error in one line.
/// </summary>
public sealed class EtcdGateway
{
    /// <summary>The pooled connections used when the caller passes none.</summary>
    private static readonly SensingHttp SharedHttp = new();

    private readonly SensingHttp _http;

    /// <param name="endpoints">etcd client URLs, tried in turn.</param>
    /// <param name="http">The pooled HTTP connections to use; null: a process-wide pool.</param>
    public EtcdGateway(IReadOnlyList<Uri> endpoints, SensingHttp? http = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        Endpoints = endpoints;
        _http = http ?? SharedHttp;
    }

    public IReadOnlyList<Uri> Endpoints { get; }

    /// <summary>
    /// POSTs <paramref name="body"/> to <paramref name="path"/> (<c>v3/kv/range</c>) at each member in turn (each under
    /// <paramref name="timeout"/>) and returns the first answer that parses: the member that gave it and its JSON
    /// root, else every member's error in one line.
    /// </summary>
    public async Task<(string? Endpoint, JsonElement? Root, string Errors)> PostAsync(string path, JsonObject body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var json = body.ToJsonString();
        var errors = new List<string>();
        foreach (var endpoint in Endpoints)
        {
            using var http = _http.CreateClient(endpoint);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout);
            try
            {
                using var content = new StringContent(json, Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(new Uri(endpoint, path), content, limit.Token).ConfigureAwait(false);
                var text = await response.Content.ReadAsStringAsync(limit.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    errors.Add($"{endpoint.Authority}: http {(int)response.StatusCode} {Short(text)}");
                    continue;
                }

                using var doc = JsonDocument.Parse(text);
                return (endpoint.Authority, doc.RootElement.Clone(), "");
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                errors.Add($"{endpoint.Authority}: {(ex is OperationCanceledException ? string.Create(CultureInfo.InvariantCulture, $"timed out after {timeout.TotalSeconds:0.###}s") : $"{ex.GetType().Name}: {Short(ex.Message)}")}");
            }
        }

        return (null, null, Endpoints.Count == 0 ? "no etcd endpoint" : string.Join("; ", errors));
    }

    /// <summary>A number as the gateway writes it (a JSON string for 64-bit values, sometimes a number); null otherwise.</summary>
    public static long? Number(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number when e.TryGetInt64(out var n) => n,
        JsonValueKind.String when long.TryParse(e.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
        _ => null,
    };

    /// <summary>The number at <paramref name="name"/> of <paramref name="e"/>; null when absent (the gateway omits zeros).</summary>
    public static long? Number(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? Number(v) : null;

    /// <summary>Decodes a base64 key or value; null when it is not base64.</summary>
    public static string? TryBase64(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(text));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    /// <summary>The key just past every key starting with <paramref name="prefix"/> (a range's <c>range_end</c>), base64.</summary>
    public static string PrefixEnd(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var bytes = Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return Convert.ToBase64String(bytes.AsSpan(0, i + 1));
            }
        }

        return Convert.ToBase64String([0]);
    }

    private static string Short(string text) => text.Length <= 160 ? text.Trim() : text[..157].Trim() + "...";
}
