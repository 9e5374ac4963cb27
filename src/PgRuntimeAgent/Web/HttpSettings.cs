using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Web;

/// <summary>
/// The <c>http:</c> section: the agent's web host (MCP over streamable HTTP at <c>/mcp</c>, the read API at
/// <c>/api/v1</c>; docs/mcp.md, docs/settings.md). Off until at least one token is configured. Loopback only unless
/// <see cref="AllowRemote"/> and a TLS certificate say otherwise; every request needs a bearer token.
/// </summary>
public sealed partial record HttpSettings : ISettingsChecks
{
    public const string DefaultListen = "127.0.0.1:8765";

    /// <summary><c>ADDRESS:PORT</c> (an IP address or <c>localhost</c>; IPv6 in brackets). Port 0 takes a free port.</summary>
    public string Listen { get; init; } = DefaultListen;

    /// <summary>Allow a non-loopback <see cref="Listen"/> address; needs <see cref="TlsCertificate"/> too.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>PEM certificate (chain) file for HTTPS, relative to the settings file; null: plain HTTP.</summary>
    public string? TlsCertificate { get; init; }

    /// <summary>PEM private key file of <see cref="TlsCertificate"/>; null: the key is in the certificate file.</summary>
    public string? TlsKey { get; init; }

    /// <summary>Who may call, and as what. Each token is a secret: moved into the secret store on load.</summary>
    public IReadOnlyList<HttpToken> Tokens { get; init; } = [];

    /// <summary>The largest request body accepted; a larger one is answered 413.</summary>
    public long MaxRequestBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// Four-eyes: an approval is granted only by another token than the one that requested the action (an approval
    /// requested by <c>api:ops</c> cannot be approved by <c>ops</c>, on the API or in the console). Approvals the agent
    /// requested itself may be granted by any approver.
    /// </summary>
    public bool FourEyes { get; init; }

    /// <summary>How long a console sign-in lasts, in minutes (the session cookie's life; signing out ends it sooner).</summary>
    public int ConsoleSessionMinutes { get; init; } = 720;

    /// <summary>The shortest token accepted (a bearer token is a password sent with every request).</summary>
    public const int MinTokenLength = 16;

    /// <summary>True when the host should run: at least one token.</summary>
    public bool Enabled => Tokens.Count > 0;

