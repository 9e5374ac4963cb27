using System.Globalization;
using System.Net;
using System.Text.Json;
using Refit;

namespace PgRuntimeAgent.Sensing.Metrics;

/// <summary>
/// The Prometheus HTTP API (v1) as served by Prometheus and VictoriaMetrics. Each method returns the raw response:
/// the body, whatever its status, is read by <see cref="PrometheusClient"/>'s parsers. Times are Unix seconds and the
/// step seconds, as the API takes them.
/// </summary>
internal interface IPrometheusApi
{
    [Get("/api/v1/query")]
    Task<HttpResponseMessage> QueryAsync([AliasAs("query")] string query, [AliasAs("time")] string? time, CancellationToken cancellationToken);

    [Get("/api/v1/query_range")]
    Task<HttpResponseMessage> QueryRangeAsync([AliasAs("query")] string query, [AliasAs("start")] string start, [AliasAs("end")] string end,
        [AliasAs("step")] string step, CancellationToken cancellationToken);

    [Get("/api/v1/alerts")]
    Task<HttpResponseMessage> GetAlertsAsync(CancellationToken cancellationToken);

    [Get("/api/v1/rules")]
    Task<HttpResponseMessage> GetRulesAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Instant and range queries, alerts and rules over <see cref="IPrometheusApi"/>. Error bodies
/// (<c>{"status":"error","errorType":..,"error":..}</c>) become <see cref="SensorResponseException"/>s naming the endpoint.
/// </summary>
internal sealed class PrometheusClient
{
    private readonly IPrometheusApi _api;

    private int _requests;

    public PrometheusClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        BaseUrl = http.BaseAddress ?? throw new ArgumentException("The metrics client needs a base address.", nameof(http));
        _api = SensingHttp.CreateApi<IPrometheusApi>(http);
    }

    public Uri BaseUrl { get; }

    /// <summary>Number of HTTP requests this client has sent (for the benchmark's query counts).</summary>
    public int Requests => _requests;

    public async Task<PromQueryResult> QueryAsync(string query, DateTimeOffset? at, CancellationToken cancellationToken)
    {
        var time = at is { } t ? Unix(t) : null;
        using var doc = await GetAsync("api/v1/query", (api, ct) => api.QueryAsync(query, time, ct), cancellationToken).ConfigureAwait(false);
        return ParseData(doc.Document.RootElement, doc.Endpoint);
    }

