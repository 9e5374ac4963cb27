using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tools;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>POST /api/v1/actions</c>, for an operator token: <c>{kind, cluster, member?, parameters{}, reason, dry_run}</c>
/// planned and run through the one pipeline as <c>pgra act</c> does (<see cref="Workspaces.ActingServices.RequestAsync"/>),
/// as a proactive request of <c>api:TOKEN</c>: the policy gate decides, above the autonomy level it becomes a pending
/// approval. With <c>dry_run</c>: planned, judged and prechecked only, nothing executed and no intent journaled. A bad
/// body is a 400 naming the field; a request that cannot be planned now (no eligible candidate) is a 422.
/// </summary>
internal static class ActionsApi
{
    private static readonly string[] Fields = ["kind", "cluster", "member", "parameters", "reason", "dry_run"];

    public static void Map(IEndpointRouteBuilder endpoints, AgentWebHostOptions options, CancellationToken stopping)
    {
        var secrets = options.Secrets;
        endpoints.MapPost(AgentApi.Prefix + "/actions", ApiResults.Handler(context => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            var (request, dryRun) = await ReadAsync(context, WebRoles.Caller(context.User)).ConfigureAwait(false);
            // A real action runs to its end even if the caller hangs up; only the host's stop cancels it.
            var (plan, run) = await options.Acting.RequestAsync(request, dryRun, dryRun ? context.RequestAborted : stopping).ConfigureAwait(false);
            if (run is not { } result)
            {
                var refused = new JsonObject
                {
                    ["ok"] = false,
                    ["status"] = "not-planned",
                    ["error"] = plan.Problem,
                    ["candidates"] = ActionPlanJson.Candidates(plan, ApiJson.Options),
                };
                return ApiResults.Json(secrets, refused, StatusCodes.Status422UnprocessableEntity);
            }

            var doc = AgentToolbox.Describe(result, dryRun);
            doc["initiator"] = result.Action.Initiator;
            doc["plan"] = new JsonObject
            {
                ["parameters"] = JsonSerializer.SerializeToNode(result.Action.Parameters, ApiJson.Options),
                ["risk"] = JsonNamingPolicy.KebabCaseLower.ConvertName(result.Action.Risk.ToString()),
                ["reversible"] = result.Action.Reversible,
                ["candidates"] = ActionPlanJson.Candidates(plan, ApiJson.Options),
                ["changes"] = ActionPlanJson.Changes(plan, ApiJson.Options),
            };
            doc["journal_seqs"] = JsonSerializer.SerializeToNode(result.JournalSeqs, ApiJson.Options);
            return ApiResults.Json(secrets, doc);
        }))).RequireAuthorization(WebRoles.Policy(WebRole.Operator));

        // Undo, as pgra undo: the undo recorded in the action's outcome, through the pipeline, as a proactive request of
        // the caller (an operator token is not an operator at the keyboard). Body: optional {"dry_run": bool}.
        endpoints.MapPost(AgentApi.Prefix + "/actions/{id}/undo", (string id, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            if (id.Length > 100 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
            {
                return ApiResults.Error(secrets, StatusCodes.Status404NotFound, "not an action id (act-... as the journal and the approvals show them)");
            }

            var dryRun = await DryRunAsync(context).ConfigureAwait(false);
            var result = await options.Acting.Pipeline.UndoAsync(id, WebRoles.Caller(context.User), dryRun, dryRun ? context.RequestAborted : stopping, proactive: true)
                .ConfigureAwait(false);
            var doc = AgentToolbox.Describe(result, dryRun);
            doc["initiator"] = result.Action.Initiator;
            doc["undo_of"] = id;
            doc["journal_seqs"] = JsonSerializer.SerializeToNode(result.JournalSeqs, ApiJson.Options);
            return ApiResults.Json(secrets, doc);
        })).RequireAuthorization(WebRoles.Policy(WebRole.Operator));
    }

    /// <summary>The optional <c>{"dry_run": bool}</c> body of an undo.</summary>
    private static async Task<bool> DryRunAsync(HttpContext context)
    {
        const string expected = "the body must be empty or {\"dry_run\": true|false}";
        var (present, body) = await ApiResults.OptionalBodyAsync(context, expected).ConfigureAwait(false);
        return present ? body switch
        {
            JsonObject o when o.Count == 0 => false,
            JsonObject o when o.Count == 1 && o["dry_run"] is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
            _ => throw new InputException(expected),
        } : false;
    }

    /// <summary>The body, checked field by field; anything wrong is an <see cref="InputException"/> that names the field.</summary>
    private static async Task<(ActionRequest Request, bool DryRun)> ReadAsync(HttpContext context, string initiator)
    {
        JsonNode? body;
        try
        {
            body = await ApiResults.ParseBodyAsync(context).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            throw new InputException($"the body is not JSON ({ex.Message}); send {{\"kind\": ..., \"cluster\": ..., \"reason\": ..., \"parameters\": {{}}, \"dry_run\": true}}");
        }

        if (body is not JsonObject o)
        {
            throw new InputException("the body must be a JSON object: {\"kind\": ..., \"cluster\": ..., \"member\": ..., \"parameters\": {}, \"reason\": ..., \"dry_run\": false}");
        }

        var unknown = o.Select(p => p.Key).Where(k => !Fields.Contains(k, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"unknown field{(unknown.Count == 1 ? "" : "s")} {string.Join(", ", unknown.Select(u => $"'{u}'"))} in the body; the fields are {string.Join(", ", Fields)}");
        }

        var kind = Text(o, "kind", required: true)!;
        var cluster = Text(o, "cluster", required: true)!;
        var member = Text(o, "member", required: false);
        var reason = Text(o, "reason", required: true)!;
        var dryRun = o["dry_run"] switch
        {
            null => false,
            JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
            _ => throw new InputException("field 'dry_run' must be true or false"),
        };
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (o["parameters"])
        {
            case null:
                break;
            case JsonObject p:
                foreach (var (name, value) in p)
                {
                    parameters[name] = value is JsonValue v && v.GetValueKind() is not JsonValueKind.Null
                        && Sensing.JsonRead.AsString(JsonSerializer.SerializeToElement(v)) is { } text
                        ? text
                        : throw new InputException($"parameters.{name} must be a string, a number or a boolean");
                }

                break;
            default:
                throw new InputException("field 'parameters' must be an object of NAME: value (GET /api/v1/catalog lists each action's parameters)");
        }

        return (new ActionRequest
        {
            Kind = kind,
            Cluster = cluster,
            Member = member,
            Parameters = parameters,
            Trigger = ActionTrigger.Proactive,
            Initiator = initiator,
            Reason = SecretText.RedactFreeText(reason),
        }, dryRun);
    }

    private static string? Text(JsonObject o, string field, bool required)
    {
        switch (o[field])
        {
            case null when required:
                throw new InputException(field == "reason"
                    ? "field 'reason' is required: say what evidence the action rests on (journaled and shown to the approver)"
                    : $"field '{field}' is required");
            case null:
                return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is { } s && !string.IsNullOrWhiteSpace(s):
                return s.Trim();
            default:
                throw new InputException($"field '{field}' must be a non-empty string");
        }
    }
}
