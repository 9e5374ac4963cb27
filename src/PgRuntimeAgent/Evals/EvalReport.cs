using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Evals;

/// <summary>
/// One evaluation run as <c>pgra eval</c> writes it (<see cref="EvalReportWriter"/>): when, with which model, the
/// summary, every case's score, and the comparison with a previous report when one was given. Its JSON
/// (<see cref="Format"/>, snake_case keys) is a documented interface: docs/evals.md, "The report".
/// </summary>
internal sealed record EvalReport
{
    /// <summary>The JSON format's name and version; bumped on an incompatible change.</summary>
    public const string FormatName = "pgra.eval/v1";

    public string Format { get; init; } = FormatName;

    public required DateTimeOffset GeneratedAt { get; init; }

    /// <summary>What was run: the --cases path or glob.</summary>
    public string Source { get; init; } = "";

    /// <summary>The language model's name (null: the deterministic agent alone).</summary>
    public string? Model { get; init; }

    public required EvalSummary Summary { get; init; }

    public IReadOnlyList<EvalCaseScore> Cases { get; init; } = [];

    public EvalComparison? Comparison { get; init; }

    /// <summary>What the runner observed in each case, as scored: <c>pgra eval rescore</c> scores them again (after a case's expectations change) without running anything.</summary>
    public IReadOnlyList<EvalObservation> Observations { get; init; } = [];
}

/// <summary>How a report differs from a previous one: per metric and per case.</summary>
internal sealed record EvalComparison
{
    public required DateTimeOffset PreviousGeneratedAt { get; init; }

    public string? PreviousModel { get; init; }

    public IReadOnlyList<EvalMetricDelta> Metrics { get; init; } = [];

    /// <summary>Cases in both reports, with their pass and times before and now.</summary>
    public IReadOnlyList<EvalCaseDelta> Cases { get; init; } = [];

    /// <summary>Cases that passed before and fail now.</summary>
    public IReadOnlyList<string> NewlyFailing { get; init; } = [];

    /// <summary>Cases that failed before and pass now.</summary>
    public IReadOnlyList<string> NewlyPassing { get; init; } = [];

    /// <summary>Cases only in this report.</summary>
    public IReadOnlyList<string> Added { get; init; } = [];

    /// <summary>Cases only in the previous report.</summary>
    public IReadOnlyList<string> Removed { get; init; } = [];
}

/// <summary>One metric before and now; <see cref="Verdict"/> is better, worse, same, or "-" when either is missing.</summary>
internal sealed record EvalMetricDelta
{
    public required string Name { get; init; }

    public double? Previous { get; init; }

    public double? Current { get; init; }

    public double? Delta { get; init; }

    public bool HigherIsBetter { get; init; }

    public string Verdict { get; init; } = "-";
}

/// <summary>One case in both reports.</summary>
internal sealed record EvalCaseDelta
{
    public required string Case { get; init; }

    public bool PreviousPass { get; init; }

    public bool CurrentPass { get; init; }

    public double? PreviousTimeToDetectSeconds { get; init; }

    public double? CurrentTimeToDetectSeconds { get; init; }

    public double? PreviousTimeToRestoreSeconds { get; init; }

    public double? CurrentTimeToRestoreSeconds { get; init; }

    /// <summary>Why it fails now, when it newly fails.</summary>
    public IReadOnlyList<string> Why { get; init; } = [];
}

/// <summary>The report's JSON style: snake_case keys, enums in snake_case, indented.</summary>
internal static class EvalJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize(EvalReport report) => JsonSerializer.Serialize(report, Options);

    /// <summary>A report read back (the previous one to compare with); <see cref="InputException"/> when it is not one.</summary>
    public static EvalReport Deserialize(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        string? format;
        try
        {
            using var doc = JsonDocument.Parse(json);
            format = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String
                ? f.GetString() : null;
        }
        catch (JsonException ex)
        {
            throw new InputException($"{source} is not JSON ({ex.Message})", ["pass the .json file a previous `pgra eval` wrote"]);
        }

        if (format != EvalReport.FormatName)
        {
            throw new InputException($"{source} is not a {EvalReport.FormatName} report (format: {format ?? "none"})",
                ["pass the .json file a previous `pgra eval` wrote; a report of another format version cannot be compared"]);
        }

        try
        {
            return JsonSerializer.Deserialize<EvalReport>(json, Options) ?? throw new InputException($"{source} holds no report");
        }
        catch (JsonException ex)
        {
            throw new InputException($"{source} is a damaged {EvalReport.FormatName} report ({ex.Message})", ["pass the .json file a previous `pgra eval` wrote, unedited"]);
        }
    }
}
