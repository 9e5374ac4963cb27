using System.Net.Http.Headers;
using System.Text;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Sensing;

/// <summary>
/// One pooled HTTP handler for every sensor (connections are reused across members and snapshots). Per-call
/// timeouts come from the caller's token, so HttpClient's own timeout is infinite.
/// </summary>
public sealed class SensingHttp : IDisposable
{
    private readonly HttpMessageHandler _handler;
    private readonly bool _ownsHandler;

    public SensingHttp(HttpMessageHandler? handler = null)
    {
        _ownsHandler = handler is null;
        _handler = handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 16,
            UseProxy = false,
            AllowAutoRedirect = false,
        };
    }

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

    public void Dispose()
    {
        if (_ownsHandler)
        {
            _handler.Dispose();
        }
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