    public async Task<PromQueryResult> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        var seconds = step.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        using var doc = await GetAsync("api/v1/query_range", (api, ct) => api.QueryRangeAsync(query, Unix(start), Unix(end), seconds, ct), cancellationToken)
            .ConfigureAwait(false);
        return ParseData(doc.Document.RootElement, doc.Endpoint);
    }

    public async Task<IReadOnlyList<PromAlert>> GetAlertsAsync(CancellationToken cancellationToken)
    {
        using var doc = await GetAsync("api/v1/alerts", (api, ct) => api.GetAlertsAsync(ct), cancellationToken).ConfigureAwait(false);
        var data = Data(doc.Document.RootElement, doc.Endpoint);
        if (data.Prop("alerts") is not { ValueKind: JsonValueKind.Array } alerts)
        {
            throw new SensorResponseException(doc.Endpoint, "data.alerts is missing or not an array");
        }

        return alerts.EnumerateArray().Select(a => new PromAlert
        {
            Labels = Labels(a.Prop("labels")),
            Annotations = Labels(a.Prop("annotations")),
            State = a.Str("state") ?? "",
            ActiveAt = a.Str("activeAt"),
            Value = a.Str("value"),
        }).ToList();
    }

    public async Task<IReadOnlyList<PromRuleGroup>> GetRulesAsync(CancellationToken cancellationToken)
    {
        using var doc = await GetAsync("api/v1/rules", (api, ct) => api.GetRulesAsync(ct), cancellationToken).ConfigureAwait(false);
        var data = Data(doc.Document.RootElement, doc.Endpoint);
        if (data.Prop("groups") is not { ValueKind: JsonValueKind.Array } groups)
        {
            throw new SensorResponseException(doc.Endpoint, "data.groups is missing or not an array");
        }

        return groups.EnumerateArray().Select(g => new PromRuleGroup(
            g.Str("name") ?? "",
            g.Str("file"),
            g.Prop("rules") is { ValueKind: JsonValueKind.Array } rules
                ? rules.EnumerateArray().Select(r => new PromRule(
                    r.Str("name") ?? "", r.Str("type") ?? "", r.Str("query") ?? "", r.Str("health"), r.Str("state"), r.Str("lastError"))).ToList()
                : [])).ToList();
    }

    /// <summary>Parses a query response body (exposed for tests of recorded bodies).</summary>
    public static PromQueryResult ParseQueryBody(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        return ParseData(doc.RootElement, endpoint);
    }

    /// <summary>Sends one call and parses its body as JSON; <paramref name="path"/> (as the API declares it) names the endpoint.</summary>
    private async Task<DisposableDoc> GetAsync(string path, Func<IPrometheusApi, CancellationToken, Task<HttpResponseMessage>> call,
        CancellationToken cancellationToken)
    {
        var endpoint = $"GET {SensingHttp.ApiUrl(BaseUrl, path)}";
        Interlocked.Increment(ref _requests);
        using var response = await call(_api, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        JsonDocument doc;
        try
        {
            doc = JsonRead.Parse(body, endpoint);
        }
        catch (SensorResponseException) when (response.StatusCode != HttpStatusCode.OK)
        {
            throw new SensorResponseException(endpoint, $"answered HTTP {(int)response.StatusCode} {response.StatusCode}: {JsonRead.Excerpt(body)}");
        }

        var root = doc.RootElement;
        if (root.Str("status") == "error" || response.StatusCode != HttpStatusCode.OK)
        {
            var problem = root.Str("error") is { } e
                ? $"{root.Str("errorType") ?? "error"}: {e}"
                : JsonRead.Excerpt(body);
            doc.Dispose();
            throw new SensorResponseException(endpoint, $"answered HTTP {(int)response.StatusCode}: {problem}");
        }

        return new DisposableDoc(doc, endpoint);
    }

    private static JsonElement Data(JsonElement root, string endpoint)
    {
        if (root.Str("status") != "success")
        {
            throw new SensorResponseException(endpoint, $"status is {root.Str("status") ?? "missing"}, expected success");
        }

        return root.Prop("data") ?? throw new SensorResponseException(endpoint, "the response has no data");
    }

    private static PromQueryResult ParseData(JsonElement root, string endpoint)
    {
        var data = Data(root, endpoint);
        var type = data.Str("resultType") ?? throw new SensorResponseException(endpoint, "data.resultType is missing");
        var warnings = root.Prop("warnings") is { ValueKind: JsonValueKind.Array } w
            ? w.EnumerateArray().Select(JsonRead.AsString).OfType<string>().ToList()
            : [];
        var result = data.Prop("result") ?? throw new SensorResponseException(endpoint, "data.result is missing");
        var series = new List<PromSeries>();
        switch (type)
        {
            case "vector":
            case "matrix":
                if (result.ValueKind != JsonValueKind.Array)
                {
                    throw new SensorResponseException(endpoint, $"data.result of a {type} is not an array");
                }

                foreach (var s in result.EnumerateArray())
                {
                    var samples = new List<PromSample>();
                    if (s.Prop("value") is { } v)
                    {
                        samples.Add(Sample(v, endpoint));
                    }

                    if (s.Prop("values") is { ValueKind: JsonValueKind.Array } vs)
                    {
                        samples.AddRange(vs.EnumerateArray().Select(x => Sample(x, endpoint)));
                    }

                    series.Add(new PromSeries(Labels(s.Prop("metric")), samples));
                }

                break;
            case "scalar":
            case "string":
                series.Add(new PromSeries(new Dictionary<string, string>(), [Sample(result, endpoint)]));
                break;
            default:
                throw new SensorResponseException(endpoint, $"unknown resultType '{type}'");
        }

        return new PromQueryResult(type, series, warnings);
    }

    private static PromSample Sample(JsonElement pair, string endpoint)
    {
        if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
        {
            throw new SensorResponseException(endpoint, $"a sample is not a [timestamp, \"value\"] pair: {JsonRead.Excerpt(pair.GetRawText())}");
        }

        var ts = pair[0];
        var t = ts.ValueKind == JsonValueKind.Number ? ts.GetDouble()
            : double.TryParse(JsonRead.AsString(ts), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
            : throw new SensorResponseException(endpoint, $"a sample timestamp is not a number: {ts.GetRawText()}");
        return new PromSample(t, JsonRead.AsString(pair[1]) ?? "NaN");
    }

    private static Dictionary<string, string> Labels(JsonElement? obj)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj is { ValueKind: JsonValueKind.Object } o)
        {
            foreach (var p in o.EnumerateObject())
            {
                map[p.Name] = JsonRead.AsString(p.Value) ?? "";
            }
        }

        return map;
    }

    private static string Unix(DateTimeOffset t) => (t.ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    private sealed class DisposableDoc(JsonDocument document, string endpoint) : IDisposable
    {
        public JsonDocument Document { get; } = document;
        public string Endpoint { get; } = endpoint;
        public void Dispose() => Document.Dispose();
    }
}
