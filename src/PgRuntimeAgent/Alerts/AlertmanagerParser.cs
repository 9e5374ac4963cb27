using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Alerts;

/// <summary>
/// Reads the raw body of an Alertmanager webhook notification (<see cref="AlertmanagerNotification"/>). A body that is
/// not JSON, not version "4", or not shaped as documented is refused with what is wrong and where (a JSON path, and
/// for bad JSON the line and byte); a body or an alert list over <see cref="AlertLimits"/> is refused before it is
/// read further; labels and free text over the limits are cut (counted in <see cref="AlertmanagerAlert.Cut"/>).
/// Unknown fields (Grafana's <c>silenceURL</c>, <c>values</c>...) are ignored. Never throws on input.
/// </summary>
internal static partial class AlertmanagerParser
{
    /// <summary>The payload version this parser reads (Alertmanager's webhook has sent "4" since 0.8).</summary>
    public const string Version = "4";

    private const int MaxDepth = 16;

    public static AlertParseResult Parse(string body, AlertLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        limits ??= AlertLimits.Default;
        // A string longer than the byte limit is over it whatever its encoding; do not encode a huge one to find out.
        return body.Length > limits.MaxBodyBytes
            ? TooLarge(Encoding.UTF8.GetByteCount(body), limits)
            : Parse(Encoding.UTF8.GetBytes(body), limits);
    }

    public static AlertParseResult Parse(ReadOnlyMemory<byte> body, AlertLimits? limits = null)
    {
        limits ??= AlertLimits.Default;
        if (body.Length > limits.MaxBodyBytes)
        {
            return TooLarge(body.Length, limits);
        }

        if (body.Span.StartsWith("\uFEFF"u8))
        {
            body = body[3..];
        }

        if (body.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return Fail(AlertPayloadErrorCode.BadJson, "$", "the body is empty: expected Alertmanager's webhook JSON (version \"4\")");
        }

        if (InvalidUtf8At(body.Span) is { } bad)
        {
            return Fail(AlertPayloadErrorCode.BadJson, "$", $"the body is not valid UTF-8 (byte {bad.ToString(CultureInfo.InvariantCulture)}): Alertmanager sends UTF-8 JSON");
        }

        if (body.Span.IndexOf("\\u"u8) >= 0)
        {
            // A lone escaped surrogate ("\uDFFF" alone) parses but throws when its string is read: made U+FFFD first.
            body = Encoding.UTF8.GetBytes(Sensing.JsonRead.WithoutLoneSurrogates(Encoding.UTF8.GetString(body.Span)));
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException ex)
        {
            var line = (ex.LineNumber ?? 0) + 1;
            var position = (ex.BytePositionInLine ?? 0) + 1;
            return new AlertParseResult(null, new AlertPayloadError
            {
                Code = AlertPayloadErrorCode.BadJson,
                Path = ex.Path is { Length: > 0 } p ? p : "$",
                Line = line,
                Column = position,
                Message = $"the body is not valid JSON at line {line}, byte {position}: {Shorten(ex.Message)}",
            });
        }

        using (doc)
        {
            try
            {
                return new AlertParseResult(Read(doc.RootElement, limits), null);
            }
            catch (PayloadProblem problem)
            {
                return new AlertParseResult(null, problem.Error);
            }
        }
    }

    /// <summary>The 1-based offset of the first byte that is not valid UTF-8, or null (the JSON reader only finds it when it reads the string).</summary>
    private static long? InvalidUtf8At(ReadOnlySpan<byte> body)
    {
        if (System.Text.Unicode.Utf8.IsValid(body))
        {
            return null;
        }

        var at = 0;
        while (at < body.Length && Rune.DecodeFromUtf8(body[at..], out _, out var used) == System.Buffers.OperationStatus.Done)
        {
            at += used;
        }

        return at + 1;
    }

