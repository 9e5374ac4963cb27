using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Sensing.Metrics;
using Refit;

namespace PgRuntimeAgent.Sensing.Logs;

/// <summary>
/// Loki's query API. The raw response is returned: the body, whatever its status, is read by
/// <see cref="LokiLogSource"/>'s parsers. Start and end are Unix nanoseconds; without a limit Loki applies its own.
/// </summary>
internal interface ILokiApi
{
    [Get("/loki/api/v1/query_range")]
    Task<HttpResponseMessage> QueryRangeAsync([AliasAs("query")] string query, [AliasAs("start")] string start, [AliasAs("end")] string end,
        [AliasAs("direction")] string direction, [AliasAs("limit")] int? limit, CancellationToken cancellationToken);
}

/// <summary>
/// Grafana Loki (Pigsty 3.x): LogQL over <c>/loki/api/v1/query_range</c> (<see cref="ILokiApi"/>) with nanosecond
/// start/end, <c>direction=backward</c> and a limit. Streams carry Pigsty's labels (cls, ins, job, level).
/// </summary>
internal sealed class LokiLogSource : ILogSource
{
    private const string QueryRangePath = "loki/api/v1/query_range";

    private readonly ILokiApi _api;

    public LokiLogSource(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        BaseUrl = http.BaseAddress ?? throw new ArgumentException("The Loki client needs a base address.", nameof(http));
        _api = SensingHttp.CreateApi<ILokiApi>(http);
    }

    public string Kind => "loki";

    public Uri BaseUrl { get; }

    public async Task<LogQueryResult> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var logql = BuildLogQl(query);
        var body = await GetAsync(logql, query.Since, query.Until, query.Limit, cancellationToken).ConfigureAwait(false);
        var entries = ParseStreams(body.Body, body.Endpoint);
        var (bounded, truncated) = LogSeverities.Bound(entries, query.Limit);
        return new LogQueryResult(bounded, truncated || entries.Count >= query.Limit, []);
    }

    /// <summary>A LogQL metric query (count_over_time by level, ...) as series.</summary>
    public async Task<PromQueryResult> QueryMetricAsync(string logql, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var body = await GetAsync(logql, since, until, null, cancellationToken).ConfigureAwait(false);
        return ParseMatrix(body.Body, body.Endpoint);
    }

    public static string BuildLogQl(LogQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var selector = new StringBuilder("{cls=\"").Append(Escape(query.Cluster)).Append('"');
        if (query.Members.Count > 0)
        {
            selector.Append(",ins=~\"").Append(Escape(string.Join("|", query.Members.Select(System.Text.RegularExpressions.Regex.Escape)))).Append('"');
        }

        selector.Append('}');
        if (!string.IsNullOrEmpty(query.Grep))
        {
            // Case-insensitive line filter, as the file backend does.
            selector.Append(" |~ \"(?i)").Append(Escape(System.Text.RegularExpressions.Regex.Escape(query.Grep))).Append('"');
        }

        return selector.ToString();
    }

    public static string Nanoseconds(DateTimeOffset t) =>
        ((t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100L).ToString(CultureInfo.InvariantCulture);

    public static IReadOnlyList<LogEntry> ParseStreams(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        var data = Data(doc.RootElement, endpoint);
        var type = data.Str("resultType");
        if (type != "streams")
        {
            throw new SensorResponseException(endpoint, $"expected resultType streams, got {type ?? "none"}");
        }

        if (data.Prop("result") is not { ValueKind: JsonValueKind.Array } result)
        {
            throw new SensorResponseException(endpoint, "data.result is missing or not an array");
        }

        var entries = new List<LogEntry>();
        foreach (var stream in result.EnumerateArray())
        {
            var labels = stream.StringMap("stream");
            labels.TryGetValue("ins", out var member);
            labels.TryGetValue("job", out var job);
            labels.TryGetValue("level", out var level);
            var source = LogSeverities.SourceOf(job);
            if (stream.Prop("values") is not { ValueKind: JsonValueKind.Array } values)
            {
                continue;
            }

            foreach (var v in values.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() < 2
                    || !long.TryParse(JsonRead.AsString(v[0]), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ns))
                {
                    throw new SensorResponseException(endpoint, $"a stream value is not a [\"<ns>\", \"line\"] pair: {JsonRead.Excerpt(v.GetRawText())}");
                }

                var time = DateTimeOffset.UnixEpoch.AddTicks(ns / 100);
                entries.Add(LogLineParser.ParseSingle(JsonRead.AsString(v[1]) ?? "", time, member, source, level));
            }
        }

        return entries;
    }

    public static PromQueryResult ParseMatrix(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        Data(doc.RootElement, endpoint);
        return PrometheusClient.ParseQueryBody(body, endpoint);
    }

    private async Task<(string Body, string Endpoint)> GetAsync(string logql, DateTimeOffset since, DateTimeOffset until, int? limit, CancellationToken cancellationToken)
    {
        var endpoint = $"GET {SensingHttp.ApiUrl(BaseUrl, QueryRangePath)}";
        using var response = await _api.QueryRangeAsync(logql, Nanoseconds(since), Nanoseconds(until), "backward", limit, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new SensorResponseException(endpoint, $"answered HTTP {(int)response.StatusCode}: {ErrorText(body)}");
        }

        return (body, endpoint);
    }

    private static string ErrorText(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.Str("error") is { } e)
            {
                return $"{doc.RootElement.Str("errorType") ?? "error"}: {e}";
            }
        }
        catch (JsonException)
        {
            // Loki often answers errors as plain text.
        }

        return JsonRead.Excerpt(body, 300);
    }

    private static JsonElement Data(JsonElement root, string endpoint)
    {
        if (root.Str("status") is { } s && s != "success")
        {
            throw new SensorResponseException(endpoint, $"status {s}: {root.Str("errorType")}: {root.Str("error")}");
        }

        return root.Prop("data") ?? throw new SensorResponseException(endpoint, "the response has no data");
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
