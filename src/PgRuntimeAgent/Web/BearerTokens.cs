using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Web;

/// <summary>
/// The web host's tokens, as SHA-256 digests (the tokens themselves stay in the <see cref="SecretStore"/>): a
/// presented token is hashed and compared with every known digest in constant time, so neither the answer's content
/// nor its timing says how much of a token was right, or which.
/// </summary>
internal sealed class TokenBook
{
    private readonly (string Name, WebRole Role, byte[] Digest)[] _tokens;

    public TokenBook(IEnumerable<HttpToken> tokens, SecretStore secrets)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(secrets);
        _tokens = [.. tokens.Where(t => t.Token is not null).Select(t => (t.Name, t.Role, Digest(secrets.Reveal(t.Token!))))];
    }

    public int Count => _tokens.Length;

    /// <summary>The holder of <paramref name="presented"/>; null when no token matches.</summary>
    public (string Name, WebRole Role)? Find(string presented)
    {
        ArgumentNullException.ThrowIfNull(presented);
        var digest = Digest(presented);
        (string, WebRole)? found = null;
        foreach (var (name, role, known) in _tokens)
        {
            // Every digest is compared, whatever matched before: the time taken does not depend on which token it is.
            if (CryptographicOperations.FixedTimeEquals(digest, known))
            {
                found = (name, role);
            }
        }

        return found;
    }

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

/// <summary>The claims a token's holder gets, and the role they carry.</summary>
internal static class WebRoles
{
    public const string Scheme = "PgraBearer";

    /// <summary>The authorization policy of each role: the role or a higher one.</summary>
    public static string Policy(WebRole role) => "pgra-" + role.ToString().ToLowerInvariant();

    /// <summary>The claim a console session's principal carries: the session's id (absent for a bearer token).</summary>
    public const string SessionClaim = "pgra:console-session";

    public static ClaimsPrincipal Principal(string name, WebRole role, string? session = null) =>
        new(new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, name),
                new Claim(ClaimTypes.Name, name),
                new Claim(ClaimTypes.Role, role.ToString().ToLowerInvariant()),
                .. session is null ? Array.Empty<Claim>() : [new Claim(SessionClaim, session)],
            ],
            Scheme, ClaimTypes.Name, ClaimTypes.Role));

    /// <summary>The console session an authenticated user came with; null for a bearer token.</summary>
    public static string? Session(ClaimsPrincipal? user) => Of(user) is null ? null : user!.FindFirst(SessionClaim)?.Value;

    /// <summary>
    /// Who a request is journaled as: <c>api:NAME</c> for a bearer token, <c>console:NAME</c> for a console session
    /// opened with the token NAME.
    /// </summary>
    public static string Caller(ClaimsPrincipal? user) => (Session(user) is null ? "api:" : "console:") + (TokenName(user) ?? "anonymous");

    /// <summary>
    /// The token name behind an action's initiator when a token requested it (<c>api:ops</c>, <c>console:ops</c>,
    /// <c>mcp:ops/claude-code</c> → <c>ops</c>); null for the agent, a model, a skill or an operator at the keyboard.
    /// </summary>
    public static string? RequesterToken(string? initiator)
    {
        if (initiator is null)
        {
            return null;
        }

        foreach (var prefix in (string[])["api:", "console:", "mcp:"])
        {
            if (initiator.StartsWith(prefix, StringComparison.Ordinal))
            {
                var rest = initiator[prefix.Length..];
                var slash = rest.IndexOf('/', StringComparison.Ordinal);
                return slash < 0 ? rest : rest[..slash];
            }
        }

        return null;
    }

    /// <summary>The role of an authenticated user; null for anyone else.</summary>
    public static WebRole? Of(ClaimsPrincipal? user)
    {
        if (user?.Identity is not { IsAuthenticated: true, AuthenticationType: Scheme })
        {
            return null;
        }

        var claim = user.FindFirst(ClaimTypes.Role)?.Value;
        return Enum.TryParse<WebRole>(claim, ignoreCase: true, out var role) ? role : null;
    }

    /// <summary>The token's name of an authenticated user; null for anyone else.</summary>
    public static string? TokenName(ClaimsPrincipal? user) => Of(user) is null ? null : user!.FindFirst(ClaimTypes.NameIdentifier)?.Value;
}

/// <summary>
/// <c>Authorization: Bearer TOKEN</c>: a known token authenticates its holder with its role; without the header, the
/// console's session cookie does (the role of the token the session was opened with); neither leaves the request anonymous (and the authorization policy answers 401), an unknown one fails (401). Nothing of the token is
/// logged or echoed.
/// </summary>
internal sealed class BearerTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, TokenBook tokens,
    Console.ConsoleSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            // The console: a session cookie (an unknown or expired one is anonymous: the console signs in again).
            if (sessions.Find(Request.Cookies[Console.ConsoleSessions.Cookie]) is { } session)
            {
                return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(WebRoles.Principal(session.Name, session.Role, session.Id), Scheme.Name)));
            }

            return Task.FromResult(AuthenticateResult.NoResult());
        }

        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || header.Length == prefix.Length)
        {
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header is not 'Bearer TOKEN'"));
        }

        if (tokens.Find(header[prefix.Length..].Trim()) is not { } holder)
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown token"));
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(WebRoles.Principal(holder.Name, holder.Role), Scheme.Name)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer realm=\"pgra\"";
        return Task.CompletedTask;
    }
}