    /// <summary>A fingerprint for an alert whose sender gave none: 16 hex digits of SHA-256 over its sorted labels.</summary>
    public static string Fingerprint(IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var text = new StringBuilder();
        foreach (var (name, value) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            text.Append(name).Append('\u0000').Append(value).Append('\u0000');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    private static AlertmanagerNotification Read(JsonElement root, AlertLimits limits)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Problem(AlertPayloadErrorCode.BadShape, "$", $"expected a JSON object (Alertmanager's webhook notification), got {Kind(root)}");
        }

        if (!root.TryGetProperty("version", out var version))
        {
            throw Problem(AlertPayloadErrorCode.WrongVersion, "$.version",
                $"missing: Alertmanager's webhook notification carries \"version\": \"{Version}\" (is this another sender's format?)");
        }

        if (version.ValueKind != JsonValueKind.String || version.GetString() != Version)
        {
            throw Problem(AlertPayloadErrorCode.WrongVersion, "$.version",
                $"is {Shorten(version.GetRawText())}; only version \"{Version}\" of Alertmanager's webhook payload is understood");
        }

        if (!root.TryGetProperty("alerts", out var alerts) || alerts.ValueKind != JsonValueKind.Array)
        {
            throw Problem(AlertPayloadErrorCode.BadShape, "$.alerts",
                alerts.ValueKind == JsonValueKind.Undefined ? "missing: expected the list of alerts" : $"expected an array of alerts, got {Kind(alerts)}");
        }

        var count = alerts.GetArrayLength();
        if (count > limits.MaxAlerts)
        {
            throw Problem(AlertPayloadErrorCode.TooManyAlerts, "$.alerts",
                $"{count.ToString(CultureInfo.InvariantCulture)} alerts in one notification; at most {limits.MaxAlerts.ToString(CultureInfo.InvariantCulture)} are accepted (set max_alerts in the webhook_config)");
        }

        var read = new List<AlertmanagerAlert>(count);
        var i = 0;
        foreach (var alert in alerts.EnumerateArray())
        {
            read.Add(ReadAlert(alert, $"$.alerts[{i.ToString(CultureInfo.InvariantCulture)}]", limits));
            i++;
        }

        var cut = 0;
        return new AlertmanagerNotification
        {
            Version = Version,
            Status = Status(root, "$", required: false) ?? (read.Any(a => a.Status == AlertStatus.Firing) ? AlertStatus.Firing : AlertStatus.Resolved),
            Receiver = Text(root, "receiver", "$", limits.MaxTextChars, ref cut),
            Alerts = read,
            GroupLabels = Map(root, "groupLabels", "$", limits.MaxLabels, limits.MaxLabelChars, ref cut),
            CommonLabels = Map(root, "commonLabels", "$", limits.MaxLabels, limits.MaxLabelChars, ref cut),
            CommonAnnotations = Map(root, "commonAnnotations", "$", limits.MaxAnnotations, limits.MaxAnnotationChars, ref cut),
            ExternalUrl = Text(root, "externalURL", "$", limits.MaxTextChars, ref cut),
            GroupKey = Text(root, "groupKey", "$", limits.MaxTextChars, ref cut),
            TruncatedAlerts = root.TryGetProperty("truncatedAlerts", out var t) && t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var n) ? Math.Max(0, n) : 0,
        };
    }

    private static AlertmanagerAlert ReadAlert(JsonElement alert, string path, AlertLimits limits)
    {
        if (alert.ValueKind != JsonValueKind.Object)
        {
            throw Problem(AlertPayloadErrorCode.BadShape, path, $"expected an alert object, got {Kind(alert)}");
        }

        if (!alert.TryGetProperty("labels", out var labelsElement) || labelsElement.ValueKind != JsonValueKind.Object)
        {
            throw Problem(AlertPayloadErrorCode.BadShape, path + ".labels",
                labelsElement.ValueKind == JsonValueKind.Undefined ? "missing: every alert has labels" : $"expected an object of labels, got {Kind(labelsElement)}");
        }

        var cut = 0;
        var labels = Map(alert, "labels", path, limits.MaxLabels, limits.MaxLabelChars, ref cut);
        var annotations = Map(alert, "annotations", path, limits.MaxAnnotations, limits.MaxAnnotationChars, ref cut);
        var startsAt = Time(alert, "startsAt", path, required: true)!.Value;
        var endsAt = Time(alert, "endsAt", path, required: false);
        var fingerprint = Text(alert, "fingerprint", path, 64, ref cut);
        return new AlertmanagerAlert
        {
            Status = Status(alert, path, required: true)!.Value,
            Labels = labels,
            Annotations = annotations,
            StartsAt = startsAt,
            EndsAt = endsAt is { Year: 1 } ? null : endsAt,
            GeneratorUrl = Text(alert, "generatorURL", path, limits.MaxTextChars, ref cut),
            Fingerprint = fingerprint.Length > 0 ? fingerprint : Fingerprint(labels),
            FingerprintComputed = fingerprint.Length == 0,
            Cut = cut,
        };
    }

    private static AlertStatus? Status(JsonElement parent, string path, bool required)
    {
        if (!parent.TryGetProperty("status", out var status))
        {
            return required ? throw Problem(AlertPayloadErrorCode.BadShape, path + ".status", "missing: expected \"firing\" or \"resolved\"") : null;
        }

        return status.ValueKind == JsonValueKind.String ? status.GetString() switch
        {
            "firing" => AlertStatus.Firing,
            "resolved" => AlertStatus.Resolved,
            _ => throw Problem(AlertPayloadErrorCode.BadShape, path + ".status", $"is {Shorten(status.GetRawText())}; expected \"firing\" or \"resolved\""),
        } : throw Problem(AlertPayloadErrorCode.BadShape, path + ".status", $"expected \"firing\" or \"resolved\", got {Kind(status)}");
    }

    /// <summary>RFC 3339 as Alertmanager writes it: date, <c>T</c>, time, optional fraction (up to nanoseconds), <c>Z</c> or an offset.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Rfc3339();

    private static DateTimeOffset? Time(JsonElement parent, string name, string path, bool required)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return required ? throw Problem(AlertPayloadErrorCode.BadShape, $"{path}.{name}", "missing: expected an RFC 3339 time") : null;
        }

        if (value.ValueKind == JsonValueKind.String && value.GetString() is { } text && Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        throw Problem(AlertPayloadErrorCode.BadShape, $"{path}.{name}", $"is {Shorten(value.GetRawText())}; expected an RFC 3339 time such as \"2026-11-22T21:10:00.123Z\"");
    }

    private static string Text(JsonElement parent, string name, string path, int max, ref int cut)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return "";
        }

        return value.ValueKind == JsonValueKind.String
            ? Bound(value.GetString()!, max, ref cut)
            : throw Problem(AlertPayloadErrorCode.BadShape, $"{path}.{name}", $"expected a string, got {Kind(value)}");
    }

    /// <summary>A string map (labels, annotations): scalar values are taken as their text; objects and arrays are refused.</summary>
    private static IReadOnlyDictionary<string, string> Map(JsonElement parent, string name, string path, int maxEntries, int maxChars, ref int cut)
    {
        if (!parent.TryGetProperty(name, out var map) || map.ValueKind == JsonValueKind.Null)
        {
            return AlertmanagerNotification.Empty;
        }

        if (map.ValueKind != JsonValueKind.Object)
        {
            throw Problem(AlertPayloadErrorCode.BadShape, $"{path}.{name}", $"expected an object of strings, got {Kind(map)}");
        }

        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            var text = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => p.Value.GetRawText(),
                JsonValueKind.Null => "",
                _ => throw Problem(AlertPayloadErrorCode.BadShape, $"{path}.{name}.{p.Name}", $"expected a string, got {Kind(p.Value)}"),
            };
            var key = Bound(p.Name, maxChars, ref cut);
            entries[key] = Bound(text, maxChars, ref cut);
        }

        if (entries.Count <= maxEntries)
        {
            return entries;
        }

        cut += entries.Count - maxEntries;
        // alertname (and Pigsty's identity labels) stay whatever else is left out.
        var keep = entries.Keys.Where(Identity).Concat(entries.Keys.Where(k => !Identity(k))).Take(maxEntries).ToHashSet(StringComparer.Ordinal);
        return new SortedDictionary<string, string>(entries.Where(e => keep.Contains(e.Key)).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal), StringComparer.Ordinal);

        static bool Identity(string label) => label is "alertname" or "cls" or "ins" or "cluster" or "instance" or "severity" or "level";
    }

    /// <summary>Cuts <paramref name="text"/> to <paramref name="max"/> characters (ending in an ellipsis), never inside a surrogate pair.</summary>
    internal static string Bound(string text, int max, ref int cut)
    {
        if (text.Length <= max)
        {
            return text;
        }

        cut++;
        var keep = Math.Max(0, max - 1);
        if (keep > 0 && char.IsHighSurrogate(text[keep - 1]))
        {
            keep--;
        }

        return string.Concat(text.AsSpan(0, keep), "…");
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Shorten(string text)
    {
        var cut = 0;
        var at = text.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return Bound(at > 0 ? text[..at].TrimEnd(' ', '|') : text, 120, ref cut);
    }

    private static AlertParseResult TooLarge(long bytes, AlertLimits limits) => Fail(AlertPayloadErrorCode.TooLarge, "$",
        $"the body is {bytes.ToString(CultureInfo.InvariantCulture)} bytes; at most {limits.MaxBodyBytes.ToString(CultureInfo.InvariantCulture)} are accepted (set max_alerts in the webhook_config)");

    private static AlertParseResult Fail(AlertPayloadErrorCode code, string path, string message) =>
        new(null, new AlertPayloadError { Code = code, Path = path, Message = message });

    private static PayloadProblem Problem(AlertPayloadErrorCode code, string path, string message) =>
        new(new AlertPayloadError { Code = code, Path = path, Message = $"{path}: {message}" });

    /// <summary>Carries a shape problem out of the recursive read (never leaves the parser).</summary>
    private sealed class PayloadProblem(AlertPayloadError error) : Exception(error.Message)
    {
        public AlertPayloadError Error { get; } = error;
    }
}

