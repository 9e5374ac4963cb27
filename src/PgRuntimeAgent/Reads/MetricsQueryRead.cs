using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Metrics;

namespace PgRuntimeAgent.Reads;

/// <summary><c>metrics.query</c>: a PromQL/MetricsQL query, instant or over a bounded range, with a bounded series count.</summary>
internal sealed class MetricsQueryRead : IRead
{
    /// <summary>The longest range a query may cover.</summary>
    public const int MaxRangeMinutes = 360;

    /// <summary>The finest step of a range query.</summary>
    public const int MinStepSeconds = 15;

    public const int MaxSeries = 200;

    public const int DefaultSeries = 50;

    /// <summary>How far back a range may end (the metrics store's usual retention).</summary>
    public const int MaxAgeDays = 30;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "metrics.query",
        Summary = "A PromQL/MetricsQL query against the configured Prometheus-compatible API: instant (range_minutes 0) or over a range of at most 6 hours. Pigsty labels: cls (cluster), ins (member), job.",
        Source = ReadSource.Metrics,
        Member = MemberUse.None,
        Parameters =
        [
            new ParameterSpec("query", ParameterType.String, "The PromQL/MetricsQL expression, for example pg_up{cls=\"pg-test\"}.") { Required = true },
            new ParameterSpec("range_minutes", ParameterType.Integer, "0 for an instant query; else the range ending at 'at', in minutes.")
            {
                Default = "0",
                Minimum = 0,
                Maximum = MaxRangeMinutes,
            },
            new ParameterSpec("step_seconds", ParameterType.Integer, "Resolution of a range query.")
            {
                Default = "60",
                Minimum = MinStepSeconds,
                Maximum = 3600,
            },
            new ParameterSpec("at", ParameterType.Time, "Evaluation time (instant) or end of the range; absent: now. At most 30 days ago, not in the future."),
            new ParameterSpec("max_series", ParameterType.Integer, "Most series returned (sorted by labels).")
            {
                Default = "50",
                Minimum = 1,
                Maximum = MaxSeries,
            },
        ],
        Bound = $"range at most {MaxRangeMinutes / 60} h, step at least {MinStepSeconds} s (so at most 1,441 samples a series), at most {MaxSeries} series (default {DefaultSeries})",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var query = request.Text("query")!;
        if (string.IsNullOrWhiteSpace(query))
        {
            throw new InputException("parameter query must not be empty");
        }

        var now = context.Time.GetUtcNow();
        var at = request.Time("at") ?? now;
        if (at > now.AddMinutes(1) || at < now.AddDays(-MaxAgeDays))
        {
            throw new InputException(string.Create(CultureInfo.InvariantCulture, $"parameter at must be within the last {MaxAgeDays} days and not in the future, got {at:O}"));
        }

        var rangeMinutes = (int)request.Integer("range_minutes")!.Value;
        var step = TimeSpan.FromSeconds(request.Integer("step_seconds")!.Value);
        var maxSeries = (int)request.Integer("max_series")!.Value;
        var start = at - TimeSpan.FromMinutes(rangeMinutes);
        var outcome = rangeMinutes == 0
            ? await context.QueryMetricsAsync(query, at, cancellationToken).ConfigureAwait(false)
            : await context.QueryMetricsRangeAsync(query, start, at, step, cancellationToken).ConfigureAwait(false);
        if (outcome.Value is not { } result)
        {
            return ReadResults.Failed(outcome.Reason ?? "the metrics query failed");
        }

        var sorted = result.Series.OrderBy(s => string.Join(",", s.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")), StringComparer.Ordinal).ToList();
        var (series, truncated) = ReadResults.Take(sorted, maxSeries);
        return new JsonObject
        {
            ["query"] = query,
            ["endpoint"] = context.MetricsUrl?.ToString(),
            ["result_type"] = result.ResultType,
            ["start"] = rangeMinutes == 0 ? null : start,
            ["end"] = at,
            ["step_seconds"] = rangeMinutes == 0 ? null : step.TotalSeconds,
            ["max_series"] = maxSeries,
            ["series_total"] = result.Series.Count,
            ["truncated"] = truncated,
            ["series"] = new JsonArray([.. series.Select(Series)]),
            ["warnings"] = ReadResults.ToNode(result.Warnings),
        };
    }

    private static JsonObject Series(PromSeries s) => new()
    {
        ["labels"] = ReadResults.ToNode(s.Labels),
        ["samples"] = new JsonArray([.. s.Samples.Select(p => (JsonNode)new JsonArray(p.Timestamp, p.Value))]),
    };
}
