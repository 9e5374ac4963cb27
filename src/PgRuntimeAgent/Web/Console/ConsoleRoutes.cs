using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace PgRuntimeAgent.Web.Console;

/// <summary>
/// The web console at <c>/console/</c>: a page, a script and a style sheet shipped inside the agent's assembly (an
/// admin node has no internet: no CDN, no font, no image from elsewhere), served with a Content-Security-Policy that
/// allows nothing but this host. The page reads the API at <c>/api/v1</c> with the session cookie
/// (<see cref="ConsoleSessions"/>); its sign-in form posts a token to <c>POST /console/login</c>.
/// </summary>
internal static class ConsoleRoutes
{
    public const string Prefix = "/console";

    /// <summary>Where the assets are in the assembly's manifest (the csproj gives them this logical name).</summary>
    private const string ResourcePrefix = "pgra.console.";

    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

    private static readonly Lazy<IReadOnlyDictionary<string, Asset>> Assets = new(Load);

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    /// <summary>The asset names shipped (index.html, app.js, app.css...).</summary>
    public static IEnumerable<string> AssetNames => Assets.Value.Keys;

    public static void Map(IEndpointRouteBuilder endpoints, AgentWebHostOptions options, TokenBook tokens, ConsoleSessions sessions, ILogger logger)
    {
        endpoints.MapGet("/", () => Results.Redirect(Prefix + "/")).AllowAnonymous();
        // /console and /console/ are one route: the page's relative links need the slash.
        endpoints.MapGet(Prefix + "/", (HttpContext context) =>
            context.Request.Path.Value?.EndsWith('/') == true ? Serve(context, "index.html") : Results.Redirect(Prefix + "/")).AllowAnonymous();
        endpoints.MapGet(Prefix + "/{file}", (string file, HttpContext context) => Serve(context, file)).AllowAnonymous();

        endpoints.MapPost(Prefix + "/login", async (HttpContext context) =>
        {
            // Only a form of this very console (no other site's page can sign a browser in with a token of its choosing).
            if (!CsrfGuard.SameOrigin(context.Request) || !context.Request.HasFormContentType)
            {
                return Results.Text("{\"ok\":false,\"error\":\"sign in from the console's own page\"}", "application/json", null, StatusCodes.Status403Forbidden);
            }

            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var next = SafeNext(form["next"].ToString());
            var token = form["token"].ToString().Trim();
            if (token.Length == 0 || tokens.Find(token) is not { } holder || holder.Role < WebRole.Viewer)
            {
                Log.ConsoleSignInRefused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?");
                return Results.Redirect(Prefix + "/?login=failed" + next);
            }

            var session = sessions.Open(holder.Name, holder.Role);
            context.Response.Cookies.Append(ConsoleSessions.Cookie, session.Id, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                Path = "/",
                MaxAge = sessions.Lifetime,
                IsEssential = true,
            });
            Log.ConsoleSignedIn(logger, holder.Name, holder.Role.ToString().ToLowerInvariant());
            return Results.Redirect(Prefix + "/" + next);
        }).AllowAnonymous();

        endpoints.MapGet(Prefix + "/session", (HttpContext context) =>
        {
            var id = WebRoles.Session(context.User);
            var session = sessions.Find(id);
            var doc = new JsonObject
            {
                ["name"] = WebRoles.TokenName(context.User),
                ["role"] = WebRoles.Of(context.User)?.ToString().ToLowerInvariant(),
                ["csrf"] = session?.Csrf,
                ["four_eyes"] = options.Http.FourEyes,
                ["expires_at"] = session?.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                ["agent_loop"] = options.AgentLoop || options.Live is not null,
                ["version"] = AgentWebHost.Version,
            };
            context.Response.Headers.CacheControl = "no-store";
            return Results.Text(doc.ToJsonString(), "application/json");
        }).RequireAuthorization(WebRoles.Policy(WebRole.Viewer));

        endpoints.MapPost(Prefix + "/logout", (HttpContext context) =>
        {
            if (WebRoles.Session(context.User) is { } id)
            {
                sessions.Close(id);
            }

            context.Response.Cookies.Delete(ConsoleSessions.Cookie, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps });
            return Results.NoContent();
        }).RequireAuthorization(WebRoles.Policy(WebRole.Viewer));
    }

    /// <summary>The console route to go back to after signing in: a hash route of safe characters, else none.</summary>
    internal static string SafeNext(string next) =>
        next.Length is > 1 and <= 200 && next.StartsWith("#/", StringComparison.Ordinal)
            && next.All(c => char.IsAsciiLetterOrDigit(c) || "#/-_.=&?%".Contains(c, StringComparison.Ordinal))
            ? next
            : "";

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.Value.TryGetValue(file, out var asset))
        {
            return Results.NotFound();
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private static IReadOnlyDictionary<string, Asset> Load()
    {
        var assembly = typeof(ConsoleRoutes).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var file = name[ResourcePrefix.Length..];
            var type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                ".ico" => "image/x-icon",
                _ => "application/octet-stream",
            };
            assets[file] = new Asset(bytes, type, "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"");
        }

        return assets;
    }
}
