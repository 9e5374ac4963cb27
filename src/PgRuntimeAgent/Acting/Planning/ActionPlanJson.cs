using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRuntimeAgent.Acting.Planning;

/// <summary>What a plan weighed, as <c>pgra act --json</c> prints it and the API's <c>POST /api/v1/actions</c> answers it: the candidates and the changes.</summary>
internal static class ActionPlanJson
{
    /// <summary>How each possible new leader fared (switchover, failover; empty otherwise).</summary>
    public static JsonNode? Candidates(ActionPlan plan, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return JsonSerializer.SerializeToNode(plan.Candidates, options);
    }

    /// <summary>What a configuration change changes: path, before, after (patroni.config; empty otherwise).</summary>
    public static JsonNode? Changes(ActionPlan plan, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return JsonSerializer.SerializeToNode(plan.Changes.Select(c => new { path = c.Path, before = c.Before?.DeepClone(), after = c.After?.DeepClone() }), options);
    }
}
