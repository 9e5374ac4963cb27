using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Logs;

namespace PgRuntimeAgent.Reads;

/// <summary><c>logs.search</c>: log entries of a cluster or a member in a bounded window, through the configured backend.</summary>
internal sealed class LogsSearchRead : IRead
{
    public const int MaxEntries = 1000;

    public const int DefaultEntries = 100;

    public const int MaxWindowMinutes = 360;

    /// <summary>Longest message kept; longer ones are cut and marked.</summary>
    public const int MaxMessageChars = 2000;

    /// <summary>How many entries are fetched per one returned when filtering by severity (then cut to the limit).</summary>
    private const int SeverityOverfetch = 4;

    private static readonly string[] Severities = [.. Enum.GetNames<LogSeverity>().Where(n => n != nameof(LogSeverity.Unknown)).Select(n => n.ToLowerInvariant())];

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "logs.search",
        Summary = "PostgreSQL, Patroni and pgBackRest log entries of the cluster (or one member) in a time window, newest first, from the log backend the settings configure (log files, Loki or VictoriaLogs); optionally only entries containing a text or of a minimum severity.",
        Source = ReadSource.Logs,
        Member = MemberUse.Optional,
        Parameters =
        [
            new ParameterSpec("since_minutes", ParameterType.Integer, "Window length before 'until', in minutes.")
            {
                Default = "15",
                Minimum = 1,
                Maximum = MaxWindowMinutes,
            },
            new ParameterSpec("until", ParameterType.Time, "End of the window; absent: now."),
            new ParameterSpec("grep", ParameterType.String, "Only entries whose message contains this text (case-insensitive for files; the backend's semantics otherwise)."),
            new ParameterSpec("min_severity", ParameterType.String, "Only entries at least this severe.") { AllowedValues = Severities },
            new ParameterSpec("limit", ParameterType.Integer, "Most entries returned (the newest).")
            {
                Default = "100",
                Minimum = 1,
                Maximum = MaxEntries,
            },
        ],
        Bound = $"at most {MaxEntries:N0} entries (default {DefaultEntries}) in a window of at most {MaxWindowMinutes / 60} h; messages cut at {MaxMessageChars:N0} characters",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var cluster = context.Cluster(request.Cluster);
        var until = request.Time("until") ?? context.Time.GetUtcNow();
        var since = until - TimeSpan.FromMinutes(request.Integer("since_minutes")!.Value);
        var limit = (int)request.Integer("limit")!.Value;
        var minSeverity = request.Text("min_severity") is { } s ? Enum.Parse<LogSeverity>(s, ignoreCase: true) : LogSeverity.Unknown;
        var query = new LogQuery
        {
            Cluster = cluster.Name,
            Members = request.Member is { } m ? [m] : [],
            Since = since,
            Until = until,
            Grep = request.Text("grep"),
            Limit = minSeverity == LogSeverity.Unknown ? limit : limit * SeverityOverfetch,
        };
        var (result, health) = await context.QueryLogsAsync(cluster, query, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return ReadResults.Failed($"logs of {cluster.Name} could not be read: {health.Reason}");
        }

        var matching = result.Entries.Where(e => e.Severity >= minSeverity).OrderByDescending(e => e.Time).ToList();
        var (entries, cut) = ReadResults.Take(matching, limit);
        return new JsonObject
        {
            ["backend"] = health.Target,
            ["since"] = since,
            ["until"] = until,
            ["limit"] = limit,
            ["truncated"] = cut || result.Truncated,
            ["count"] = entries.Count,
            ["entries"] = new JsonArray([.. entries.Select(Entry)]),
            ["warnings"] = ReadResults.ToNode(result.Warnings),
        };
    }

    private static JsonObject Entry(LogEntry e) => new()
    {
        ["time"] = e.Time,
        ["member"] = e.Member,
        ["source"] = e.Source,
        ["severity"] = e.Severity.ToString().ToLower(CultureInfo.InvariantCulture),
        ["sqlstate"] = e.SqlState,
        ["message"] = ReadResults.Cut(e.Message, MaxMessageChars),
    };
}
