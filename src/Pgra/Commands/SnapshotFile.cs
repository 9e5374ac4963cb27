using System.Text.Json;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// A saved cluster snapshot (<c>pgra snapshot CLUSTER --json</c>) given with <c>--snapshot FILE</c>: one loader and
/// one validation for every verb that takes one (<c>pgra detect</c>, <c>pgra skills run</c>), so a file one verb
/// refuses is not accepted by another.
/// </summary>
internal static class SnapshotFile
{
    /// <summary>
    /// Reads and validates <paramref name="file"/>: JSON (errors at file:line:column), a JSON object, a snapshot this
    /// pgra can read (schema version, field types, a cluster name) and, when <paramref name="cluster"/> is given, of
    /// that cluster. Any failure is an <see cref="InputException"/>.
    /// </summary>
    public static (ClusterSnapshot Snapshot, JsonElement Json) Read(string file, string? cluster = null)
    {
        var full = Path.GetFullPath(file);
        if (!File.Exists(full))
        {
            throw new InputException($"snapshot file not found: {full}");
        }

        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{full}: cannot read the snapshot file: {ex.Message}");
        }

        JsonElement json;
        try
        {
            using var document = JsonDocument.Parse(text);
            json = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InputException($"{full}:{(ex.LineNumber ?? 0) + 1}:{(ex.BytePositionInLine ?? 0) + 1}: not valid JSON: {ex.Message}");
        }

        if (json.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"{full}: the snapshot must be a JSON object (pgra snapshot CLUSTER --json), not {json.ValueKind}");
        }

        ClusterSnapshot snapshot;
        try
        {
            snapshot = SnapshotJson.Deserialize(text);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new InputException($"{full}: not a snapshot this pgra can read: {ex.Message}");
        }

        if (string.IsNullOrWhiteSpace(snapshot.Cluster))
        {
            throw new InputException($"{full}: not a snapshot this pgra can read: it names no cluster ('cluster' is empty)");
        }

        if (cluster is not null && !string.Equals(snapshot.Cluster, cluster, StringComparison.Ordinal))
        {
            throw new InputException($"{full} is a snapshot of {snapshot.Cluster}, not {cluster}");
        }

        return (snapshot, json);
    }
}
