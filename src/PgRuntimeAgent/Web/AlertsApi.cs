using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Alerts;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>POST /api/v1/alertmanager</c>: Alertmanager's webhook (docs/alerts.md). The body goes to the agent's
/// <see cref="AlertIntake"/>, which journals every alert and queues the skills that name it; the answer is the intake's
/// summary (200), its refusal with what and where (400, 413), or 503 when no agent loop runs here (<c>pgra serve</c>),
/// which Alertmanager retries. A token of role <c>alertmanager</c> may call this route and nothing else; operators and
/// approvers may too.
/// </summary>
internal static class AlertsApi
{
    public const string Path = AgentApi.Prefix + "/alertmanager";

    /// <summary>The authorization policy of the route: the alertmanager role, or operator and above.</summary>
    public const string Policy = "pgra-alerts";

    public static bool Allowed(WebRole? role) => role is WebRole.Alertmanager || role >= WebRole.Operator;

    public static void Map(IEndpointRouteBuilder endpoints, AlertIntake? alerts)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapPost(Path, async (HttpContext context) =>
        {
            if (alerts is null)
            {
                return Results.Json(new { status = "unavailable", error = "no agent loop runs here (pgra serve): alerts are taken by pgra run" }, statusCode: 503);
            }

            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
            var result = await alerts.ReceiveAsync(body.GetBuffer().AsMemory(0, (int)body.Length), context.RequestAborted).ConfigureAwait(false);
            return Results.Content(result.ToJson(), "application/json", statusCode: result.HttpStatus);
        }).RequireAuthorization(Policy);
    }
}
