using System.Net.Http.Headers;
using PgRuntimeAgent.Mcp;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tests.Tools;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// A real web host on 127.0.0.1 (a free port) over a <see cref="ToolsKit"/>: its reads on the kit's journal, its
/// actions through the kit's pipeline, three tokens (viewer, operator, approver). Every response body any client of
/// the kit receives is kept, so that a test can check that none carries a token.
/// </summary>
internal sealed class WebKit : IAsyncDisposable
{
    public const string ViewerToken = "viewer-token-6f1c0d9e2b7a4c55";
    public const string OperatorToken = "operator-token-93b2e8a1d4c07f66";
    public const string ApproverToken = "approver-token-1a2b3c4d5e6f7a8b";
    public const string AlertmanagerToken = "alertmanager-token-5c6d7e8f9a0b";
    public const string SecondApproverToken = "approver2-token-9e8d7c6b5a4f3e2d";

    private readonly List<string> _bodies = [];
    private ToolsKit _tools = null!;

    public AgentKit Kit => _tools.Kit;

    public AgentWebHost Host { get; private set; } = null!;

    public static IReadOnlyList<string> Tokens { get; } = [ViewerToken, OperatorToken, ApproverToken, AlertmanagerToken, SecondApproverToken];

    /// <param name="live">True: as under <c>pgra run</c>, the kit's loop is the agent's (its snapshots, findings, events); false: as under <c>pgra serve</c>, fresh snapshots from the kit's world and no event stream.</param>
    /// <param name="fourEyes"><c>http.four_eyes</c>.</param>
    /// <param name="tls">A PEM certificate and key (paths) to serve HTTPS with; null: plain HTTP.</param>
    public static async Task<WebKit> StartAsync(bool allowActions = false, int level = 2, long maxRequestBytes = 64 * 1024, bool live = true, int eventBuffer = 256,
        bool fourEyes = false, (string Certificate, string Key)? tls = null, PgRuntimeAgent.Fleet.IClusterOwnership? leases = null)
    {
        var web = new WebKit { _tools = await ToolsKit.CreateAsync(level) };
        var secrets = web.Kit.Workspace.Secrets;
        HttpToken Token(string name, WebRole role, string value, int i) =>
            new() { Name = name, Role = role, Token = secrets.Add($"settings:http.tokens[{i}].token", value, $"test (http.tokens[{i}])") };
        web.Host = await AgentWebHost.StartAsync(new AgentWebHostOptions
        {
            Http = new HttpSettings
            {
                Listen = "127.0.0.1:0",
                MaxRequestBytes = maxRequestBytes,
                Tokens = [Token("viewer", WebRole.Viewer, ViewerToken, 0), Token("ops", WebRole.Operator, OperatorToken, 1), Token("boss", WebRole.Approver, ApproverToken, 2),
                    Token("alertmanager", WebRole.Alertmanager, AlertmanagerToken, 3), Token("boss2", WebRole.Approver, SecondApproverToken, 4)],
                FourEyes = fourEyes,
                TlsCertificate = tls?.Certificate,
                TlsKey = tls?.Key,
            },
            Mcp = new McpSettings { AllowActions = allowActions },
            Secrets = secrets,
            Reads = web._tools.Reads,
            Acting = web.Kit.Acting,
            Skills = web.Kit.Skills,
            StandingOrders = "# standing orders\nnever act on a guess",
            Clusters = [AgentKit.Cluster],
            AgentLoop = live,
            Live = live ? AgentLiveView.Attach(web.Kit.Loop, [AgentKit.Cluster]) : null,
            Sense = web.Kit.SenseAsync,
            EventBuffer = eventBuffer,
            Detection = AgentKit.Detection,
            BaseDirectory = web.Kit.Workspace.BaseDirectory,
            Time = web.Kit.Time,
            Alerts = live ? new PgRuntimeAgent.Alerts.AlertIntake(web.Kit.Loop, web.Kit.Journal, web.Kit.Time) : null,
            Leases = leases,
        }, TestContext.Current.CancellationToken);
        return web;
    }

    /// <summary>An HTTP client of the host that keeps every response body; <paramref name="token"/> null: no Authorization header.</summary>
    public HttpClient Client(string? token, SocketsHttpHandler? handler = null)
    {
        var client = new HttpClient(new Recording(_bodies) { InnerHandler = handler ?? new SocketsHttpHandler() }) { BaseAddress = Host.Address };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>A client of the host for a stream (the event stream): nothing is read ahead; <see cref="Keep"/> what was read.</summary>
    public HttpClient StreamClient(string token)
    {
        var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = Host.Address, Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Adds text read from a stream to the bodies the secret checks scan.</summary>
    public void Keep(string body)
    {
        lock (_bodies)
        {
            _bodies.Add(body);
        }
    }

    /// <summary>No response body carries any secret value of the workspace (inventory passwords, settings, the tokens).</summary>
    public void AssertNoSecretInAnyResponse()
    {
        var secrets = Kit.Workspace.Secrets.MaskedValues;
        Assert.Contains(ViewerToken, secrets);
        Assert.NotEmpty(Bodies);
        foreach (var body in Bodies)
        {
            foreach (var secret in secrets)
            {
                Assert.False(body.Contains(secret, StringComparison.Ordinal), $"a response carries the secret {secret[..2]}...: {body[..Math.Min(body.Length, 300)]}");
            }
        }
    }

    /// <summary>Every response body received so far (MCP's event streams included).</summary>
    public IReadOnlyList<string> Bodies
    {
        get
        {
            lock (_bodies)
            {
                return [.. _bodies];
            }
        }
    }

    public void AssertNoTokenInAnyResponse()
    {
        Assert.NotEmpty(Bodies);
        foreach (var body in Bodies)
        {
            foreach (var token in Tokens)
            {
                Assert.DoesNotContain(token, body, StringComparison.Ordinal);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _tools.DisposeAsync();
    }

    /// <summary>Reads each response whole (an MCP POST's event stream ends with its answer) and keeps its text.</summary>
    private sealed class Recording(List<string> bodies) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var copy = new ByteArrayContent(bytes);
            foreach (var header in response.Content.Headers)
            {
                copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            response.Content = copy;
            lock (bodies)
            {
                bodies.Add(System.Text.Encoding.UTF8.GetString(bytes));
            }

            return response;
        }
    }
}
