using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Refit;

namespace PgRuntimeAgent.Sensing.Logs;

/// <summary>
/// VictoriaLogs' LogsQL query API. The raw response is returned: the body (JSON lines), whatever its status, is read
/// by <see cref="VictoriaLogsLogSource"/>'s parsers.
/// </summary>
internal interface IVictoriaLogsApi
{
    [Get("/select/logsql/query")]
    Task<HttpResponseMessage> QueryAsync([AliasAs("query")] string query, [AliasAs("limit")] int limit, CancellationToken cancellationToken);
}

/// <summary>
/// VictoriaLogs (Pigsty 4.x): LogsQL over <c>/select/logsql/query</c> (<see cref="IVictoriaLogsApi"/>), answered as
/// JSON lines, one object per entry with <c>_time</c>, <c>_msg</c> and Pigsty's fields (cls, ins, job, level).
/// </summary>
internal sealed class VictoriaLogsLogSource : ILogSource
{
    private const string QueryPath = "select/logsql/query";

    private readonly IVictoriaLogsApi _api;

    public VictoriaLogsLogSource(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        BaseUrl = http.BaseAddress ?? throw new ArgumentException("The VictoriaLogs client needs a base address.", nameof(http));
        _api = SensingHttp.CreateApi<IVictoriaLogsApi>(http);
    }

    public string Kind => "victorialogs";

    public Uri BaseUrl { get; }

    public async Task<LogQueryResult> QueryAsync(LogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var logsql = BuildLogsQl(query);
        var endpoint = $"GET {SensingHttp.ApiUrl(BaseUrl, QueryPath)}";
        using var response = await _api.QueryAsync(logsql, query.Limit, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new SensorResponseException(endpoint, $"answered HTTP {(int)response.StatusCode}: {JsonRead.Excerpt(body, 300)}");
        }

        var entries = ParseJsonLines(body, endpoint);
        var (bounded, truncated) = LogSeverities.Bound(entries, query.Limit);
        return new LogQueryResult(bounded, truncated || entries.Count >= query.Limit, []);
    }

    public static string BuildLogsQl(LogQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var q = new StringBuilder();
        q.Append("_time:[").Append(Rfc3339(query.Since)).Append(", ").Append(Rfc3339(query.Until)).Append(')');
        q.Append(" cls:=").Append(Quote(query.Cluster));
        if (query.Members.Count > 0)
        {
            q.Append(" ins:in(").Append(string.Join(",", query.Members.Select(Quote))).Append(')');
        }

        if (!string.IsNullOrEmpty(query.Grep))
        {
            // Case-insensitive substring match on the message, as the file backend does.
            q.Append(" _msg:~").Append(Quote("(?i)" + System.Text.RegularExpressions.Regex.Escape(query.Grep)));
        }

        q.Append(" | sort by (_time desc) | limit ").Append(query.Limit.ToString(CultureInfo.InvariantCulture));
        return q.ToString();
    }

    public static IReadOnlyList<LogEntry> ParseJsonLines(string body, string endpoint)
    {
        ArgumentNullException.ThrowIfNull(body);
        var entries = new List<LogEntry>();
        var lineNo = 0;
        foreach (var raw in body.Split('\n'))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                throw new SensorResponseException(endpoint, $"line {lineNo} is not JSON ({ex.Message}): {JsonRead.Excerpt(line)}", ex);
            }

            using (doc)
            {
                var o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object)
                {
                    throw new SensorResponseException(endpoint, $"line {lineNo} is not a JSON object: {JsonRead.Excerpt(line)}");
                }

                string? msg, timeText, instance, job, level;
                try
                {
                    msg = o.Str("_msg");
                    timeText = o.Str("_time");
                    instance = o.Str("ins");
                    job = o.Str("job");
                    level = o.Str("level");
                }
                catch (InvalidOperationException ex)
                {
                    // A value with an unpaired UTF-16 surrogate escape ("\uDBFF") is valid JSON but no string.
                    throw new SensorResponseException(endpoint, $"line {lineNo} holds text that is not a string ({ex.Message}): {JsonRead.Excerpt(line)}", ex);
                }

                if (msg is null || timeText is null)
                {
                    // A stats row or another shape: not a log entry.
                    continue;
                }

                if (!DateTimeOffset.TryParse(timeText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
                {
                    throw new SensorResponseException(endpoint, $"line {lineNo}: _time '{timeText}' is not RFC 3339");
                }

                entries.Add(LogLineParser.ParseSingle(msg, time, instance, LogSeverities.SourceOf(job), level));
            }
        }

        return entries;
    }

    /// <summary>Parses <c>| stats by (level) count()</c> rows into level -> count.</summary>
    public static IReadOnlyDictionary<string, long> ParseCounts(string body, string endpoint, string byField)
    {
        ArgumentNullException.ThrowIfNull(body);
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in body.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            using var doc = JsonRead.Parse(line, endpoint);
            var o = doc.RootElement;
            string key;
            JsonProperty countProp;
            try
            {
                key = o.Str(byField) ?? "";
                countProp = o.ValueKind == JsonValueKind.Object
                    ? o.EnumerateObject().FirstOrDefault(p => p.Name.StartsWith("count", StringComparison.Ordinal))
                    : default;
            }
            catch (InvalidOperationException ex)
            {
                // A name or value with an unpaired UTF-16 surrogate escape ("\uDBFF") is valid JSON but no string.
                throw new SensorResponseException(endpoint, $"stats row holds text that is not a string ({ex.Message}): {JsonRead.Excerpt(line)}", ex);
            }

            if (countProp.Value.ValueKind == JsonValueKind.Undefined || JsonRead.AsLong(countProp.Value) is not { } n)
            {
                throw new SensorResponseException(endpoint, $"stats row has no count: {JsonRead.Excerpt(line)}");
            }

            counts[key] = n;
        }

        return counts;
    }

    private static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
