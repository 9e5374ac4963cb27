using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>GET /api/v1/incidents</c> (newest first, <c>?cluster=&amp;state=&amp;limit=</c>, each as <c>pgra incidents --json</c>
/// lists it), <c>GET /api/v1/incidents/{id}</c> (the incident, its links and its journal events) and
/// <c>GET /api/v1/incidents/{id}/postmortem</c> (<c>?format=json|md</c>, as <c>pgra postmortem</c>), all from the
/// journal alone. An id that is not an incident id (<see cref="IncidentIds"/>) is a 400 before anything is read.
/// </summary>
internal static class IncidentsApi
{
    public const int DefaultLimit = 50;

    public const int MaxLimit = 500;

    public static void Map(RouteGroupBuilder api, AgentWebHostOptions options)
    {
        var secrets = options.Secrets;
        var journal = options.Acting.Journal;
        api.MapGet("/incidents", ApiResults.Handler(context => ApiResults.GuardAsync(secrets, async () =>
        {
            var request = context.Request;
            ApiResults.OnlyQuery(request, "cluster", "state", "limit");
            var cluster = ApiResults.Query(request, "cluster");
            var state = ApiResults.Query(request, "state") is { } text ? State(text) : (IncidentState?)null;
            var limit = ApiResults.Limit(request, "limit", DefaultLimit, MaxLimit);
            var all = await IncidentStore.ListAsync(journal, context.RequestAborted).ConfigureAwait(false);
            var chosen = all.Where(i => (cluster is null || string.Equals(i.Cluster, cluster, StringComparison.Ordinal)) && (state is null || i.State == state))
                .Reverse().Take(limit).Select(IncidentSummary.Of).ToList();
            return ApiResults.Json(secrets, JsonSerializer.Serialize(chosen, IncidentJson.Options));
        })));

        api.MapGet("/incidents/{id}", (string id, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            CheckId(id);
            var data = await IncidentStore.LoadAsync(journal, id, context.RequestAborted).ConfigureAwait(false);
            if (data is null)
            {
                return NotFound(options, id);
            }

            var doc = JsonSerializer.SerializeToNode(IncidentSummary.Of(data.Incident), IncidentJson.Options)!.AsObject();
            doc["links"] = JsonSerializer.SerializeToNode(data.Incident.Links, IncidentJson.Options);
            doc["events"] = JsonSerializer.SerializeToNode(data.Events.Select(JournalEntryJson.ToJson).ToList(), ApiJson.Options);
            doc["postmortem"] = $"{AgentApi.Prefix}/incidents/{id}/postmortem";
            return ApiResults.Json(secrets, doc.ToJsonString(IncidentJson.Options));
        }));

        api.MapGet("/incidents/{id}/postmortem", (string id, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            var request = context.Request;
            ApiResults.OnlyQuery(request, "format");
            CheckId(id);
            var format = ApiResults.Query(request, "format") ?? "json";
            if (format is not ("json" or "md"))
            {
                throw new InputException($"query parameter 'format' must be json or md, not '{format}'");
            }

            var report = await PostMortemWriter.BuildAsync(journal, id, context.RequestAborted).ConfigureAwait(false);
            if (report is null)
            {
                return NotFound(options, id);
            }

            return format == "json"
                ? ApiResults.Json(secrets, PostMortemWriter.Json(report))
                : Results.Text(secrets.Redact(PostMortemWriter.Markdown(report)), "text/markdown", System.Text.Encoding.UTF8);
        }));
    }

    /// <summary>An incident id, or a 400: nothing that is not one reaches the journal (or a file).</summary>
    private static void CheckId(string id)
    {
        if (!IncidentIds.IsValid(id))
        {
            throw new InputException($"'{Shown(id)}' in the path is not an incident id ({IncidentIds.Pattern}); GET {AgentApi.Prefix}/incidents lists them");
        }
    }

    /// <summary>At most 80 characters of what was given, control characters dropped.</summary>
    private static string Shown(string id)
    {
        var clean = new string([.. id.Where(c => !char.IsControl(c)).Take(80)]);
        return clean.Length < id.Length ? clean + "..." : clean;
    }

    private static IncidentState State(string text) =>
        Enum.TryParse<IncidentState>(text, ignoreCase: true, out var state) && !char.IsDigit(text[0])
            ? state
            : throw new InputException($"query parameter 'state' must be one of open, mitigating, resolved, not '{text}'");

    private static IResult NotFound(AgentWebHostOptions options, string id) =>
        ApiResults.Error(options.Secrets, StatusCodes.Status404NotFound, $"no incident {id} in the journal", [$"GET {AgentApi.Prefix}/incidents lists them"]);
}
