using System.Globalization;
using System.Text.Json;

namespace PgRuntimeAgent.Sensing;

/// <summary>Tolerant readers over <see cref="JsonElement"/>: a missing field or an odd type is null, never a throw.</summary>
internal static class JsonRead
{
    public static JsonDocument Parse(string body, string endpoint)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            throw new SensorResponseException(endpoint, "empty response body");
        }

        try
        {
            return JsonDocument.Parse(WithoutLoneSurrogates(body));
        }
        catch (JsonException ex)
        {
            throw new SensorResponseException(endpoint, $"malformed JSON ({ex.Message}); body starts with: {Excerpt(body)}", ex);
        }
    }

    /// <summary>
    /// <paramref name="body"/> with every escaped UTF-16 surrogate that has no partner (<c>\uDBFF</c> alone) replaced
    /// by <c>\uFFFD</c>. System.Text.Json parses such a document but throws when a name or string holding one is read
    /// (a fuzzed Patroni answer with one in a property name failed every lookup in its object).
    /// </summary>
    public static string WithoutLoneSurrogates(string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (!body.Contains("\\u", StringComparison.Ordinal))
        {
            return body;
        }

        System.Text.StringBuilder? fixedBody = null;
        var copied = 0;
        for (var i = 0; i < body.Length - 1; i++)
        {
            if (body[i] != '\\')
            {
                continue;
            }

            if (body[i + 1] != 'u' || !TryEscapedUnit(body, i, out var unit))
            {
                i++; // another escape (\\, \", \n ...): its second character is not the start of one
                continue;
            }

            var paired = char.IsHighSurrogate(unit) && TryEscapedUnit(body, i + 6, out var low) && char.IsLowSurrogate(low);
            if (paired)
            {
                i += 11;
                continue;
            }

            if (char.IsSurrogate(unit))
            {
                fixedBody ??= new System.Text.StringBuilder(body.Length);
                fixedBody.Append(body, copied, i - copied).Append("\\uFFFD");
                copied = i + 6;
            }

            i += 5;
        }

        return fixedBody is null ? body : fixedBody.Append(body, copied, body.Length - copied).ToString();
    }

    /// <summary>The UTF-16 unit of the <c>\uXXXX</c> escape at <paramref name="at"/>, when there is one.</summary>
    private static bool TryEscapedUnit(string body, int at, out char unit)
    {
        unit = default;
        if (at + 6 > body.Length || body[at] != '\\' || body[at + 1] != 'u'
            || !ushort.TryParse(body.AsSpan(at + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        unit = (char)value;
        return true;
    }

    public static string Excerpt(string body, int max = 120)
    {
        var oneLine = body.ReplaceLineEndings(" ").Trim();
        return oneLine.Length <= max ? oneLine : string.Concat(oneLine.AsSpan(0, max), "...");
    }

    public static JsonElement? Prop(this JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static string? Str(this JsonElement e, string name) => e.Prop(name) is { } v ? AsString(v) : null;

    public static string? AsString(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    public static long? Long(this JsonElement e, string name) => e.Prop(name) is { } v ? AsLong(v) : null;

    public static long? AsLong(JsonElement v)
    {
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out var l))
            {
                return l;
            }

            return v.TryGetDouble(out var d) && !double.IsNaN(d) && Math.Abs(d) < long.MaxValue ? (long)d : null;
        }

        if (v.ValueKind == JsonValueKind.String && long.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
        {
            return s;
        }

        return null;
    }

    /// <summary>A Unix time in seconds; null when missing, not a number, or outside what a date can hold (year 1 to 9999).</summary>
    public static DateTimeOffset? UnixSeconds(this JsonElement e, string name) => FromUnixSeconds(e.Long(name));

    /// <summary>Null for null or a value outside <see cref="DateTimeOffset"/>'s range, never a throw.</summary>
    public static DateTimeOffset? FromUnixSeconds(long? seconds) =>
        seconds is { } s && s >= MinUnixSeconds && s <= MaxUnixSeconds ? DateTimeOffset.FromUnixTimeSeconds(s) : null;

    private static readonly long MinUnixSeconds = DateTimeOffset.MinValue.ToUnixTimeSeconds();
    private static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    public static double? Double(this JsonElement e, string name)
    {
        if (e.Prop(name) is not { } v)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d))
        {
            return d;
        }

        return v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : null;
    }

    public static bool? Bool(this JsonElement e, string name)
    {
        if (e.Prop(name) is not { } v)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String => v.GetString() is { } s && (s.Equals("true", StringComparison.OrdinalIgnoreCase) || s == "on" || s == "1"),
            JsonValueKind.Number => v.TryGetInt64(out var n) && n != 0,
            _ => null,
        };
    }

    public static IReadOnlyDictionary<string, string> StringMap(this JsonElement e, string name)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (e.Prop(name) is { ValueKind: JsonValueKind.Object } obj)
        {
            foreach (var p in obj.EnumerateObject())
            {
                if (AsString(p.Value) is { } s)
                {
                    map[p.Name] = s;
                }
                else if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                {
                    map[p.Name] = p.Value.GetRawText();
                }
            }
        }

        return map;
    }
}
