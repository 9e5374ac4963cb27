using System.Globalization;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Detection;

namespace PgRuntimeAgent.Catalog;

/// <summary>
/// Everything the agent can do, read and detect, each described by its own declaration: the one list the CLI,
/// skills and their linter, the policy gate, the model's tools, the MCP server and the console read.
/// <see cref="ToJson"/> is a documented interface (docs/catalog.md, <c>pgra catalog --json</c>).
/// </summary>
internal sealed record AgentCatalog(IReadOnlyList<ActionDescriptor> Actions, IReadOnlyList<ReadDescriptor> Reads, IReadOnlyList<DetectorDescriptor> Detectors)
{
    /// <summary>The format's name and version in <see cref="ToJson"/>; bumped on an incompatible change.</summary>
    public const string Format = "pgra.catalog/v1";

    /// <summary>The catalogue of this build.</summary>
    public static AgentCatalog Default { get; } = new(
        [.. ActionKinds.All.Select(k => k.Descriptor)],
        global::PgRuntimeAgent.Reads.ReadCatalog.Descriptors,
        Detection.Detectors.Descriptors);

    public ActionDescriptor? FindAction(string kind) => Actions.FirstOrDefault(a => string.Equals(a.Kind, kind, StringComparison.Ordinal));

    public ReadDescriptor? FindRead(string name) => Reads.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));

    public DetectorDescriptor? FindDetector(string code) => Detectors.FirstOrDefault(d => string.Equals(d.Code, code, StringComparison.Ordinal));

    /// <summary>The catalogue as JSON: snake_case keys, enums in kebab case, every parameter list also as a JSON Schema object.</summary>
    public JsonObject ToJson() => new()
    {
        ["format"] = Format,
        ["actions"] = new JsonArray([.. Actions.Select(a => (JsonNode)new JsonObject
        {
            ["kind"] = a.Kind,
            ["policy_class"] = a.PolicyClass,
            ["summary"] = a.Summary,
            ["member"] = Name(a.Member),
            ["risk"] = Name(a.Risk),
            ["reversible"] = a.Reversible,
            ["loss_bound"] = a.LossBound,
            ["undo"] = a.Undo,
            ["verify_timeout_seconds"] = a.VerifyTimeout.TotalSeconds,
            ["parameters"] = ParameterList(a.Parameters),
            ["input_schema"] = ParameterSpec.ObjectSchema(a.Parameters),
        })]),
        ["reads"] = new JsonArray([.. Reads.Select(r => (JsonNode)new JsonObject
        {
            ["name"] = r.Name,
            ["summary"] = r.Summary,
            ["source"] = Name(r.Source),
            ["member"] = Name(r.Member),
            ["bound"] = r.Bound,
            ["parameters"] = ParameterList(r.Parameters),
            ["input_schema"] = ParameterSpec.ObjectSchema(r.Parameters),
        })]),
        ["detectors"] = new JsonArray([.. Detectors.Select(d => (JsonNode)new JsonObject
        {
            ["code"] = d.Code,
            ["severity"] = Name(d.Severity),
            ["summary"] = d.Summary,
            ["explanation"] = d.Explanation,
            ["consecutive_snapshots"] = d.ConsecutiveSnapshots,
            ["minimum_seconds"] = d.MinimumSeconds,
            ["root_cause_rank"] = d.RootCauseRank,
            ["explains"] = new JsonArray([.. d.Explains.Select(c => (JsonNode)c)]),
            ["thresholds"] = new JsonArray([.. d.Thresholds.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name,
                ["type"] = Name(t.Type),
                ["default"] = Number(t.Type, t.Default),
                ["unit"] = t.Unit,
                ["minimum"] = t.Minimum,
                ["maximum"] = t.Maximum,
                ["description"] = t.Description,
                ["setting"] = $"detection.thresholds.{d.Code}.{t.Name}",
            })]),
            ["settings"] = ParameterList(d.Settings),
        })]),
    };

    private static JsonArray ParameterList(IReadOnlyList<ParameterSpec> parameters) => new([.. parameters.Select(p => (JsonNode)new JsonObject
    {
        ["name"] = p.Name,
        ["type"] = Name(p.Type),
        ["required"] = p.Required,
        ["default"] = p.Default,
        ["allowed_values"] = new JsonArray([.. p.AllowedValues.Select(v => (JsonNode?)JsonValue.Create(v))]),
        ["minimum"] = p.Minimum,
        ["maximum"] = p.Maximum,
        ["description"] = p.Description,
    })]);

    /// <summary>A threshold's default as a JSON number (whole for an integer), or null when it has none.</summary>
    private static JsonNode? Number(ParameterType type, string? text) => text is null ? null
        : type == ParameterType.Integer ? JsonValue.Create(long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))
        : JsonValue.Create(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));

    private static string Name<T>(T value)
        where T : struct, Enum => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(Convert.ToString(value, CultureInfo.InvariantCulture)!);
}
