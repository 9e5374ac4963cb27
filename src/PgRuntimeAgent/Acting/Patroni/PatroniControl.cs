using System.Text.Json.Nodes;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using Refit;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// Patroni's write endpoints (and the raw reads the actuators need). Every method returns the raw response: Patroni
/// answers text, 412 when a switchover is not possible, 503 when it failed or its outcome is unknown; all of that is
/// data for the actuator, never an exception.
/// </summary>
public interface IPatroniControlApi
{
    [Post("/switchover")]
    Task<HttpResponseMessage> SwitchoverAsync([Body] string json, CancellationToken cancellationToken);

    [Post("/failover")]
    Task<HttpResponseMessage> FailoverAsync([Body] string json, CancellationToken cancellationToken);

    [Post("/restart")]
    Task<HttpResponseMessage> RestartAsync([Body] string json, CancellationToken cancellationToken);

    [Post("/reload")]
    Task<HttpResponseMessage> ReloadAsync([Body] string json, CancellationToken cancellationToken);

    [Post("/reinitialize")]
    Task<HttpResponseMessage> ReinitializeAsync([Body] string json, CancellationToken cancellationToken);

    [Patch("/config")]
    Task<HttpResponseMessage> PatchConfigAsync([Body] string json, CancellationToken cancellationToken);

    [Get("/config")]
    Task<HttpResponseMessage> GetConfigAsync(CancellationToken cancellationToken);

    [Get("/patroni")]
    Task<HttpResponseMessage> GetNodeAsync(CancellationToken cancellationToken);
}

/// <summary>What one call to a member's Patroni REST API gave: the HTTP status and body, or why there was no answer.</summary>
internal sealed record PatroniReply(string Endpoint, int Status, string Body, string? Error, double ElapsedMs)
{
    /// <summary>The API answered (any status).</summary>
    public bool Answered => Error is null;

    public bool Ok => Answered && Status is >= 200 and < 300;

    /// <summary>One line for messages and the journal: <c>POST http://.../switchover: HTTP 412: candidate does not exists</c>.</summary>
    public string Describe() => Answered
        ? $"{Endpoint}: HTTP {Status}: {Excerpt(Body)}"
        : $"{Endpoint}: no answer: {Error}";

    /// <summary>The body as a JSON object, when it is one.</summary>
    public JsonObject? JsonBody()
    {
        try
        {
            return JsonNode.Parse(Sensing.JsonRead.WithoutLoneSurrogates(Body)) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string Excerpt(string body)
    {
        var text = body.ReplaceLineEndings(" ").Trim();
        return text.Length <= 300 ? text : text[..300] + "...";
    }
}

/// <summary>
/// Sends requests to members' Patroni REST APIs with basic auth from the inventory (the password is revealed in the
/// HTTP handler only). Each call has its own timeout; the caller's cancellation propagates.
/// </summary>
internal sealed class PatroniControl : IDisposable
{
    private readonly SensingHttp _http;

    /// <summary>One client per member API and cluster credentials, reused across calls (the pool under them is shared).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(Uri Url, string Cluster), (HttpClient Client, IPatroniControlApi Api)> _apis = new();
    private readonly SecretStore _secrets;
    private readonly TimeProvider _time;

    public PatroniControl(SecretStore secrets, TimeProvider time, HttpMessageHandler? handler = null)
    {
        _secrets = secrets;
        _time = time;
        _http = new SensingHttp(handler);
    }

    /// <summary>Builds the base URL of a member's REST API; replaceable for tests.</summary>
    public Func<PgMember, Uri> ApiUrlOf { get; init; } = m => m.PatroniUrl;

    public Task<PatroniReply> SwitchoverAsync(PgCluster cluster, PgMember member, string leader, string candidate, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "POST", "switchover", timeout,
            (api, ct) => api.SwitchoverAsync(new JsonObject { ["leader"] = leader, ["candidate"] = candidate }.ToJsonString(), ct), cancellationToken);

    /// <summary>
    /// POST /failover to <paramref name="candidate"/>. With <paramref name="leader"/>, Patroni refuses (412 "leader name
    /// does not match") unless that member still holds the key: the request cannot move the key away from a member
    /// that took it meanwhile. Without it the request applies to whoever holds the key (needed when none does).
    /// </summary>
    public Task<PatroniReply> FailoverAsync(PgCluster cluster, PgMember member, string candidate, string? leader, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["candidate"] = candidate };
        if (leader is not null)
        {
            body["leader"] = leader;
        }

        return CallAsync(cluster, member, "POST", "failover", timeout, (api, ct) => api.FailoverAsync(body.ToJsonString(), ct), cancellationToken);
    }

    public Task<PatroniReply> RestartAsync(PgCluster cluster, PgMember member, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "POST", "restart", timeout, (api, ct) => api.RestartAsync("{}", ct), cancellationToken);

    public Task<PatroniReply> ReloadAsync(PgCluster cluster, PgMember member, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "POST", "reload", timeout, (api, ct) => api.ReloadAsync("{}", ct), cancellationToken);

    /// <summary>POST /reinitialize with force=false: Patroni refuses while another task (a restart...) runs on the member rather than cancelling it.</summary>
    public Task<PatroniReply> ReinitializeAsync(PgCluster cluster, PgMember member, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "POST", "reinitialize", timeout, (api, ct) => api.ReinitializeAsync("""{"force":false}""", ct), cancellationToken);

    public Task<PatroniReply> PatchConfigAsync(PgCluster cluster, PgMember member, JsonObject patch, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "PATCH", "config", timeout, (api, ct) => api.PatchConfigAsync(patch.ToJsonString(), ct), cancellationToken);

    public Task<PatroniReply> GetConfigAsync(PgCluster cluster, PgMember member, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "GET", "config", timeout, (api, ct) => api.GetConfigAsync(ct), cancellationToken);

    public Task<PatroniReply> GetNodeAsync(PgCluster cluster, PgMember member, TimeSpan timeout, CancellationToken cancellationToken) =>
        CallAsync(cluster, member, "GET", "patroni", timeout, (api, ct) => api.GetNodeAsync(ct), cancellationToken);

    public void Dispose()
    {
        foreach (var (client, _) in _apis.Values)
        {
            client.Dispose();
        }

        _apis.Clear();
        _http.Dispose();
    }

    private async Task<PatroniReply> CallAsync(PgCluster cluster, PgMember member, string method, string path, TimeSpan timeout,
        Func<IPatroniControlApi, CancellationToken, Task<HttpResponseMessage>> call, CancellationToken cancellationToken)
    {
        var url = ApiUrlOf(member);
        var endpoint = $"{method} {SensingHttp.ApiUrl(url, path)}";
        var (_, api) = _apis.GetOrAdd((url, cluster.Name), key =>
        {
            var client = _http.CreateClient(key.Url, cluster.Credentials.PatroniUsername, cluster.Credentials.PatroniPassword, _secrets);
            return (client, SensingHttp.CreateApi<IPatroniControlApi>(client));
        });
        var outcome = await SensorCall.RunAsync(endpoint, timeout, _time, async ct =>
        {
            using var response = await call(api, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            return new RawAnswer((int)response.StatusCode, body);
        }, cancellationToken).ConfigureAwait(false);
        return outcome.Value is { } answer
            ? new PatroniReply(endpoint, answer.Status, _secrets.Redact(answer.Body), null, outcome.ElapsedMs)
            : new PatroniReply(endpoint, 0, "", _secrets.Redact(outcome.Reason ?? "no answer"), outcome.ElapsedMs);
    }

    private sealed record RawAnswer(int Status, string Body);
}
