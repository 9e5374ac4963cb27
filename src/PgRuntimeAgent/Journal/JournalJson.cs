using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Journal;

/// <summary>
/// JSON for the journal: the serializer options payloads are written with, the canonical form (sorted keys, no
/// whitespace, every string redacted) and the entry hash.
/// </summary>
internal static class JournalJson
{
    /// <summary>Hash of "no previous entry".</summary>
    public const string GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

    /// <summary>Version of the canonical serialisation (part of every hash).</summary>
    public const int CanonicalVersion = 1;

    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    /// <summary>
    /// The canonical text of <paramref name="payload"/>: object keys sorted (ordinal), no whitespace, numbers as
    /// written, every string value and key passed through <paramref name="secrets"/>' redaction. Null becomes <c>{}</c>.
    /// </summary>
    public static string Canonicalize(JsonNode? payload, SecretStore? secrets)
    {
        if (payload is null)
        {
            return "{}";
        }

        using var doc = JsonDocument.Parse(payload.ToJsonString(Options));
        return Canonicalize(doc.RootElement, secrets);
    }

    public static string Canonicalize(JsonElement element, SecretStore? secrets)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, element, secrets);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Write(Utf8JsonWriter writer, JsonElement element, SecretStore? secrets, string? key = null)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(Redact(property.Name, secrets));
                    Write(writer, property.Value, secrets, property.Name);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    Write(writer, item, secrets);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                // The key matters: a secret that is a number ("8008") is masked as a password's value, not as a port.
                writer.WriteStringValue(secrets is null ? element.GetString() ?? "" : secrets.RedactValue(key, element.GetString()));
                break;
            case JsonValueKind.Number:
                writer.WriteRawValue(element.GetRawText(), skipInputValidation: true);
                break;
            case JsonValueKind.True:
                writer.WriteBooleanValue(true);
                break;
            case JsonValueKind.False:
                writer.WriteBooleanValue(false);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }

    private static string Redact(string? text, SecretStore? secrets) => secrets is null ? text ?? "" : secrets.Redact(text);

    /// <summary>
    /// SHA-256 (lowercase hex) over the canonical serialisation of an entry: a JSON object with the keys
    /// cluster, correlation, kind, member, payload (embedded canonical JSON), prev, seq, summary, time, topic, v in that order.
    /// </summary>
    public static string ComputeHash(long seq, string time, string kind, string? cluster, string? member, string? correlationId,
        string? topic, string summary, string canonicalPayload, string prevHash)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            WriteNullable(writer, "cluster", cluster);
            WriteNullable(writer, "correlation", correlationId);
            writer.WriteString("kind", kind);
            WriteNullable(writer, "member", member);
            writer.WritePropertyName("payload");
            writer.WriteRawValue(canonicalPayload, skipInputValidation: false);
            writer.WriteString("prev", prevHash);
            writer.WriteNumber("seq", seq);
            writer.WriteString("summary", summary);
            writer.WriteString("time", time);
            WriteNullable(writer, "topic", topic);
            writer.WriteNumber("v", CanonicalVersion);
            writer.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    public static string ComputeHash(JournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        try
        {
            return ComputeHash(entry.Seq, JournalEntry.FormatTime(entry.Time), entry.Kind, entry.Cluster, entry.Member,
                entry.CorrelationId, entry.Topic, entry.Summary, entry.Payload, entry.PrevHash);
        }
        catch (JsonException)
        {
            // A payload that is no longer valid JSON cannot match any hash.
            return "invalid-payload";
        }
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
