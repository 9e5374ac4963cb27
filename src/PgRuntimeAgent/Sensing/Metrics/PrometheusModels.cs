using System.Globalization;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Sensing.Metrics;

/// <summary>A sample as the API sends it: a Unix timestamp (seconds, fractional) and the value as a string.</summary>
/// <param name="Value">"1", "0.25", "NaN", "+Inf", "-Inf": kept verbatim so nothing is lost in the journal.</param>
public sealed record PromSample(double Timestamp, string Value)
{
    /// <summary>The value as a number (NaN and infinities included); NaN when not a number at all.</summary>
    [JsonIgnore]
    public double Number => ParseValue(Value);

    public static double ParseValue(string? value) => value switch
    {
        null => double.NaN,
        "+Inf" or "Inf" or "inf" or "+inf" => double.PositiveInfinity,
        "-Inf" or "-inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : double.NaN,
    };
}

/// <summary>One series: its labels and its samples (one for a vector, many for a matrix).</summary>
public sealed record PromSeries(IReadOnlyDictionary<string, string> Labels, IReadOnlyList<PromSample> Samples)
{
    public string? Label(string name) => Labels.TryGetValue(name, out var v) ? v : null;
}

/// <summary>The data of a query: result type (vector, matrix, scalar, string) and series.</summary>
public sealed record PromQueryResult(string ResultType, IReadOnlyList<PromSeries> Series, IReadOnlyList<string> Warnings);

/// <summary>An alert from /api/v1/alerts.</summary>
public sealed record PromAlert
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>firing, pending or inactive.</summary>
    public string State { get; init; } = "";

    public string? ActiveAt { get; init; }
    public string? Value { get; init; }

    [JsonIgnore]
    public string Name => Labels.TryGetValue("alertname", out var n) ? n : "";
}

/// <summary>A rule group from /api/v1/rules.</summary>
public sealed record PromRuleGroup(string Name, string? File, IReadOnlyList<PromRule> Rules);

/// <summary>A recording or alerting rule, with its health as the server evaluates it.</summary>
public sealed record PromRule(string Name, string Type, string Query, string? Health, string? State, string? LastError);
