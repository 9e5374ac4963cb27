using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Reads;

/// <summary>Helpers reads build their results with: the snapshot's JSON form, failures as values, cut text.</summary>
internal static class ReadResults
{
    /// <summary>The key a failed read's result carries its reason under.</summary>
    public const string ErrorKey = "error";

    /// <summary>An expected failure (endpoint unreachable, nothing configured) as a result.</summary>
    public static JsonObject Failed(string reason) => new() { [ErrorKey] = reason };

    /// <summary><paramref name="value"/> as JSON in the snapshot's form (snake_case keys, enums as strings).</summary>
    public static JsonNode? ToNode<T>(T value) => JsonSerializer.SerializeToNode(value, SnapshotJson.Compact);

    /// <summary>At most <paramref name="max"/> characters of <paramref name="text"/>, marked when cut.</summary>
    public static string Cut(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length <= max ? text : string.Concat(text.AsSpan(0, max), " …[cut]");
    }

    /// <summary>The first <paramref name="limit"/> items and whether more were there.</summary>
    public static (IReadOnlyList<T> Items, bool Truncated) Take<T>(IReadOnlyList<T> items, int limit)
    {
        ArgumentNullException.ThrowIfNull(items);
        return items.Count <= limit ? (items, false) : (items.Take(limit).ToList(), true);
    }
}
