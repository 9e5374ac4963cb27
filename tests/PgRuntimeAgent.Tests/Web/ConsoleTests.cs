using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Web.Console;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// The web console's server side on a real Kestrel: its assets from the assembly with a strict CSP, signing in with a
/// token for a session cookie (the token never comes back), CSRF refused on every state-changing request of a session,
/// four-eyes, the lag history the cluster page draws, undo through the API, a 10 MiB body refused, and TLS.
/// </summary>
[Collection(WebHostCollection.Name)]
public sealed class ConsoleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Fence = """{"kind":"member.fence","cluster":"pg-test","member":"pg-test-3","parameters":{},"reason":"pg-test-3's disk is full (test)"}""";

    /// <summary>A browser-like client: keeps cookies, does not follow redirects.</summary>
    private static HttpClient Browser(WebKit web, CookieContainer? cookies = null, SocketsHttpHandler? handler = null)
    {
        handler ??= new SocketsHttpHandler();
        handler.UseCookies = true;
        handler.CookieContainer = cookies ?? new CookieContainer();
        handler.AllowAutoRedirect = false;
        return web.Client(null, handler);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string token, string next = "#/approvals") =>
        await browser.PostAsync("console/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token, ["next"] = next }), Ct);

    private static async Task<string> CsrfAsync(HttpClient browser)
    {
        using var response = await browser.GetAsync("console/session", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("csrf").GetString()!;
    }

    private static async Task<string> RequestFenceAsync(WebKit web, string token)
    {
        using var client = web.Client(token);
        using var response = await client.PostAsync("api/v1/actions", new StringContent(Fence, Encoding.UTF8, "application/json"), Ct);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("awaiting-approval", body.GetProperty("status").GetString());
        return body.GetProperty("action_id").GetString()!;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Assets_ShipInTheAssembly_AndAreServedWithoutAToken_UnderAStrictCsp()
    {
        await using var web = await WebKit.StartAsync();
        using var anonymous = Browser(web);

        using var root = await anonymous.GetAsync("", Ct);
        using var page = await anonymous.GetAsync("console/", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        using var script = await anonymous.GetAsync("console/app.js", Ct);
        using var style = await anonymous.GetAsync("console/app.css", Ct);
        using var missing = await anonymous.GetAsync("console/nothing.js", Ct);
        using var traversal = await anonymous.GetAsync("console/..%2F..%2Fappsettings.json", Ct);

        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/console/", root.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Equal(ConsoleRoutes.ContentSecurityPolicy, Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Contains("app.js", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html.Replace("https://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, style.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, traversal.StatusCode);
        Assert.Contains("index.html", ConsoleRoutes.AssetNames);

        // The page is public; the data is not.
        using var data = await anonymous.GetAsync("api/v1/clusters", Ct);
        using var session = await anonymous.GetAsync("console/session", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, session.StatusCode);
    }

    [Fact]
    public async Task SigningIn_GivesAnHttpOnlyStrictCookie_NotTheToken_AndTheCookieReadsTheApi()
    {
        await using var web = await WebKit.StartAsync();
        var cookies = new CookieContainer();
        using var browser = Browser(web, cookies);

        using var signedIn = await SignInAsync(browser, WebKit.ApproverToken);
        var setCookie = Assert.Single(signedIn.Headers.GetValues("Set-Cookie"));
        var (sessionStatus, session) = await GetJsonAsync(browser, "console/session");
        using var clusters = await browser.GetAsync("api/v1/clusters", Ct);

        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/console/#/approvals", signedIn.Headers.Location?.OriginalString);
        Assert.StartsWith(ConsoleSessions.Cookie + "=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(WebKit.ApproverToken, setCookie, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, sessionStatus);
        Assert.Equal(("boss", "approver", false), (session.GetProperty("name").GetString(), session.GetProperty("role").GetString(), session.GetProperty("four_eyes").GetBoolean()));
        Assert.True(session.GetProperty("csrf").GetString()!.Length >= 40);
        Assert.Equal(HttpStatusCode.OK, clusters.StatusCode);

        // A wrong token: back to the page with login=failed, and no cookie; a next that is not a console route is dropped.
        using var other = Browser(web);
        using var refused = await SignInAsync(other, "not-a-token-of-this-agent", "https://evil.example/");
        Assert.Equal("/console/?login=failed", refused.Headers.Location?.OriginalString);
        Assert.False(refused.Headers.Contains("Set-Cookie"));

        // Another site's page cannot sign a browser in.
        using var forged = new HttpRequestMessage(HttpMethod.Post, "console/login")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = WebKit.ViewerToken }),
        };
        forged.Headers.Add("Origin", "https://evil.example");
        using var crossSite = await other.SendAsync(forged, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, crossSite.StatusCode);

        // Signing out ends the session: the same cookie no longer reads anything.
        var csrf = session.GetProperty("csrf").GetString()!;
        using var outRequest = new HttpRequestMessage(HttpMethod.Post, "console/logout");
        outRequest.Headers.Add(CsrfGuard.Header, csrf);
        var stolen = cookies.GetCookies(web.Host.Address)[ConsoleSessions.Cookie]!.Value;
        using var signedOut = await browser.SendAsync(outRequest, Ct);
        Assert.Equal(HttpStatusCode.NoContent, signedOut.StatusCode);
        using var replay = Browser(web);
        using var replayed = new HttpRequestMessage(HttpMethod.Get, "api/v1/clusters");
        replayed.Headers.Add("Cookie", $"{ConsoleSessions.Cookie}={stolen}");
        using var afterwards = await replay.SendAsync(replayed, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, afterwards.StatusCode);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task Csrf_ASessionsPostWithoutItsToken_OrFromAnotherOrigin_IsRefused_AndNothingIsDecided()
    {
        await using var web = await WebKit.StartAsync(level: 2);
        var id = await RequestFenceAsync(web, WebKit.OperatorToken);
        using var browser = Browser(web);
        using (await SignInAsync(browser, WebKit.ApproverToken))
        {
        }

        var csrf = await CsrfAsync(browser);

        // A forged form: what another site's page could post with the browser's cookie.
        using var forgedForm = await browser.PostAsync($"api/v1/approvals/{id}/approve",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["note"] = "forged" }), Ct);
        using var wrongToken = new HttpRequestMessage(HttpMethod.Post, $"api/v1/approvals/{id}/approve") { Content = Json("""{"note":"x"}""") };
        wrongToken.Headers.Add(CsrfGuard.Header, "0" + csrf[1..]);
        using var wrong = await browser.SendAsync(wrongToken, Ct);
        using var crossOrigin = new HttpRequestMessage(HttpMethod.Post, $"api/v1/approvals/{id}/deny") { Content = Json("""{"note":"x"}""") };
        crossOrigin.Headers.Add(CsrfGuard.Header, csrf);
        crossOrigin.Headers.Add("Origin", "http://127.0.0.1:1");
        using var fromElsewhere = await browser.SendAsync(crossOrigin, Ct);
        using var noHeader = await browser.PostAsync($"api/v1/actions", Json(Fence), Ct);

        foreach (var refused in new[] { forgedForm, wrong, fromElsewhere, noHeader })
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("refused", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted, JournalKinds.ApprovalDenied));
        Assert.Single(await web.Kit.Acting.Approvals.ListAsync(includeClosed: false, Ct));
        Assert.Empty(web.Kit.Actuator.Executed);

        // The console's own request: the session's token in the header. Journaled as the console's.
        using var approve = new HttpRequestMessage(HttpMethod.Post, $"api/v1/approvals/{id}/approve") { Content = Json("""{"note":"disk checked on the console"}""") };
        approve.Headers.Add(CsrfGuard.Header, csrf);
        using var approved = await browser.SendAsync(approve, Ct);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal("succeeded", JsonDocument.Parse(await approved.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("status").GetString());
        var granted = Assert.Single(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted)).PayloadAs<ApprovalDecisionPayload>()!;
        Assert.Equal(("console:boss", "disk checked on the console"), (granted.By, granted.Note));
    }

    [Fact]
    public async Task FourEyes_TheRequestersTokenCannotApprove_AnotherApproverCan()
    {
        await using var web = await WebKit.StartAsync(level: 2, fourEyes: true);
        var id = await RequestFenceAsync(web, WebKit.ApproverToken);
        using var requester = web.Client(WebKit.ApproverToken);
        using var other = web.Client(WebKit.SecondApproverToken);

        using var own = await requester.PostAsync($"api/v1/approvals/{id}/approve", Json("""{"note":"mine"}"""), Ct);
        var ownBody = await own.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        Assert.Contains("four-eyes", ownBody, StringComparison.Ordinal);
        Assert.Contains("api:boss", ownBody, StringComparison.Ordinal);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted));
        Assert.Empty(web.Kit.Actuator.Executed);

        // Signed in on the console with the same token: still the requester.
        using var browser = Browser(web);
        using (await SignInAsync(browser, WebKit.ApproverToken))
        {
        }

        using var viaConsole = new HttpRequestMessage(HttpMethod.Post, $"api/v1/approvals/{id}/approve") { Content = Json("{}") };
        viaConsole.Headers.Add(CsrfGuard.Header, await CsrfAsync(browser));
        using var consoleOwn = await browser.SendAsync(viaConsole, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, consoleOwn.StatusCode);

        using var byOther = await other.PostAsync($"api/v1/approvals/{id}/approve", Json("""{"note":"second pair of eyes"}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, byOther.StatusCode);
        Assert.Equal("api:boss2", Assert.Single(await web.Kit.EntriesAsync(JournalKinds.ApprovalGranted)).PayloadAs<ApprovalDecisionPayload>()!.By);
        Assert.Single(web.Kit.Actuator.Executed);
        web.AssertNoTokenInAnyResponse();
    }

    [Fact]
    public async Task History_HoldsOneSamplePerSnapshotOfTheLoop_WithEachMembersRoleAndLag()
    {
        await using var web = await WebKit.StartAsync();
        using var viewer = web.Client(WebKit.ViewerToken);
        var (emptyStatus, empty) = await GetJsonAsync(viewer, "api/v1/clusters/pg-test/history");
        Assert.Equal(HttpStatusCode.OK, emptyStatus);
        Assert.Empty(empty.GetProperty("samples").EnumerateArray());

        var healthy = Healthy() with { TakenAt = web.Kit.Time.GetUtcNow().AddSeconds(1) };
        await web.Kit.FeedAsync(healthy);
        await web.Kit.FeedAsync(Load("disk-full-02") with { TakenAt = healthy.TakenAt.AddSeconds(5) });

        var (status, history) = await GetJsonAsync(viewer, "api/v1/clusters/pg-test/history?minutes=30");
        var (badStatus, _) = await GetJsonAsync(viewer, "api/v1/clusters/pg-test/history?minutes=600");
        var (unknownStatus, _) = await GetJsonAsync(viewer, "api/v1/clusters/pg-nowhere/history");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("loop", 30), (history.GetProperty("source").GetString(), history.GetProperty("minutes").GetInt32()));
        var samples = history.GetProperty("samples").EnumerateArray().ToList();
        Assert.Equal(2, samples.Count);
        Assert.True(samples[0].GetProperty("at").GetDateTimeOffset() < samples[1].GetProperty("at").GetDateTimeOffset());
        var first = samples[0];
        Assert.Equal(healthy.Leader, first.GetProperty("leader").GetString());
        Assert.True(first.GetProperty("writable").GetBoolean());
        var members = first.GetProperty("members").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);
        Assert.Equal(healthy.Members.Select(m => m.Name).Order(), members.Keys.Order());
        Assert.Equal(JsonValueKind.Null, members[healthy.Leader!].GetProperty("lag_bytes").ValueKind);
        foreach (var replica in healthy.Members.Where(m => m.Name != healthy.Leader && m.LagBytes is not null))
        {
            Assert.Equal(replica.LagBytes, members[replica.Name].GetProperty("lag_bytes").GetInt64());
        }

        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);

        // An hour on, the samples of an hour ago have gone.
        await web.Kit.FeedAsync(healthy with { TakenAt = healthy.TakenAt.AddMinutes(61) });
        var (_, later) = await GetJsonAsync(viewer, "api/v1/clusters/pg-test/history");
        Assert.Single(later.GetProperty("samples").EnumerateArray());
    }

    [Fact]
    public async Task Undo_ThroughTheApi_NeedsAnOperator_AndRefusesWhatHasNoUndo()
    {
        await using var web = await WebKit.StartAsync(level: 2);
        using var viewer = web.Client(WebKit.ViewerToken);
        using var ops = web.Client(WebKit.OperatorToken);

        using var byViewer = await viewer.PostAsync("api/v1/actions/act-0123456789ab/undo", null, Ct);
        using var unknown = await ops.PostAsync("api/v1/actions/act-0123456789ab/undo", Json("""{"dry_run":true}"""), Ct);
        using var badId = await ops.PostAsync("api/v1/actions/act%20%3Cscript%3E/undo", null, Ct);
        using var badBody = await ops.PostAsync("api/v1/actions/act-0123456789ab/undo", Json("""{"dry_run":"yes"}"""), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, byViewer.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("no action act-0123456789ab", await unknown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, badId.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        Assert.Empty(await web.Kit.EntriesAsync(JournalKinds.ActionIntent));
    }

    [Fact]
    public async Task ATenMiBBody_IsRefusedWith413_DeclaredOrStreamed_AndNothingIsJournaled()
    {
        await using var web = await WebKit.StartAsync(maxRequestBytes: 1024 * 1024);
        using var ops = web.Client(WebKit.OperatorToken);
        var tenMiB = new byte[10 * 1024 * 1024];
        Array.Fill(tenMiB, (byte)' ');

        // Declared: Expect 100-continue, as curl sends a large body; the host answers before the body is sent.
        using var declaredRequest = new HttpRequestMessage(HttpMethod.Post, "api/v1/actions") { Content = new ByteArrayContent(tenMiB) { Headers = { { "Content-Type", "application/json" } } } };
        declaredRequest.Headers.ExpectContinue = true;
        using var declared = await ops.SendAsync(declaredRequest, Ct);
        using var streamed = new StreamContent(new MemoryStream(tenMiB));
        streamed.Headers.Add("Content-Type", "application/json");
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "api/v1/alertmanager") { Content = streamed };
        chunked.Headers.TransferEncodingChunked = true;
        HttpStatusCode? chunkedStatus;
        try
        {
            using var response = await web.Client(WebKit.AlertmanagerToken).SendAsync(chunked, Ct);
            chunkedStatus = response.StatusCode;
        }
        catch (HttpRequestException)
        {
            chunkedStatus = null; // the server may close the connection while the client still sends: refused all the same
        }

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.True(chunkedStatus is null or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest, $"streamed 10 MiB: {chunkedStatus}");
        Assert.Empty(await web.Kit.EntriesAsync());
    }

    [Fact]
    public async Task Tls_TheHostServesHttpsWithTheConfiguredCertificate_AndTheSessionCookieIsSecure()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-tls-");
        try
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=pgra test", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(TimeProvider.System.GetUtcNow().AddDays(-1), TimeProvider.System.GetUtcNow().AddDays(1));
            var certPath = Path.Combine(dir.FullName, "agent.crt");
            var keyPath = Path.Combine(dir.FullName, "agent.key");
            await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem(), Ct);
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem(), Ct);

            await using var web = await WebKit.StartAsync(tls: (certPath, keyPath));
            Assert.Equal("https", web.Host.Address.Scheme);
            X509Certificate2? presented = null;
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
            {
                presented = cert is null ? null : X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
                return presented?.Thumbprint == certificate.Thumbprint;
            };
            using var browser = Browser(web, handler: handler);
            using var signedIn = await SignInAsync(browser, WebKit.ViewerToken);
            using var clusters = await browser.GetAsync("api/v1/clusters", Ct);

            Assert.Equal(certificate.Thumbprint, presented?.Thumbprint);
            Assert.Contains("secure", Assert.Single(signedIn.Headers.GetValues("Set-Cookie")), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.OK, clusters.StatusCode);

            // Plain HTTP to the TLS port gets no answer from the API.
            using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{web.Host.Address.Port}/") };
            plain.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", WebKit.ViewerToken);
            var clear = await Record.ExceptionAsync(async () =>
            {
                using var r = await plain.GetAsync("api/v1/clusters", Ct);
                Assert.NotEqual(HttpStatusCode.OK, r.StatusCode);
            });
            Assert.True(clear is null or HttpRequestException or IOException, clear?.ToString());
            presented?.Dispose();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task EveryResponseOfAConsoleSession_CarriesNoSecret()
    {
        await using var web = await WebKit.StartAsync(level: 2);
        await web.Kit.FeedAsync(Load("disk-full-02"));
        await RequestFenceAsync(web, WebKit.OperatorToken);
        using var browser = Browser(web);
        using (await SignInAsync(browser, WebKit.ApproverToken))
        {
        }

        foreach (var path in new[] { "console/", "console/app.js", "console/session", "api/v1/health", "api/v1/clusters", "api/v1/clusters/pg-test/snapshot",
                     "api/v1/clusters/pg-test/findings", "api/v1/clusters/pg-test/history", "api/v1/incidents", "api/v1/approvals", "api/v1/journal?limit=1000",
                     "api/v1/journal/verify", "api/v1/catalog" })
        {
            using var response = await browser.GetAsync(path, Ct);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode}");
        }

        web.AssertNoSecretInAnyResponse();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}
