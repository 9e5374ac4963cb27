using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Web;

/// <summary>
/// The API, version 1 (bodies are JSON, redacted). Reads, for a viewer token: <c>GET /api/v1/catalog</c> (as
/// <c>pgra catalog --json</c>), <c>GET /api/v1/approvals</c> (the pending ones, as <c>pgra approvals --json</c>),
/// <c>GET /api/v1/health</c> (the agent's own liveness: version, uptime, clusters watched). Decisions, for an approver
/// token: <c>POST /api/v1/approvals/{id}/approve</c> (then runs it through the pipeline, as <c>pgra approve</c>) and
/// <c>POST /api/v1/approvals/{id}/deny</c>, with an optional body <c>{"note": "..."}</c>; journaled as decided by
/// <c>api:TOKEN</c>.
/// </summary>
internal static class AgentApi
{
    public const string Prefix = "/api/v1";

    public static void Map(IEndpointRouteBuilder endpoints, AgentWebHostOptions options, DateTimeOffset startedAt, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(options);
        var api = endpoints.MapGroup(Prefix).RequireAuthorization(WebRoles.Policy(WebRole.Viewer));
        var catalog = AgentCatalog.Default.ToJson().ToJsonString(ApiJson.Options);
        api.MapGet("/catalog", () => Json(catalog));
        api.MapGet("/approvals", async (CancellationToken ct) =>
        {
            var pending = await options.Acting.Approvals.ListAsync(includeClosed: false, ct).ConfigureAwait(false);
            return Json(options.Secrets.RedactJson(JsonSerializer.Serialize(pending, ApiJson.Options)));
        });
        ClustersApi.Map(api, options);
        IncidentsApi.Map(api, options);
        JournalApi.Map(api, options);
        EventsApi.Map(api, options, stopping);
        api.MapGet("/health", () =>
        {
            var now = options.Time.GetUtcNow();
            var health = new JsonObject
            {
                ["status"] = "ok",
                ["version"] = AgentWebHost.Version,
                ["started_at"] = startedAt.ToString("O", CultureInfo.InvariantCulture),
                ["uptime_seconds"] = Math.Round((now - startedAt).TotalSeconds, 1),
                ["agent_loop"] = options.AgentLoop || options.Live is not null,
                ["clusters"] = new JsonArray([.. options.Clusters.Select(c => (JsonNode?)JsonValue.Create(c))]),
                ["mcp_actions"] = options.Mcp.AllowActions,
            };
            return Json(options.Secrets.RedactJson(health.ToJsonString(ApiJson.Options)));
        });
    }

    /// <summary>The approver's side of the approvals: approve (and run) or deny a pending action.</summary>
    public static void MapDecisions(IEndpointRouteBuilder endpoints, AgentWebHostOptions options, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(options);
        var decisions = endpoints.MapGroup(Prefix + "/approvals/{id}").RequireAuthorization(WebRoles.Policy(WebRole.Approver));
        decisions.MapPost("/approve", (string id, HttpContext context) => DecideAsync(options, id, context, approve: true, stopping));
        decisions.MapPost("/deny", (string id, HttpContext context) => DecideAsync(options, id, context, approve: false, stopping));
    }

    private static async Task<IResult> DecideAsync(AgentWebHostOptions options, string id, HttpContext context, bool approve, CancellationToken stopping)
    {
        var by = WebRoles.Caller(context.User);
        try
        {
            var note = await NoteAsync(context).ConfigureAwait(false);
            var acting = options.Acting;
            if (!approve)
            {
                var denied = await acting.Approvals.DenyAsync(id, by, note, context.RequestAborted).ConfigureAwait(false);
                return Json(options.Secrets.RedactJson(JsonSerializer.Serialize(denied, ApiJson.Options)));
            }

            var pending = await acting.Approvals.GetAsync(id, context.RequestAborted).ConfigureAwait(false)
                ?? throw new InputException($"no approval {id}; GET {Prefix}/approvals lists the pending ones.");
            // Four-eyes: whoever requested the action with a token does not grant it with the same token.
            if (options.Http.FourEyes && WebRoles.RequesterToken(pending.Action.Initiator) is { } requester
                && string.Equals(requester, WebRoles.TokenName(context.User), StringComparison.Ordinal))
            {
                var refused = new JsonObject
                {
                    ["ok"] = false,
                    ["error"] = $"four-eyes (http.four_eyes): {pending.Action.Initiator} requested {id}, so another approver must decide; nothing was approved",
                };
                return Results.Text(options.Secrets.RedactJson(refused.ToJsonString(ApiJson.Options)), "application/json", System.Text.Encoding.UTF8, StatusCodes.Status403Forbidden);
            }

            if (acting.Pipeline.Actuators.Find(pending.Action.Kind) is null)
            {
                throw new InputException($"{id} is a {pending.Action.Kind} action and this agent has no actuator for it; nothing was approved.");
            }

            if (options.Leases is { } leases && !leases.Owns(pending.Action.Cluster))
            {
                // Several agents share the clusters (docs/fleet.md): the approval lands in the shared journal and the agent
                // that owns the cluster runs it on its next tick; here the ownership precheck would refuse it.
                var approved = pending.Status == Acting.ApprovalStatus.Approved
                    ? pending
                    : await acting.Approvals.ApproveAsync(id, by, note, context.RequestAborted).ConfigureAwait(false);
                var owner = leases.Owners.TryGetValue(pending.Action.Cluster, out var o) ? o.Agent : null;
                var forwarded = new JsonObject
                {
                    ["ok"] = true,
                    ["status"] = "forwarded",
                    ["action_id"] = id,
                    ["owner"] = owner,
                    ["agent_id"] = leases.AgentId,
                    ["message"] = $"approved by {approved.DecidedBy}; agent {leases.AgentId} does not own {pending.Action.Cluster}, so "
                        + (owner is null ? "the agent that takes it runs it" : $"its owner {owner} runs it on its next look at the cluster"),
                    ["approval"] = JsonSerializer.SerializeToNode(approved, ApiJson.Options),
                };
                return Results.Text(options.Secrets.RedactJson(forwarded.ToJsonString(ApiJson.Options)), "application/json", System.Text.Encoding.UTF8, StatusCodes.Status202Accepted);
            }

            if (pending.Status != Acting.ApprovalStatus.Approved)
            {
                await acting.Approvals.ApproveAsync(id, by, note, context.RequestAborted).ConfigureAwait(false);
            }

            // Once approved, the action runs to its end even if the caller hangs up; only the host's stop cancels it.
            var result = await acting.Pipeline.RunApprovedAsync(id, stopping).ConfigureAwait(false);
            return Json(options.Secrets.RedactJson(Tools.AgentToolbox.Describe(result, dryRun: false).ToJsonString(ApiJson.Options)));
        }
        catch (InputException ex)
        {
            var error = new JsonObject { ["ok"] = false, ["error"] = ex.Message };
            return Results.Text(options.Secrets.RedactJson(error.ToJsonString(ApiJson.Options)), "application/json", System.Text.Encoding.UTF8, StatusCodes.Status409Conflict);
        }
    }

    /// <summary>The optional <c>{"note": "..."}</c> body.</summary>
    private static async Task<string?> NoteAsync(HttpContext context)
    {
        var (_, body) = await ApiResults.OptionalBodyAsync(context, "the body must be a JSON object such as {\"note\": \"why\"}, or empty").ConfigureAwait(false);
        return body is JsonObject o && o["note"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
    }

    private static IResult Json(string body) => Results.Text(body, "application/json", System.Text.Encoding.UTF8);
}
