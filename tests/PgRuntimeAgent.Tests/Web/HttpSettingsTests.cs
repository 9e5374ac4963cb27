using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// The <c>http:</c> and <c>mcp:</c> sections: defaults, tokens moved into the secret store, and the checks at load
/// with file:line (a non-loopback listen address without allow_remote and TLS, short, duplicate or badly named tokens).
/// </summary>
public sealed class HttpSettingsTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-http-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SettingsLoadResult Load(string yaml, SecretStore? secrets = null, IReadOnlyDictionary<string, string?>? env = null)
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, yaml);
        return SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), secrets ?? new SecretStore(), env ?? NoEnvironment, Path.Combine(_dir, "etc"));
    }

    [Fact]
    public void Defaults_LoopbackAndOff_ReadOnlyMcp()
    {
        var s = AgentSettings.Default;

        Assert.Equal("127.0.0.1:8765", s.Http.Listen);
        Assert.False(s.Http.Enabled);
        Assert.Equal(1024 * 1024, s.Http.MaxRequestBytes);
        Assert.False(s.Mcp.AllowActions);
    }

    [Fact]
    public void Load_Tokens_GoToTheSecretStore_WithTheirRoles()
    {
        var secrets = new SecretStore();

        var result = Load("""
            http:
              listen: 127.0.0.1:9876
              max_request_bytes: 65536
              tokens:
                - { name: ops, role: operator, token: 0123456789abcdef-ops }
                - { name: claude-code, token: 0123456789abcdef-claude }
            mcp: { allow_actions: true }
            """, secrets);

        Assert.Empty(result.Problems);
        var http = result.Settings.Http;
        Assert.Equal(("127.0.0.1:9876", 65536L, true), (http.Listen, http.MaxRequestBytes, result.Settings.Mcp.AllowActions));
        Assert.Equal([("ops", WebRole.Operator), ("claude-code", WebRole.Viewer)], http.Tokens.Select(t => (t.Name, t.Role)));
        Assert.Equal("0123456789abcdef-ops", secrets.Reveal(http.Tokens[0].Token!));
        Assert.DoesNotContain("0123456789abcdef", result.Settings.ToString(), StringComparison.Ordinal);
        Assert.Equal("******", secrets.Redact("0123456789abcdef-claude"));
        Assert.True(http.Enabled);
    }

    [Theory]
    [InlineData("0.0.0.0:8765")]
    [InlineData("10.10.10.10:8765")]
    [InlineData("[::]:8765")]
    public void Load_ANonLoopbackListenAddress_IsRefusedAtItsLine(string listen)
    {
        var result = Load($"""
            agent: {"{"} snapshot_every: 30 {"}"}
            http:
              listen: "{listen}"
              tokens: [ {"{"} name: ops, token: 0123456789abcdef-ops {"}"} ]
            """);

        var problem = Assert.Single(result.Problems);
        Assert.Equal((3L, "http.listen"), (problem.Line, problem.Subject));
        Assert.Contains("not a loopback address", problem.Message, StringComparison.Ordinal);
        Assert.Contains("allow_remote: true together with tls_certificate", problem.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ANonLoopbackListenAddress_NeedsAllowRemoteAndATlsCertificate()
    {
        var remoteOnly = Load("http: { listen: 0.0.0.0:8765, allow_remote: true }");
        var tlsOnly = Load("http: { listen: 0.0.0.0:8765, tls_certificate: /etc/pgra/tls.pem }");
        var both = Load("http: { listen: 0.0.0.0:8765, allow_remote: true, tls_certificate: /etc/pgra/tls.pem, tls_key: /etc/pgra/tls.key }");

        Assert.Contains("set tls_certificate", Assert.Single(remoteOnly.Problems).Hint, StringComparison.Ordinal);
        Assert.Single(tlsOnly.Problems);
        Assert.Empty(both.Problems);
    }

    [Fact]
    public void Load_AnEnvironmentOverride_ThatListensEverywhere_IsRefusedNamingTheVariable()
    {
        var result = Load("{}", env: new Dictionary<string, string?> { ["PGRA_HTTP__LISTEN"] = "0.0.0.0:8765" });

        var problem = Assert.Single(result.Problems);
        Assert.Equal("$PGRA_HTTP__LISTEN", problem.File);
        Assert.Contains("not a loopback address", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadListenShortDuplicateOrBadlyNamedTokens_AreProblemsThatNeverShowTheToken()
    {
        var result = Load("""
            http:
              listen: localhost
              tokens:
                - { name: ops, token: short-token }
                - { name: "bad name", token: 0123456789abcdef-a }
                - { name: twin, token: 0123456789abcdef-b }
                - { name: twin, token: 0123456789abcdef-b }
            """);

        var text = string.Join("\n", result.Problems.Select(p => p.ToString()));
        Assert.Contains("http.listen", text, StringComparison.Ordinal);
        Assert.Contains("it needs a port", text, StringComparison.Ordinal);
        Assert.Contains("tokens[0] (ops): the token must have at least 16 characters", text, StringComparison.Ordinal);
        Assert.Contains("tokens[1]: name 'bad name'", text, StringComparison.Ordinal);
        Assert.Contains("two tokens are named 'twin'", text, StringComparison.Ordinal);
        Assert.Contains("the same token is given twice", text, StringComparison.Ordinal);
        Assert.DoesNotContain("short-token", text, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789abcdef", text, StringComparison.Ordinal);
        Assert.All(result.Problems, p => Assert.True(p.Line > 0));
    }

    [Fact]
    public void Load_TokensFromTheEnvironment_GoToTheSecretStore()
    {
        var secrets = new SecretStore();

        var result = Load("{}", secrets, new Dictionary<string, string?> { ["PGRA_HTTP__TOKENS"] = "[{ name: ci, role: approver, token: 0123456789abcdef-env }, { name: nobody }]" });

        var problem = Assert.Single(result.Problems);
        Assert.Contains("tokens[1] (nobody) has no token", problem.Message, StringComparison.Ordinal);
        var ok = Load("{}", secrets, new Dictionary<string, string?> { ["PGRA_HTTP__TOKENS"] = "[{ name: ci, role: approver, token: 0123456789abcdef-env }]" });
        Assert.Empty(ok.Problems);
        var token = Assert.Single(ok.Settings.Http.Tokens);
        Assert.Equal(("ci", WebRole.Approver, "0123456789abcdef-env"), (token.Name, token.Role, secrets.Reveal(token.Token!)));
        Assert.Equal("$PGRA_HTTP__TOKENS", token.Token!.Origin);
    }

    [Theory]
    [InlineData("127.0.0.1:8765", true, 8765)]
    [InlineData("localhost:0", true, 0)]
    [InlineData("[::1]:8765", true, 8765)]
    [InlineData("192.168.1.5:80", false, 80)]
    public void ListenAddress_Parses(string text, bool loopback, int port)
    {
        Assert.True(ListenAddress.TryParse(text, out var address, out _));
        Assert.Equal((loopback, port), (address.IsLoopback, address.Port));
    }

    [Theory]
    [InlineData("8765")]
    [InlineData("pgra.example.com:8765")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("::1:8765")]
    public void ListenAddress_RefusesWhatIsNotAddressColonPort(string text) =>
        Assert.False(ListenAddress.TryParse(text, out _, out _));
}
