using System.Globalization;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Catalog;

/// <summary>The type of a parameter's text value (actions and reads take text: a CLI's <c>--param</c>, a skill's <c>with:</c>, a tool call).</summary>
internal enum ParameterType
{
    String,
    Integer,
    Number,
    Boolean,

    /// <summary>A JSON document (a JSON merge patch, a list of changes).</summary>
    Json,

    /// <summary>Comma-separated names.</summary>
    List,

    /// <summary>An ISO 8601 time.</summary>
    Time,
}

/// <summary>
/// One parameter of an action or a read, described for an operator, a linter and a model: name, type, whether it is
/// required, its default, the values it allows, bounds. <see cref="Check"/> validates a text value against it, and
/// <see cref="ToJsonSchema"/> gives the JSON Schema a tool definition carries.
/// </summary>
internal sealed record ParameterSpec(string Name, ParameterType Type, string Description)
{
    public bool Required { get; init; }

    /// <summary>The value used when the parameter is absent (as text), when there is a fixed one.</summary>
    public string? Default { get; init; }

    /// <summary>The only values allowed; empty: any value of the type.</summary>
    public IReadOnlyList<string> AllowedValues { get; init; } = [];

    public double? Minimum { get; init; }

    public double? Maximum { get; init; }

    /// <summary>What a number counts (<c>seconds</c>, <c>bytes</c>, <c>ratio</c>), for a reader; null when it says nothing useful.</summary>
    public string? Unit { get; init; }

    /// <summary>A number as a parameter's text value (invariant culture), for <see cref="Default"/>.</summary>
    public static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Null when <paramref name="value"/> is acceptable; otherwise what is wrong with it, in words.</summary>
    public string? Check(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (AllowedValues.Count > 0 && !AllowedValues.Contains(value, StringComparer.Ordinal))
        {
            return $"{Name} must be one of {string.Join(", ", AllowedValues)}, got '{value}'";
        }

        switch (Type)
        {
            case ParameterType.Integer:
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i))
                {
                    return $"{Name} must be an integer, got '{value}'";
                }

                return Range(i);
            case ParameterType.Number:
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !double.IsFinite(d))
                {
                    return $"{Name} must be a number, got '{value}'";
                }

                return Range(d);
            case ParameterType.Boolean:
                return value is "true" or "false" ? null : $"{Name} must be true or false, got '{value}'";
            case ParameterType.Json:
                try
                {
                    _ = JsonNode.Parse(value);
                    return null;
                }
                catch (System.Text.Json.JsonException e)
                {
                    return $"{Name} must be JSON: {e.Message}";
                }

            case ParameterType.Time:
                return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _)
                    ? null : $"{Name} must be a time (ISO 8601), got '{value}'";
            case ParameterType.List:
                return value.Split(',').Any(s => s.Trim().Length == 0) ? $"{Name} must be comma-separated names with none empty, got '{value}'" : null;
            default:
                return null;
        }
    }

    /// <summary>The JSON Schema of this parameter (the value as a model or an MCP client passes it).</summary>
    public JsonObject ToJsonSchema()
    {
        var schema = new JsonObject
        {
            ["type"] = Type switch
            {
                ParameterType.Integer => "integer",
                ParameterType.Number => "number",
                ParameterType.Boolean => "boolean",
                _ => "string",
            },
            ["description"] = Description,
        };
        if (Type == ParameterType.Time)
        {
            schema["format"] = "date-time";
        }

        if (AllowedValues.Count > 0)
        {
            schema["enum"] = new JsonArray([.. AllowedValues.Select(v => (JsonNode?)JsonValue.Create(v))]);
        }

        if (Default is not null)
        {
            schema["default"] = Typed(Default);
        }

        if (Minimum is { } min)
        {
            schema["minimum"] = min;
        }

        if (Maximum is { } max)
        {
            schema["maximum"] = max;
        }

        return schema;
    }

    /// <summary>The JSON Schema of an object holding <paramref name="parameters"/> (a tool's input schema); no other property is allowed.</summary>
    public static JsonObject ObjectSchema(IEnumerable<ParameterSpec> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        var properties = new JsonObject();
        foreach (var p in list)
        {
            properties[p.Name] = p.ToJsonSchema();
        }

        return new JsonObject
        {
            ["type"] = "object",
            ["properties"] = properties,
            ["required"] = new JsonArray([.. list.Where(p => p.Required).Select(p => (JsonNode?)JsonValue.Create(p.Name))]),
            ["additionalProperties"] = false,
        };
    }

    /// <summary>A default as the JSON value a tool passes: a number or a boolean when the type says so, else the text.</summary>
    private JsonNode? Typed(string value) => Type switch
    {
        ParameterType.Integer when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => JsonValue.Create(i),
        ParameterType.Number when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => JsonValue.Create(d),
        ParameterType.Boolean when value is "true" or "false" => JsonValue.Create(value == "true"),
        _ => JsonValue.Create(value),
    };

    private string? Range(double v) =>
        Minimum is { } min && v < min ? string.Create(CultureInfo.InvariantCulture, $"{Name} must be at least {min}, got {v}")
        : Maximum is { } max && v > max ? string.Create(CultureInfo.InvariantCulture, $"{Name} must be at most {max}, got {v}")
        : null;
}
