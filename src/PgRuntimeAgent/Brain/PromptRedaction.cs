using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Brain;

/// <summary>
/// The optional redaction of workload data before text leaves the process for a model (on top of the secrets, which
/// are always masked): the names an operator lists in <c>llm.redact_names</c> (tables, columns, schemas, applications)
/// become stable pseudonyms (<c>pgra_name_1</c>...), and with <c>llm.redact_query_literals</c> every single-quoted SQL
/// literal left in a log line or a query text becomes <c>'?'</c>. Pseudonyms the model writes back in a tool's
/// arguments are restored before the tool runs, so it can still ask to ANALYZE <c>pgra_name_1</c>, and in its answer
/// for the operator, who knows the names anyway.
/// </summary>
internal sealed partial class PromptRedaction
{
    public const string PseudonymPrefix = "pgra_name_";

    private readonly List<(Regex Name, string Pseudonym)> _names = [];
    private readonly Dictionary<string, string> _back = new(StringComparer.Ordinal);
    private readonly bool _literals;

    public PromptRedaction(IEnumerable<string>? names, bool literals)
    {
        _literals = literals;
        var i = 0;
        // Longer names first, so "orders_archive" is not cut by "orders".
        foreach (var name in (names ?? []).Where(n => !string.IsNullOrWhiteSpace(n)).Select(n => n.Trim()).Distinct(StringComparer.OrdinalIgnoreCase)
                     .OrderByDescending(n => n.Length))
        {
            var pseudonym = PseudonymPrefix + (++i).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _names.Add((new Regex($@"(?<![A-Za-z0-9_$]){Regex.Escape(name)}(?![A-Za-z0-9_$])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant), pseudonym));
            _back[pseudonym] = name;
        }
    }

    /// <summary>Nothing to do: no names listed and literals kept.</summary>
    public bool IsEmpty => _names.Count == 0 && !_literals;

    /// <summary>What may leave the process: the listed names pseudonymised, single-quoted literals masked when asked.</summary>
    public string Outbound(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_literals)
        {
            text = Literal().Replace(text, "'?'");
        }

        foreach (var (name, pseudonym) in _names)
        {
            text = name.Replace(text, pseudonym);
        }

        return text;
    }

    /// <summary>The model's text with the pseudonyms it used turned back into the names (tool arguments, its answer).</summary>
    public string Inbound(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _back.Count == 0 ? text : Pseudonym().Replace(text, m => _back.GetValueOrDefault(m.Value) ?? m.Value);
    }

    /// <summary>A JSON value with every string value redacted as <see cref="Outbound(string)"/> (property names are the agent's own, kept).</summary>
    public JsonNode? Outbound(JsonNode? node) => Map(node, Outbound);

    /// <summary>A JSON value (a tool's arguments) with the pseudonyms in its string values turned back into names.</summary>
    public JsonNode? Inbound(JsonNode? node) => Map(node, Inbound);

    private static JsonNode? Map(JsonNode? node, Func<string, string> text) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Map(p.Value, text)))),
        JsonArray a => new JsonArray([.. a.Select(v => Map(v, text))]),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => JsonValue.Create(text(v.GetValue<string>())),
        _ => node?.DeepClone(),
    };

    /// <summary>A SQL literal: a single quote not inside a word ("doesn't" is not one), up to the closing quote ('' escapes one).</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9])'(?:[^'\n]|'')*'", RegexOptions.CultureInvariant)]
    private static partial Regex Literal();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])pgra_name_[0-9]+(?![A-Za-z0-9_])", RegexOptions.CultureInvariant)]
    private static partial Regex Pseudonym();
}
