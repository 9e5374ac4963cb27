using System.Globalization;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.AspNetCore;
using OpenTelemetry.Metrics;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Mcp;
using PgRuntimeAgent.Reads;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Telemetry;
using PgRuntimeAgent.Tools;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Web;

/// <summary>What the web host serves and from what.</summary>
internal sealed record AgentWebHostOptions
{
    public required HttpSettings Http { get; init; }

    public McpSettings Mcp { get; init; } = new();

    /// <summary>The <c>telemetry:</c> section (how often <c>/metrics</c> reads the state gauges from the journal).</summary>
    public TelemetrySettings Telemetry { get; init; } = new();

    /// <summary>Holds the tokens and redacts every response.</summary>
    public required SecretStore Secrets { get; init; }

    /// <summary>The reads' context (the MCP read tools).</summary>
    public required ReadContext Reads { get; init; }

    /// <summary>Dispose <see cref="Reads"/> with the host.</summary>
    public bool OwnsReads { get; init; }

    /// <summary>The hands: the journal (MCP calls are journaled there), approvals, and the actions when <c>mcp.allow_actions</c>.</summary>
    public required ActingServices Acting { get; init; }

    public SkillCatalog? Skills { get; init; }

    public string? StandingOrders { get; init; }

    /// <summary>The clusters the agent's loop watches (health); empty when no loop runs (<c>pgra serve</c>).</summary>
    public IReadOnlyList<string> Clusters { get; init; } = [];

    /// <summary>True under <c>pgra run</c>: the loop senses and acts beside the host.</summary>
    public bool AgentLoop { get; init; }

