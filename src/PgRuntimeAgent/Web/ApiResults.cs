using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Web;

/// <summary>
/// How the API answers: JSON bodies passed through the secret store's redaction (nothing leaves unredacted), errors
/// as <c>{"ok": false, "error": ..., "problems": [...]}</c> with the status that says whose the problem is, and the
/// strict reading of query strings (an unknown parameter or a bad value is a 400 naming it).
/// </summary>
internal static class ApiResults
{
    public static IResult Json(SecretStore secrets, string json, int status = StatusCodes.Status200OK) =>
        Results.Text(secrets.RedactJson(json), "application/json", Encoding.UTF8, status);

    public static IResult Json(SecretStore secrets, JsonNode? node, int status = StatusCodes.Status200OK) =>
        Json(secrets, node?.ToJsonString(ApiJson.Options) ?? "null", status);

    public static IResult Error(SecretStore secrets, int status, string error, IReadOnlyList<string>? problems = null)
    {
        var body = new JsonObject { ["ok"] = false, ["error"] = error };
        if (problems is { Count: > 0 })
        {
            body["problems"] = new JsonArray([.. problems.Select(p => (JsonNode?)JsonValue.Create(p))]);
        }

        return Json(secrets, body, status);
    }

    /// <summary>A route handler of the context alone that writes its result (not a bare <see cref="RequestDelegate"/>, which would drop it).</summary>
    public static Delegate Handler(Func<HttpContext, Task<IResult>> route) => route;

    /// <summary>Runs a route; an <see cref="InputException"/> (a bad id, parameter or body) becomes a 400 that says what and where.</summary>
    public static async Task<IResult> GuardAsync(SecretStore secrets, Func<Task<IResult>> route)
    {
        try
        {
            return await route().ConfigureAwait(false);
        }
        catch (InputException ex)
        {
            return Error(secrets, StatusCodes.Status400BadRequest, ex.Message, ex.Problems);
        }
    }

    /// <summary>Refuses query parameters the route does not take (a typo would otherwise be ignored silently).</summary>
    public static void OnlyQuery(HttpRequest request, params string[] allowed)
    {
        var unknown = request.Query.Keys.Where(k => !allowed.Contains(k, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"unknown query parameter{(unknown.Count == 1 ? "" : "s")} {string.Join(", ", unknown.Select(u => $"'{u}'"))}; "
                + (allowed.Length == 0 ? "this route takes none" : $"this route takes {string.Join(", ", allowed)}"));
        }
    }

    /// <summary>A query parameter given once (null when absent); given twice or empty is a 400.</summary>
    public static string? Query(HttpRequest request, string name)
    {
        if (!request.Query.TryGetValue(name, out var values))
        {
            return null;
        }

        if (values.Count != 1 || string.IsNullOrWhiteSpace(values[0]))
        {
            throw new InputException($"query parameter '{name}' must be given once, with a value");
        }

        return values[0]!.Trim();
    }

    /// <summary>An integer query parameter within [1, <paramref name="max"/>]; absent: <paramref name="fallback"/>.</summary>
    public static int Limit(HttpRequest request, string name, int fallback, int max)
    {
        if (Query(request, name) is not { } text)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 && n <= max
            ? n
            : throw new InputException(string.Create(CultureInfo.InvariantCulture, $"query parameter '{name}' must be a whole number from 1 to {max}, not '{text}'"));
    }

    /// <summary>
    /// An optional JSON body: <c>Present</c> false when the request has none; otherwise the parsed JSON (a JSON
    /// <c>null</c> is a null node), or an <see cref="InputException"/> saying <paramref name="expected"/> when it is not JSON.
    /// </summary>
    public static async Task<(bool Present, JsonNode? Body)> OptionalBodyAsync(HttpContext context, string expected)
    {
        if (context.Request.ContentLength is null or 0 && !context.Request.Headers.TransferEncoding.Any())
        {
            return (false, null);
        }

        try
        {
            return (true, await ParseBodyAsync(context).ConfigureAwait(false));
        }
        catch (JsonException)
        {
            throw new InputException(expected);
        }
    }

    /// <summary>
    /// The request's JSON body, with every lone escaped surrogate (<c>\uDFFF</c> alone) made U+FFFD first: System.Text.Json
    /// accepts such a document but throws an InvalidOperationException when the string is read, which would be a 500.
    /// </summary>
    public static async Task<JsonNode?> ParseBodyAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var text = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        return JsonNode.Parse(Sensing.JsonRead.WithoutLoneSurrogates(text));
    }

    /// <summary>A node of <paramref name="value"/> serialized with <paramref name="options"/> (the CLI's JSON for the same thing).</summary>
    public static JsonNode? Node<T>(T value, JsonSerializerOptions options) => JsonSerializer.SerializeToNode(value, options);
}
