using System.Net;
using Refit;

namespace PgRuntimeAgent.Sensing.Patroni;

/// <summary>
/// Patroni's read endpoints. Each returns the raw response so that a non-2xx answer (503 from /patroni when
/// PostgreSQL is down) is data for the parser rather than an exception.
/// </summary>
public interface IPatroniApi
{
    [Get("/patroni")]
    Task<HttpResponseMessage> GetPatroniAsync(CancellationToken cancellationToken);

    [Get("/cluster")]
    Task<HttpResponseMessage> GetClusterAsync(CancellationToken cancellationToken);

    [Get("/history")]
    Task<HttpResponseMessage> GetHistoryAsync(CancellationToken cancellationToken);

    [Get("/config")]
    Task<HttpResponseMessage> GetConfigAsync(CancellationToken cancellationToken);
}

/// <summary>Typed reads of one member's Patroni REST API (base URL http://ip:8008).</summary>
internal sealed class PatroniClient
{
    private readonly IPatroniApi _api;

    public PatroniClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        BaseUrl = http.BaseAddress ?? throw new ArgumentException("The Patroni client needs a base address.", nameof(http));
        _api = SensingHttp.CreateApi<IPatroniApi>(http);
    }

    public Uri BaseUrl { get; }

    public async Task<PatroniNodeStatus> GetNodeAsync(CancellationToken cancellationToken)
    {
        var (status, body, endpoint) = await ReadAsync(_api.GetPatroniAsync, "patroni", cancellationToken).ConfigureAwait(false);
        if (status is not (HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable))
        {
            throw Unexpected(endpoint, status, body);
        }

        return PatroniParser.ParseNode(body, endpoint, (int)status);
    }

    public async Task<PatroniClusterView> GetClusterAsync(CancellationToken cancellationToken)
    {
        var (status, body, endpoint) = await ReadAsync(_api.GetClusterAsync, "cluster", cancellationToken).ConfigureAwait(false);
        return status == HttpStatusCode.OK ? PatroniParser.ParseCluster(body, endpoint) : throw Unexpected(endpoint, status, body);
    }

    public async Task<IReadOnlyList<PatroniHistoryEntry>> GetHistoryAsync(CancellationToken cancellationToken)
    {
        var (status, body, endpoint) = await ReadAsync(_api.GetHistoryAsync, "history", cancellationToken).ConfigureAwait(false);
        return status == HttpStatusCode.OK ? PatroniParser.ParseHistory(body, endpoint) : throw Unexpected(endpoint, status, body);
    }

    public async Task<PatroniDynamicConfig> GetConfigAsync(CancellationToken cancellationToken)
    {
        var (status, body, endpoint) = await ReadAsync(_api.GetConfigAsync, "config", cancellationToken).ConfigureAwait(false);
        return status == HttpStatusCode.OK ? PatroniParser.ParseConfig(body, endpoint) : throw Unexpected(endpoint, status, body);
    }

    private async Task<(HttpStatusCode Status, string Body, string Endpoint)> ReadAsync(
        Func<CancellationToken, Task<HttpResponseMessage>> call, string path, CancellationToken cancellationToken)
    {
        var endpoint = $"GET {SensingHttp.ApiUrl(BaseUrl, path)}";
        using var response = await call(cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, body, endpoint);
    }

    private static SensorResponseException Unexpected(string endpoint, HttpStatusCode status, string body) =>
        new(endpoint, $"answered HTTP {(int)status} {status}: {JsonRead.Excerpt(body)}");
}
