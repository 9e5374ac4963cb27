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

    public static ClaimsPrincipal Principal(string name, WebRole role) =>
        new(new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, name),
                new Claim(ClaimTypes.Name, name),
                new Claim(ClaimTypes.Role, role.ToString().ToLowerInvariant()),
            ],
            Scheme, ClaimTypes.Name, ClaimTypes.Role));

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
/// <c>Authorization: Bearer TOKEN</c>: a known token authenticates its holder with its role; no token leaves the
/// request anonymous (and the authorization policy answers 401), an unknown one fails (401). Nothing of the token is
/// logged or echoed.
/// </summary>
internal sealed class BearerTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, TokenBook tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
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
