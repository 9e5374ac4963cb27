using System.Net;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// <c>POST /api/v1/alertmanager</c> on a real Kestrel: Alertmanager's own token (role alertmanager) is taken there and
/// nowhere else; a viewer may not send alerts; the documented v4 payload reaches the intake, which journals each alert;
/// a body that is not one is refused with where; without an agent loop (pgra serve) the route is 503.
/// </summary>
[Collection(WebHostCollection.Name)]
public sealed class AlertsApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Payload() =>
        new(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "documented", "alertmanager", "webhook-v4-replication-lag.json")), Encoding.UTF8, "application/json");

    [Fact]
    public async Task Alertmanager_ItsOwnTokenSendsTheDocumentedPayload_EachAlertIsJournaled_AndTheTokenReadsNothingElse()
    {
        await using var web = await WebKit.StartAsync();
        using var alertmanager = web.Client(WebKit.AlertmanagerToken);
        using var viewer = web.Client(WebKit.ViewerToken);
        using var nobody = web.Client(null);

        using var sent = await alertmanager.PostAsync(AlertsApi.Path, Payload(), Ct);
        using var asViewer = await viewer.PostAsync(AlertsApi.Path, Payload(), Ct);
        using var anonymous = await nobody.PostAsync(AlertsApi.Path, Payload(), Ct);
        using var reads = await alertmanager.GetAsync("/api/v1/catalog", Ct);
        using var bad = await alertmanager.PostAsync(AlertsApi.Path, new StringContent("{\"version\": \"3\", \"alerts\": []}", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        using var summary = JsonDocument.Parse(await sent.Content.ReadAsStringAsync(Ct));
        Assert.Equal("accepted", summary.RootElement.GetProperty("status").GetString());
        Assert.Equal(2, summary.RootElement.GetProperty("alerts").GetInt32());
        Assert.Equal(1, summary.RootElement.GetProperty("resolved").GetInt32());
        var journaled = await web.Kit.EntriesAsync(JournalKinds.AlertReceived);
        Assert.Equal(2, journaled.Count);
        Assert.All(journaled, e => Assert.Equal("PostgresReplicationLag", e.Topic));
        Assert.Equal(HttpStatusCode.Forbidden, asViewer.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, reads.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("version", await bad.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(2, (await web.Kit.EntriesAsync(JournalKinds.AlertReceived)).Count);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Alertmanager_WithoutAnAgentLoop_Is503SoAlertmanagerRetries()
    {
        await using var web = await WebKit.StartAsync(live: false);
        using var alertmanager = web.Client(WebKit.AlertmanagerToken);

        using var sent = await alertmanager.PostAsync(AlertsApi.Path, Payload(), Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, sent.StatusCode);
        Assert.Contains("pgra run", await sent.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.AlertReceived));
    }
}
