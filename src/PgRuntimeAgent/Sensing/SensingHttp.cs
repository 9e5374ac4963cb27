using System.Net.Http.Headers;
using System.Text;
using PgRuntimeAgent.Secrets;
using Refit;

namespace PgRuntimeAgent.Sensing;

/// <summary>
/// The agent's HTTP client factory: every HTTP caller (sensors, Patroni control, etcd, the notifier's webhook) gets
/// its clients here, and without a handler of its own (tests pass one) they all share ONE process-wide pooled handler,
/// so connections are reused across members, snapshots and actions. Clients are cheap wrappers; per-call timeouts
/// come from the caller's token (a linked CancellationTokenSource per call), so HttpClient's own timeout is infinite.
/// </summary>
public sealed class SensingHttp : IDisposable
{
    /// <summary>The process-wide pool (never disposed: it lives as long as the process).</summary>
    private static readonly Lazy<SocketsHttpHandler> SharedHandler = new(() => new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        MaxConnectionsPerServer = 16,
        UseProxy = false,
        AllowAutoRedirect = false,
    });

    /// <summary>The pool for endpoints outside the clusters (system proxy and redirects as a plain HttpClient).</summary>
    private static readonly Lazy<SocketsHttpHandler> OutboundHandler = new(() => new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    });

    /// <summary>The one set of Refit settings every typed API shares (see <see cref="CreateApi{TApi}"/>).</summary>
    private static readonly RefitSettings ApiSettings = new();

    private readonly HttpMessageHandler _handler;

    /// <param name="handler">A handler of the caller's (tests); null: the process-wide pool. Never disposed here.</param>
    public SensingHttp(HttpMessageHandler? handler = null)
    {
        _handler = handler ?? SharedHandler.Value;
    }

    /// <summary>
    /// A client for endpoints outside the clusters (the notifier's webhook): absolute URLs, the system proxy and
    /// redirects honoured as a plain HttpClient does, over a second process-wide pool; <paramref name="handler"/> (tests) replaces it.
    /// </summary>
    public static HttpClient CreateOutboundClient(HttpMessageHandler? handler = null) =>
        new(handler ?? OutboundHandler.Value, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>A client for one base URL; when a user and password are given, basic auth is added at send time.</summary>
    public HttpClient CreateClient(Uri baseAddress, string? username = null, SecretRef? password = null, SecretStore? secrets = null)
    {
        HttpMessageHandler handler = _handler;
        if (username is not null && password is not null && secrets is not null)
        {
            handler = new BasicAuthHandler(username, password, secrets) { InnerHandler = _handler };
        }

        // Never dispose the handler chain with the client: the pooled inner handler belongs to SensingHttp, and the
        // auth wrapper holds nothing else.
        return new HttpClient(handler, disposeHandler: false)
        {
            BaseAddress = baseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>
    /// The typed (Refit) API <typeparamref name="TApi"/> over a client from <see cref="CreateClient"/>: the agent's one
    /// way to make one, for every protocol (Patroni, Prometheus, Loki, VictoriaLogs). Its methods return the raw
    /// <see cref="HttpResponseMessage"/> so a non-2xx answer is data for the caller's parser, never a Refit exception;
    /// a transport failure surfaces as <see cref="ApiRequestException"/>. The method paths are joined under the base
    /// address's path, with or without its trailing slash (http://host:9090/prom/ + /api/v1/query is /prom/api/v1/query).
    /// </summary>
    public static TApi CreateApi<TApi>(HttpClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return RestService.For<TApi>(client, ApiSettings);
    }

    /// <summary>
    /// The URL a typed API sends <paramref name="path"/> (relative, no leading slash) to under <paramref name="baseUrl"/>,
    /// for naming the endpoint in messages: the base's path is kept whether or not it ends in a slash.
    /// </summary>
    public static Uri ApiUrl(Uri baseUrl, string path)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        var directory = baseUrl.AbsolutePath.EndsWith('/') ? baseUrl : new Uri(baseUrl.GetLeftPart(UriPartial.Path) + "/");
        return new Uri(directory, path);
    }

    /// <summary>Nothing to release: the pool is shared and a caller's handler stays the caller's.</summary>
    public void Dispose()
    {
    }

    /// <summary>Adds basic auth; the password is revealed here only, per request, and never stored in the client.</summary>
    private sealed class BasicAuthHandler(string username, SecretRef password, SecretStore secrets) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (secrets.TryReveal(password, out var value))
            {
                var token = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{value}"));
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", token);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