/// <summary>A parsed notification, or why the body was refused.</summary>
internal sealed record AlertParseResult(AlertmanagerNotification? Notification, AlertPayloadError? Error);

/// <summary>Why a notification was refused: what (<see cref="Message"/>, which names <see cref="Path"/>) and where.</summary>
internal sealed record AlertPayloadError
{
    public required AlertPayloadErrorCode Code { get; init; }

    /// <summary>One line: where (a JSON path, or line and byte for bad JSON), what is wrong and what is expected.</summary>
    public required string Message { get; init; }

    /// <summary>The JSON path of the offending value (<c>$.alerts[3].status</c>); <c>$</c> for the whole body.</summary>
    public required string Path { get; init; }

    /// <summary>1-based line of bad JSON; null for other errors.</summary>
    public long? Line { get; init; }

    /// <summary>1-based byte in <see cref="Line"/> of bad JSON; null for other errors.</summary>
    public long? Column { get; init; }

    /// <summary>The HTTP status a web host answers with: 413 for a body or an alert list over the limits, 400 otherwise.</summary>
    public int HttpStatus => Code is AlertPayloadErrorCode.TooLarge or AlertPayloadErrorCode.TooManyAlerts ? 413 : 400;
}

/// <summary>Kinds of refused notifications.</summary>
internal enum AlertPayloadErrorCode
{
    /// <summary>Not JSON (or empty).</summary>
    BadJson,

    /// <summary>No <c>version</c>, or not "4".</summary>
    WrongVersion,

    /// <summary>JSON, but not shaped as the documented payload (a missing or mistyped field).</summary>
    BadShape,

    /// <summary>The body is over <see cref="AlertLimits.MaxBodyBytes"/>.</summary>
    TooLarge,

    /// <summary>More alerts than <see cref="AlertLimits.MaxAlerts"/>.</summary>
    TooManyAlerts,
}
