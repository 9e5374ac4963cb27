using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// Findings as <c>pgra detect --json</c> prints them and the API's <c>/api/v1/clusters/{name}/findings</c> answers
/// them: the cluster, when its last snapshot was taken, how many snapshots, whether sensing itself was too slow, and
/// each finding with <c>persisted</c> (snapshots is null for the agent's own running detection) (true: held as long as the rules require; false: a single-sample symptom).
/// </summary>
internal static class DetectVerdictJson
{
    public static JsonObject ToJson(string cluster, DetectVerdict verdict, int snapshots)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        return ToJson(cluster, verdict.Last.TakenAt, snapshots, verdict.CouldNotSense, verdict.Persisted, verdict.SingleSample);
    }

    public static JsonObject ToJson(string cluster, DateTimeOffset takenAt, int? snapshots, string? couldNotSense, IEnumerable<Finding> persisted,
        IEnumerable<Finding> singleSample) => new()
    {
        ["cluster"] = cluster,
        ["taken_at"] = FindingJson.Time(takenAt),
        ["snapshots"] = snapshots,
        ["could_not_sense"] = couldNotSense,
        ["findings"] = new JsonArray([.. persisted.Select(f => Tagged(f, persisted: true)).Concat(singleSample.Select(f => Tagged(f, persisted: false)))]),
    };

    private static JsonNode? Tagged(Finding f, bool persisted)
    {
        var node = JsonSerializer.SerializeToNode(f, FindingJson.Options);
        node!["persisted"] = persisted;
        return node;
    }
}
