using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary>The one JSON form of a snapshot (journal, replay, <c>pgra snapshot --json</c>): snake_case, enums as strings.</summary>
public static class SnapshotJson
{
    public static JsonSerializerOptions Options { get; } = Create(indented: true);

    public static JsonSerializerOptions Compact { get; } = Create(indented: false);

    public static string Serialize(ClusterSnapshot snapshot, bool indented = true) =>
        JsonSerializer.Serialize(snapshot, indented ? Options : Compact);

    /// <summary>Reads a snapshot back; refuses a newer schema than this build understands.</summary>
    public static ClusterSnapshot Deserialize(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using (var doc = JsonDocument.Parse(json))
        {
            if (doc.RootElement.TryGetProperty("schema_version", out var v) && v.TryGetInt32(out var version) && version > ClusterSnapshot.CurrentSchemaVersion)
            {
                throw new NotSupportedException($"snapshot schema_version {version} is newer than this pgra understands ({ClusterSnapshot.CurrentSchemaVersion})");
            }
        }

        return JsonSerializer.Deserialize<ClusterSnapshot>(json, Options)
            ?? throw new JsonException("the snapshot JSON is null");
    }

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            WriteIndented = indented,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
