using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DevLab.JmesPath;
using DevLab.JmesPath.Expressions;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// JMESPath (JmesPath.Net, the language of Ansible's json_query) as skills use it. Expressions are evaluated over the
/// cluster snapshot's JSON; the runner's own values are JMESPath variables: <c>$steps</c>, <c>$trigger</c>,
/// <c>$cluster</c>, <c>$params</c>. They reach the expression through a <c>let</c> over a reserved top-level member
/// (<see cref="ContextMember"/>) that the runner adds to its copy of the snapshot.
/// </summary>
internal static partial class SkillJmesPath
{
    public const string ContextMember = "__pgra";

    /// <summary>Variables the runner binds, in binding order.</summary>
    public static IReadOnlyList<string> Variables { get; } = ["steps", "trigger", "cluster", "params", "findings"];

    // One let per variable: JmesPath.Net 1.1.0 rejects a let with more than two bindings.
    private static readonly string Prefix =
        string.Concat(Variables.Select(v => $"let ${v} = {ContextMember}.{v} in ")) + "(";

    [GeneratedRegex(@"^Error\((\d+),\s*(\d+)\):\s*(.*)$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex PositionedError();

    [GeneratedRegex(@"no function named (\S+) has been registered", RegexOptions.CultureInvariant)]
    private static partial Regex UnknownFunction();

    // Building an engine registers every function; one per thread serves all validations on it.
    [ThreadStatic]
    private static JmesPath? validator;

    /// <summary>A JmesPath.Net engine with the skills' own functions (<c>sqrt</c>) registered.</summary>
    public static JmesPath NewEngine()
    {
        var engine = new JmesPath();
        engine.FunctionRepository.Register<SqrtFunction>();
        return engine;
    }

    /// <summary>Parses <paramref name="text"/> alone; on failure returns the offset in the text and a message.</summary>
    public static (int Offset, string Message)? Validate(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return (0, "empty JMESPath expression");
        }

        try
        {
            validator ??= NewEngine();
            validator.Parse(text);
            return null;
        }
        catch (Exception ex)
        {
            return Describe(text, ex);
        }
    }

    private static (int Offset, string Message) Describe(string text, Exception ex)
    {
        var message = ex.Message.Trim();
        var positioned = PositionedError().Match(message);
        if (positioned.Success)
        {
            var line = int.Parse(positioned.Groups[1].Value, CultureInfo.InvariantCulture);
            var column = int.Parse(positioned.Groups[2].Value, CultureInfo.InvariantCulture);
            var offset = OffsetOf(text, line, column);
            var detail = positioned.Groups[3].Value.TrimEnd('.');
            detail = detail switch
            {
                "syntax, near ''" => "syntax error: the expression ends too early (a bracket, quote or operand missing)",
                _ when detail.StartsWith("syntax, near ", StringComparison.Ordinal) => "syntax error near " + detail["syntax, near ".Length..],
                _ => detail,
            };
            if (ex.InnerException is { } inner)
            {
                detail += $" ({inner.Message.TrimEnd('.')})";
            }

            return (offset, $"JMESPath {detail} in '{text}'");
        }

        var function = UnknownFunction().Match(message);
        if (function.Success)
        {
            var name = function.Groups[1].Value;
            var at = text.IndexOf(name + "(", StringComparison.Ordinal);
            return (Math.Max(at, 0), $"JMESPath has no function '{name}' (functions: https://jmespath.org/specification.html#built-in-functions)");
        }

        if (message.StartsWith("Error: ", StringComparison.Ordinal))
        {
            message = message["Error: ".Length..];
        }

        return (0, $"JMESPath {message.TrimEnd('.')} in '{text}'");
    }

    private static int OffsetOf(string text, int line, int column)
    {
        var offset = 0;
        for (var current = 1; current < line; current++)
        {
            var next = text.IndexOf('\n', offset);
            if (next < 0)
            {
                break;
            }

            offset = next + 1;
        }

        return Math.Clamp(offset + column, 0, Math.Max(text.Length - 1, 0));
    }

    /// <summary>Compiles an expression with the runner's variables bound. Not thread-safe to evaluate concurrently.</summary>
    public static JmesPathExpression Compile(JmesPath engine, string text) => engine.Parse(Prefix + text + ")");

    /// <summary>JMESPath truthiness: false, null, "", [] and {} are false; everything else (0 included) is true.</summary>
    public static bool IsTruthy(JToken? value) => value switch
    {
        null => false,
        { Type: JTokenType.Null or JTokenType.Undefined } => false,
        { Type: JTokenType.Boolean } => value.Value<bool>(),
        { Type: JTokenType.String } => value.Value<string>()!.Length > 0,
        JArray array => array.Count > 0,
        JObject obj => obj.Count > 0,
        _ => true,
    };

    public static JToken ToToken(JsonElement element) => Parse(element.GetRawText());

    public static JToken Parse(string json)
    {
        using var reader = new JsonTextReader(new StringReader(json))
        {
            DateParseHandling = DateParseHandling.None,
            FloatParseHandling = FloatParseHandling.Double,
        };
        return JToken.ReadFrom(reader);
    }

    public static JsonElement ToElement(JToken? token) =>
        System.Text.Json.JsonSerializer.Deserialize<JsonElement>(ToJson(token));

    public static string ToJson(JToken? token) => token is null ? "null" : token.ToString(Formatting.None);

    /// <summary>Text of a value inside a template: strings as they are, anything else as compact JSON.</summary>
    public static string ToText(JToken? token) => token is { Type: JTokenType.String } ? token.Value<string>()! : ToJson(token);
}