    /// <summary>Where relative TLS file paths resolve (the settings file's directory).</summary>
    public required string BaseDirectory { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory Logging { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The longest tool result (an MCP client manages its own context: a whole member's read fits).</summary>
    public int MaxResultChars { get; init; } = 128_000;

    /// <summary>The running loop's snapshots, findings and events (<c>pgra run</c>); null under <c>pgra serve</c>.</summary>
    public AgentLiveView? Live { get; init; }

    /// <summary>Takes a fresh snapshot of a cluster when the loop has none (null: the host never senses by itself).</summary>
    public Func<string, CancellationToken, Task<ClusterSnapshot>>? Sense { get; init; }

    /// <summary>Disposed with the host (the snapshot service behind <see cref="Sense"/>).</summary>
    public IDisposable? OwnedSensing { get; init; }

    /// <summary>The longest a fresh snapshot may take before the API answers 504 (<see cref="FreshSnapshotBound"/>).</summary>
    public TimeSpan SenseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The thresholds findings of a fresh snapshot are judged with (<c>detection:</c>).</summary>
    public DetectionSettings Detection { get; init; } = DetectionSettings.Default;

    /// <summary>How often an idle event stream gets a comment line.</summary>
    public TimeSpan EventHeartbeat { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Events buffered per event stream before the oldest are dropped.</summary>
    public int EventBuffer { get; init; } = 256;

    /// <summary>The agent's Alertmanager intake (<c>pgra run</c>); null: <c>POST /api/v1/alertmanager</c> answers 503.</summary>
    public Alerts.AlertIntake? Alerts { get; init; }

    /// <summary>The cluster leases when several agents share the clusters (<c>fleet:</c>): the API says which agent owns each cluster.</summary>
    public Fleet.IClusterOwnership? Leases { get; init; }

    /// <summary>
    /// A fresh snapshot's bound: twice the longest sensor timeout (<c>sensing.timeout_seconds</c>, or a longer one in
    /// <c>sensing.sensor_timeouts</c>) plus a second: the sensors run side by side, each within its own timeout.
    /// </summary>
    public static TimeSpan FreshSnapshotBound(SensingSettings sensing)
    {
        ArgumentNullException.ThrowIfNull(sensing);
        var longest = sensing.SensorTimeouts.Values.Append(sensing.TimeoutSeconds).Max();
        return TimeSpan.FromSeconds(Math.Max(0.5, longest) * 2 + 1);
    }
}

/// <summary>
/// The agent's web host, composed here and started by <c>pgra run</c> and <c>pgra serve</c>: Kestrel on
/// <c>http.listen</c> (TLS with <c>http.tls_certificate</c>), every route behind a bearer token of <c>http.tokens</c>
/// (none or unknown: 401; a role too low: 403), bodies bounded by <c>http.max_request_bytes</c> (413). It serves the MCP
/// server at <c>/mcp</c> over streamable HTTP (the same tools, resources and prompts as <c>pgra mcp</c>, read-only
/// unless <c>mcp.allow_actions</c>, and then the <c>act_*</c> tools only to operators and approvers, as
/// <c>mcp:TOKEN/CLIENT</c>; every call journaled as <c>mcp.call</c>) and the API at <c>/api/v1</c>
/// (<see cref="AgentApi"/>), and the agent's own metrics at <c>/metrics</c> in Prometheus's text format (the
/// OpenTelemetry SDK's Prometheus exporter over the <c>PgRuntimeAgent.*</c> meters and the runtime's; a viewer token
/// is enough, as for every read). Every response is redacted; no token is ever written back.
/// </summary>
internal sealed class AgentWebHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ReadContext? _ownedReads;
    private readonly IDisposable? _ownedSensing;
    private readonly X509Certificate2? _certificate;
    private readonly ILogger _logger;
    private readonly MeterProvider _meters;
    private readonly AgentStateMetrics _state;
    private bool _stopped;

    private AgentWebHost(WebApplication app, ReadContext? ownedReads, IDisposable? ownedSensing, X509Certificate2? certificate, IReadOnlyList<Uri> addresses, ILogger logger,
        MeterProvider meters, AgentStateMetrics state)
    {
        _app = app;
        _meters = meters;
        _state = state;
        _ownedReads = ownedReads;
        _ownedSensing = ownedSensing;
        _certificate = certificate;
        Addresses = addresses;
        _logger = logger;
    }

    /// <summary>Where it listens (the real port when <c>http.listen</c> asked for port 0).</summary>
    public IReadOnlyList<Uri> Addresses { get; }

    /// <summary>The base address of the first listener (<c>http://127.0.0.1:8765/</c>).</summary>
    public Uri Address => Addresses[0];

    /// <summary>Builds and starts the host; a bad listen address or TLS file is an <see cref="InputException"/>.</summary>
    public static async Task<AgentWebHost> StartAsync(AgentWebHostOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var http = options.Http;
        if (!ListenAddress.TryParse(http.Listen, out var listen, out var why))
        {
            throw new InputException($"http.listen '{http.Listen}' is not a listen address: {why}");
        }

        var tokens = new TokenBook(http.Tokens, options.Secrets);
        if (tokens.Count == 0)
        {
            throw new InputException("the web host needs at least one token in http.tokens (docs/settings.md)");
        }

        var certificate = LoadCertificate(http, options.BaseDirectory);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "pgra", ContentRootPath = options.BaseDirectory });
        builder.Services.AddSingleton(options.Logging);
        builder.Services.AddLogging();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = http.MaxRequestBytes;
            k.Listen(listen.Address, listen.Port, l =>
            {
                if (certificate is not null)
                {
                    l.UseHttps(certificate);
                }
            });
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(tokens);
        var sessions = new Console.ConsoleSessions(options.Time, TimeSpan.FromMinutes(http.ConsoleSessionMinutes));
        builder.Services.AddSingleton(sessions);
        builder.Services.AddAuthentication(WebRoles.Scheme).AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(WebRoles.Scheme, null);
        builder.Services.AddAuthorization(a =>
        {
            foreach (var role in Enum.GetValues<WebRole>())
            {
                a.AddPolicy(WebRoles.Policy(role), p => p.AddAuthenticationSchemes(WebRoles.Scheme).RequireAssertion(c => WebRoles.Of(c.User) >= role));
            }

            a.AddPolicy(AlertsApi.Policy, p => p.AddAuthenticationSchemes(WebRoles.Scheme).RequireAssertion(c => AlertsApi.Allowed(WebRoles.Of(c.User))));

            // Every route, known or not, needs a token: an unknown path is 401 before it is 404.
            a.FallbackPolicy = a.GetPolicy(WebRoles.Policy(WebRole.Viewer));
        });
        var mcp = McpDefinitions(options);
        builder.Services.AddMcpServer().WithHttpTransport(t =>
        {
            // Sessions keep the client's name from its initialize (the caller of its actions); clients of the newer
            // protocol revisions, which carry it on every request, are served per request.
            t.SessionMode = HttpServerSessionMode.StatefulForInitializeClients;
            t.ConfigureSessionOptions = (context, server, _) =>
            {
                var actions = options.Mcp.AllowActions && WebRoles.Of(context.User) >= WebRole.Operator;
                AgentMcpServer.Configure(server, actions ? mcp.WithActions : mcp.ReadOnly);
                return Task.CompletedTask;
            };
        });

        var app = builder.Build();
        var meters = TelemetryExport.PrometheusMeters();
        var state = new AgentStateMetrics(options.Acting.Journal, options.Acting.Approvals, options.Time, TimeSpan.FromSeconds(options.Telemetry.StateRefreshSeconds),
            options.Secrets, options.Logging.CreateLogger("PgRuntimeAgent.Telemetry")).Register();
        try
        {
            return await StartAsync(app, options, tokens, sessions, certificate, listen, meters, state, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            meters.Dispose();
            await state.DisposeAsync().ConfigureAwait(false);
            certificate?.Dispose();
            throw;
        }
    }

    private static async Task<AgentWebHost> StartAsync(WebApplication app, AgentWebHostOptions options, TokenBook tokens, Console.ConsoleSessions sessions,
        X509Certificate2? certificate, ListenAddress listen, MeterProvider meters, AgentStateMetrics state, CancellationToken cancellationToken)
    {
        var http = options.Http;
        app.Use(async (context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            await next(context).ConfigureAwait(false);
        });
        app.UseRouting();
        app.UseAuthentication();
        app.Use((context, next) => Console.CsrfGuard.InvokeAsync(context, () => next(context), sessions, options.Secrets));
        app.UseAuthorization();
        app.Use(async (context, next) =>
        {
            if (context.Request.ContentLength > http.MaxRequestBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return;
            }

            await next(context).ConfigureAwait(false);
        });
        app.MapMcp("/mcp").RequireAuthorization(WebRoles.Policy(WebRole.Viewer));
        // Prometheus scrapes with a bearer token (scrape_config authorization: { credentials: ... }). The state gauges
        // are read from the journal before the collection, at most once per telemetry.state_refresh_seconds.
        app.MapPrometheusScrapingEndpoint("/metrics", meters, branch => branch.Use(async (context, next) =>
        {
            await (AgentStateMetrics.Current ?? state).RefreshAsync(context.RequestAborted).ConfigureAwait(false);
            await next(context).ConfigureAwait(false);
        }), null).RequireAuthorization(WebRoles.Policy(WebRole.Viewer));
        AgentApi.Map(app, options, options.Time.GetUtcNow(), app.Lifetime.ApplicationStopping);
        AgentApi.MapDecisions(app, options, app.Lifetime.ApplicationStopping);
        ActionsApi.Map(app, options, app.Lifetime.ApplicationStopping);
        AlertsApi.Map(app, options.Alerts);
        var logger = options.Logging.CreateLogger("PgRuntimeAgent.Web");
        Console.ConsoleRoutes.Map(app, options, tokens, sessions, logger);

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new InputException($"the web host cannot listen on {listen} (http.listen): {ex.Message}",
                ["another process may hold the port: pick another one in http.listen, or stop the other process"]);
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            .Select(a => new Uri(a.EndsWith('/') ? a : a + "/")).ToList() ?? [];
        Log.Started(logger, string.Join(", ", addresses), options.Mcp.AllowActions ? "actions for operators and approvers" : "read-only", tokens.Count);
        return new AgentWebHost(app, options.OwnsReads ? options.Reads : null, options.OwnedSensing, certificate, addresses, logger, meters, state);
    }

    /// <summary>The two MCP definitions a session gets one of: reads only, or reads and actions.</summary>
    private static (McpServeOptions ReadOnly, McpServeOptions WithActions) McpDefinitions(AgentWebHostOptions options)
    {
        var journal = new McpCallJournal(options.Acting.Journal, options.Secrets);
        var serve = new McpServeOptions
        {
            Tools = [],
            Skills = options.Skills,
            StandingOrders = options.StandingOrders,
            Transport = "http",
            Journal = journal,
            Workspace = options.Acting.Workspace,
            Time = options.Time,
            Identify = request =>
            {
                var token = WebRoles.TokenName(request.User) ?? "anonymous";
                var who = McpIdentity.Of(request, token);
                return who with { Caller = $"mcp:{token}/{who.Client}" };
            },
        };
        // The caller each action is requested for comes with the call (Identify); this one is never used.
        ToolboxOptions Toolbox(bool actions) => new()
        {
            Caller = "mcp:http",
            Reads = options.Reads,
            Acting = actions ? options.Acting : null,
            MaxResultChars = options.MaxResultChars,
        };
        return (serve with { Tools = AgentToolbox.Build(AgentCatalog.Default, Toolbox(actions: false)) },
                serve with { Tools = options.Mcp.AllowActions ? AgentToolbox.Build(AgentCatalog.Default, Toolbox(actions: true)) : [] });
    }

    private static X509Certificate2? LoadCertificate(HttpSettings http, string baseDirectory)
    {
        if (string.IsNullOrWhiteSpace(http.TlsCertificate))
        {
            return null;
        }

        var certificate = Path.GetFullPath(http.TlsCertificate, baseDirectory);
        var key = string.IsNullOrWhiteSpace(http.TlsKey) ? null : Path.GetFullPath(http.TlsKey, baseDirectory);
        try
        {
            return X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InputException(string.Create(CultureInfo.InvariantCulture,
                $"http.tls_certificate {certificate}{(key is null ? "" : " with http.tls_key " + key)} could not be loaded: {ex.GetType().Name}: {ex.Message}"),
                ["give PEM files: the certificate (chain) and its private key, readable by the agent"]);
        }
    }

    /// <summary>The agent's version (the assembly's informational version).</summary>
    internal static string Version { get; } =
        typeof(AgentWebHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        Log.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _meters.Dispose();
        await _state.DisposeAsync().ConfigureAwait(false);
        _certificate?.Dispose();
        _ownedSensing?.Dispose();
        if (_ownedReads is not null)
        {
            await _ownedReads.DisposeAsync().ConfigureAwait(false);
        }
    }
}