    IEnumerable<SettingsProblem> ISettingsChecks.Check(SecretStore secrets)
    {
        if (!ListenAddress.TryParse(Listen, out var listen, out var why))
        {
            yield return new SettingsProblem("listen", $"'{Listen}' is not a listen address: {why}", $"write ADDRESS:PORT, for example {DefaultListen} or [::1]:8765");
        }
        else if (!listen.IsLoopback && !(AllowRemote && !string.IsNullOrWhiteSpace(TlsCertificate)))
        {
            yield return new SettingsProblem("listen", $"'{Listen}' is not a loopback address: the agent's web host (MCP with actions, approvals) would be reachable from other machines",
                AllowRemote
                    ? "set tls_certificate (and tls_key) so that tokens never cross the network in clear text, or listen on 127.0.0.1"
                    : "listen on 127.0.0.1, or set allow_remote: true together with tls_certificate (and tls_key) to serve remote clients over TLS");
        }

        if (MaxRequestBytes < 1024)
        {
            yield return new SettingsProblem("max_request_bytes", string.Create(CultureInfo.InvariantCulture, $"max_request_bytes must be at least 1024, got {MaxRequestBytes}"),
                "the default is 1048576 (1 MiB)");
        }

        if (ConsoleSessionMinutes is < 5 or > 10080)
        {
            yield return new SettingsProblem("console_session_minutes", string.Create(CultureInfo.InvariantCulture, $"console_session_minutes must be 5-10080 (a week), got {ConsoleSessionMinutes}"),
                "the default is 720 (12 hours): an on-call shift");
        }

        if (!string.IsNullOrWhiteSpace(TlsKey) && string.IsNullOrWhiteSpace(TlsCertificate))
        {
            yield return new SettingsProblem("tls_key", "tls_key without tls_certificate", "give the certificate's PEM file as tls_certificate");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var values = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Tokens.Count; i++)
        {
            var token = Tokens[i];
            const string at = "tokens";
            if (!TokenName().IsMatch(token.Name))
            {
                yield return new SettingsProblem(at, string.Create(CultureInfo.InvariantCulture, $"tokens[{i}]: name '{token.Name}' must be 1-32 letters, digits, '.', '-' or '_'"),
                    "name each token after who holds it (ops, claude-code, ci); the name shows in the journal as mcp:NAME/CLIENT");
            }
            else if (!names.Add(token.Name))
            {
                yield return new SettingsProblem(at, $"tokens: two tokens are named '{token.Name}'", "give each token a name of its own");
            }

            if (token.Token is null)
            {
                yield return new SettingsProblem(at, string.Create(CultureInfo.InvariantCulture, $"tokens[{i}] ({token.Name}) has no token"),
                    "give it one: token: <openssl rand -hex 32>");
            }
            else if (!secrets.TryReveal(token.Token, out var value) || value.Length < MinTokenLength)
            {
                yield return new SettingsProblem(at, string.Create(CultureInfo.InvariantCulture, $"tokens[{i}] ({token.Name}): the token must have at least {MinTokenLength} characters"),
                    "generate one with: openssl rand -hex 32");
            }
            else if (!values.Add(value))
            {
                yield return new SettingsProblem(at, string.Create(CultureInfo.InvariantCulture, $"tokens[{i}] ({token.Name}): the same token is given twice"),
                    "give each holder a token of its own, so that the journal can tell them apart");
            }
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,32}$")]
    private static partial Regex TokenName();
}

/// <summary>One bearer token of the web host: who holds it and what it may do.</summary>
public sealed record HttpToken
{
    /// <summary>Who holds it (journaled with every MCP call: <c>mcp:NAME/CLIENT</c>).</summary>
    public string Name { get; init; } = "";

    public WebRole Role { get; init; } = WebRole.Viewer;

    /// <summary>The token itself (a secret: in the secret store, compared in constant time, never shown).</summary>
    public SecretRef? Token { get; init; }
}

/// <summary>What a token may do on the web host; from viewer on, each role may do what the ones before it may.</summary>
public enum WebRole
{
    /// <summary>Only sends Alertmanager's notifications (<c>POST /api/v1/alertmanager</c>); reads nothing.</summary>
    Alertmanager,

    /// <summary>Reads: the MCP reads, the catalogue, approvals and health.</summary>
    Viewer,

    /// <summary>And requests actions through the policy (the MCP <c>act_*</c> tools, when <c>mcp.allow_actions</c>).</summary>
    Operator,

    /// <summary>And approves or denies pending actions (the approvals API, to come).</summary>
    Approver,
}

/// <summary>A parsed <c>http.listen</c>: an IP address (<c>localhost</c> is 127.0.0.1) and a port.</summary>
internal sealed record ListenAddress(IPAddress Address, int Port)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ListenAddress? address, out string why)
    {
        address = null;
        why = "";
        var t = text?.Trim() ?? "";
        var colon = t.LastIndexOf(':');
        if (colon <= 0 || colon == t.Length - 1)
        {
            why = "it needs a port after ':'";
            return false;
        }

        var host = t[..colon];
        if (!int.TryParse(t[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            why = $"'{t[(colon + 1)..]}' is not a port (0-65535)";
            return false;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            why = "an IPv6 address goes in brackets";
            return false;
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = new ListenAddress(IPAddress.Loopback, port);
            return true;
        }

        if (!IPAddress.TryParse(host, out var ip))
        {
            why = $"'{host}' is not an IP address (host names are not resolved)";
            return false;
        }

        address = new ListenAddress(ip, port);
        return true;
    }

    public override string ToString() =>
        Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Address}:{Port.ToString(CultureInfo.InvariantCulture)}";
}
