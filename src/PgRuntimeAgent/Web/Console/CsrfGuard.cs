using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Web.Console;

/// <summary>
/// Cross-site request forgery, refused: a state-changing request (anything but GET, HEAD and OPTIONS) that a console
/// session authenticates must carry the session's CSRF token, in the <c>X-Pgra-Csrf</c> header (the console's
/// scripts) or a <c>_csrf</c> form field, and, when the browser names its origin, come from the host's own origin.
/// A page of another site can make the browser send the cookie (were SameSite=Strict not enough), but it can neither
/// read the token nor set the header. Bearer-token requests carry no ambient credential and are not concerned.
/// </summary>
internal static class CsrfGuard
{
    public const string Header = "X-Pgra-Csrf";
    public const string FormField = "_csrf";

    public static async Task InvokeAsync(HttpContext context, Func<Task> next, ConsoleSessions sessions, SecretStore secrets)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
            || WebRoles.Session(context.User) is not { } id || sessions.Find(id) is not { } session)
        {
            await next().ConfigureAwait(false);
            return;
        }

        string? why = null;
        if (!SameOrigin(context.Request))
        {
            why = "the request comes from another origin than the console's";
        }
        else
        {
            var presented = context.Request.Headers[Header].ToString();
            if (presented.Length == 0 && context.Request.HasFormContentType)
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
                presented = form[FormField].ToString();
            }

            if (!session.CsrfMatches(presented))
            {
                why = presented.Length == 0 ? $"the request carries no CSRF token ({Header} header or {FormField} field)" : "the request's CSRF token is not this session's";
            }
        }

        if (why is not null)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "application/json; charset=utf-8";
            var body = new JsonObject { ["ok"] = false, ["error"] = $"refused: {why}; reload the console and try again" };
            await context.Response.WriteAsync(secrets.RedactJson(body.ToJsonString()), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await next().ConfigureAwait(false);
    }

    /// <summary>True when the browser names no origin, or names this host's (scheme, host and port).</summary>
    public static bool SameOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            var site = request.Headers["Sec-Fetch-Site"].ToString();
            return site.Length == 0 || site is "same-origin" or "none";
        }

        return Uri.TryCreate(origin, UriKind.Absolute, out var o)
            && string.Equals(o.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(o.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }
}
