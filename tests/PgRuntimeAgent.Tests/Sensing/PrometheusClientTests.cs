using System.Web;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Tests.Acting.Patroni;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class PrometheusClientTests
{
    private const string AlertsBody = """
        {"status":"success","data":{"alerts":[
          {"labels":{"alertname":"PostgresReplicationLag","cls":"pg-test","ins":"pg-test-2","severity":"WARN"},"annotations":{"summary":"lag"},"state":"firing","activeAt":"2026-11-22T18:00:00Z","value":"2.5e+06"},
          {"labels":{"alertname":"NodeLoadHigh","ins":"other-1"},"annotations":{},"state":"firing","activeAt":"2026-11-22T18:00:00Z","value":"9"},
          {"labels":{"alertname":"PostgresDown","cls":"pg-test","ins":"pg-test-3"},"annotations":{},"state":"pending","activeAt":"2026-11-22T18:01:00Z","value":"0"}
        ]}}
        """;

    private const string RulesBody = """
        {"status":"success","data":{"groups":[{"name":"pgsql","file":"/etc/prometheus/rules/pgsql.yml","rules":[
          {"name":"pg:ins:lag_bytes","query":"max by (ins) (pg_replication_lsn_diff)","health":"ok","type":"recording"},
          {"name":"PostgresDown","query":"pg_up < 1","health":"err","lastError":"bad","state":"inactive","type":"alerting"}]}]}}
        """;

    [Fact]
    public void ParseQueryBody_RecordedVector_ReadsLabelsAndStringValue()
    {
        var result = PrometheusClient.ParseQueryBody(SensingFixtures.Recorded("prometheus-2.42", "query-vector-pg_up.json"), "GET /api/v1/query");

        Assert.Equal("vector", result.ResultType);
        var series = Assert.Single(result.Series);
        Assert.Equal("pg-test-1", series.Label("ins"));
        Assert.Equal("1", series.Samples[0].Value);
        Assert.Equal(1795370460.541, series.Samples[0].Timestamp);
    }

    [Fact]
    public void ParseQueryBody_RecordedMatrix_ReadsEverySwitchoverSample()
    {
        var result = PrometheusClient.ParseQueryBody(SensingFixtures.Recorded("prometheus-2.42", "query_range-matrix-patroni_primary-switchover.json"), "GET /api/v1/query_range");

        Assert.Equal("matrix", result.ResultType);
        Assert.Equal(3, result.Series.Count);
        var first = result.Series.Single(s => s.Label("ins") == "pg-test-1");
        Assert.Equal(["0", "0", "0", "1", "1", "1"], first.Samples.Select(s => s.Value));
        var third = result.Series.Single(s => s.Label("ins") == "pg-test-3");
        Assert.Equal(1, third.Samples[0].Number);
        Assert.Equal(0, third.Samples[^1].Number);
    }

    [Fact]
    public void ParseQueryBody_SpecialValues_KeepsStringsAndParsesNumbers()
    {
        const string body = """{"status":"success","data":{"resultType":"vector","result":[{"metric":{"ins":"a"},"value":[1,"NaN"]},{"metric":{"ins":"b"},"value":[1,"+Inf"]},{"metric":{"ins":"c"},"value":[1,"-Inf"]},{"metric":{"ins":"d"},"value":[1,"1e-3"]}]}}""";

        var result = PrometheusClient.ParseQueryBody(body, "GET /api/v1/query");

        Assert.Equal(["NaN", "+Inf", "-Inf", "1e-3"], result.Series.Select(s => s.Samples[0].Value));
        Assert.True(double.IsNaN(result.Series[0].Samples[0].Number));
        Assert.Equal(double.PositiveInfinity, result.Series[1].Samples[0].Number);
        Assert.Equal(double.NegativeInfinity, result.Series[2].Samples[0].Number);
        Assert.Equal(0.001, result.Series[3].Samples[0].Number);
    }

    [Theory]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}""", "timestamp")]
    [InlineData("""{"status":"success","data":{"resultType":"vector"}}""", "data.result")]
    [InlineData("""{"status":"success","data":{"resultType":"histogram","result":[]}}""", "unknown resultType")]
    [InlineData("""{"status":"error","errorType":"bad_data","error":"parse error"}""", "status is error")]
    [InlineData("not json", "malformed JSON")]
    public void ParseQueryBody_Malformed_ThrowsNamingTheEndpoint(string body, string expected)
    {
        var ex = Assert.Throws<SensorResponseException>(() => PrometheusClient.ParseQueryBody(body, "GET http://127.0.0.10:9090/api/v1/query"));

        Assert.StartsWith("GET http://127.0.0.10:9090/api/v1/query", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_RealServer_SendsQueryParametersAndReadsAlertsAndRules()
    {
        var vector = SensingFixtures.Recorded("prometheus-2.42", "query-vector-pg_up.json");
        var matrix = SensingFixtures.Recorded("prometheus-2.42", "query_range-matrix-patroni_primary-switchover.json");
        await using var server = new LoopbackHttpServer(r => r.Url!.AbsolutePath switch
        {
            "/api/v1/query" => new LoopbackHttpServer.Reply(200, vector),
            "/api/v1/query_range" => new LoopbackHttpServer.Reply(200, matrix),
            "/api/v1/alerts" => new LoopbackHttpServer.Reply(200, AlertsBody),
            "/api/v1/rules" => new LoopbackHttpServer.Reply(200, RulesBody),
            _ => new LoopbackHttpServer.Reply(404, "{}"),
        });
        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(server.BaseUrl);
        var client = new PrometheusClient(httpClient);
        var ct = TestContext.Current.CancellationToken;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1795370460541);

        var instant = await client.QueryAsync("pg_up{cls=\"pg-test\"}", at, ct);
        var range = await client.QueryRangeAsync("patroni_primary", at.AddMinutes(-1), at, TimeSpan.FromSeconds(5), ct);
        var alerts = await client.GetAlertsAsync(ct);
        var rules = await client.GetRulesAsync(ct);

        Assert.Single(instant.Series);
        Assert.Equal(3, range.Series.Count);
        var requests = server.Requests.ToList();
        var q = HttpUtility.ParseQueryString(requests[0].Query);
        Assert.Equal("pg_up{cls=\"pg-test\"}", q["query"]);
        Assert.Equal("1795370460.541", q["time"]);
        var r = HttpUtility.ParseQueryString(requests[1].Query);
        Assert.Equal("patroni_primary", r["query"]);
        Assert.Equal("1795370400.541", r["start"]);
        Assert.Equal("1795370460.541", r["end"]);
        Assert.Equal("5", r["step"]);
        Assert.Equal(3, alerts.Count);
        Assert.Equal("PostgresReplicationLag", alerts[0].Name);
        Assert.Equal("2.5e+06", alerts[0].Value);
        var group = Assert.Single(rules);
        Assert.Equal("pgsql", group.Name);
        Assert.Equal("err", group.Rules[1].Health);
        Assert.Equal("bad", group.Rules[1].LastError);
        Assert.Equal(4, client.Requests);
    }

    [Fact]
    public async Task Client_ErrorBody_ThrowsWithErrorTypeAndEndpoint()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(400, """{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"""));
        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(server.BaseUrl);
        var client = new PrometheusClient(httpClient);

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() => client.QueryAsync("pg_up{", null, TestContext.Current.CancellationToken));

        Assert.Contains($"GET {server.BaseUrl}api/v1/query", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad_data: 1:5: parse error", ex.Message, StringComparison.Ordinal);
        Assert.Contains("400", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsSensor_PigstyNameAbsent_FallsBackToPostgresExporterAndFiltersAlerts()
    {
        var cluster = SensingFixtures.Cluster();
        await using var server = new LoopbackHttpServer(r =>
        {
            var query = HttpUtility.ParseQueryString(r.Url!.Query)["query"] ?? "";
            if (r.Url.AbsolutePath == "/api/v1/alerts")
            {
                return new LoopbackHttpServer.Reply(200, AlertsBody);
            }

            // Only postgres_exporter 0.11 names exist here; series are labelled by instance, not ins.
            var body = query.StartsWith("pg_settings_max_connections", StringComparison.Ordinal)
                ? """{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"127.0.0.11:9187"},"value":[1,"100"]},{"metric":{"instance":"127.0.0.12:9187"},"value":[1,"NaN"]}]}}"""
                : """{"status":"success","data":{"resultType":"vector","result":[]}}""";
            return new LoopbackHttpServer.Reply(200, body);
        });
        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(server.BaseUrl);
        var sensor = new MetricsSensor(new PrometheusClient(httpClient), TimeProvider.System, TimeSpan.FromSeconds(2));

        var (observation, health) = await sensor.ObserveAsync(cluster, TestContext.Current.CancellationToken);

        var max = observation.Find("max_connections")!;
        Assert.Equal("ok", max.Status);
        Assert.Equal("postgres_exporter", max.Source);
        Assert.Equal("100", max.Values["pg-test-1"]);
        Assert.Equal("NaN", max.Values["pg-test-2"]);
        Assert.Null(max.NumberFor("pg-test-2"));
        Assert.Equal("absent", observation.Find("pg_up")!.Status);
        Assert.Equal(SensorHealth.Degraded, health.Health);
        Assert.Contains("pg_up", health.Reason, StringComparison.Ordinal);
        Assert.Equal(["PostgresReplicationLag", "PostgresDown"], observation.Alerts.Select(a => a.Name));
    }

    [Fact]
    public async Task MetricsSensor_EndpointDown_IsUnknownAndFast()
    {
        var cluster = SensingFixtures.Cluster();
        int port;
        await using (var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, "{}")))
        {
            port = server.Port;
        }

        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(new Uri($"http://127.0.0.1:{port}/"));
        var sensor = new MetricsSensor(new PrometheusClient(httpClient), TimeProvider.System, TimeSpan.FromSeconds(2));
        var started = TimeProvider.System.GetTimestamp();

        var (observation, health) = await sensor.ObserveAsync(cluster, TestContext.Current.CancellationToken);

        Assert.Equal(SensorHealth.Unknown, health.Health);
        Assert.All(observation.Readings, r => Assert.Equal("error", r.Status));
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(2.5));
    }

    [Fact]
    public async Task MetricsSensor_HungEndpoint_CostsAtMostItsTimeout()
    {
        var cluster = SensingFixtures.Cluster();
        await using var server = new LoopbackHttpServer(async _ =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
            return new LoopbackHttpServer.Reply(200, "{}");
        });
        using var http = new SensingHttp();
        using var httpClient = http.CreateClient(server.BaseUrl);
        var sensor = new MetricsSensor(new PrometheusClient(httpClient), TimeProvider.System, TimeSpan.FromMilliseconds(300));
        var started = TimeProvider.System.GetTimestamp();

        var (_, health) = await sensor.ObserveAsync(cluster, TestContext.Current.CancellationToken);

        Assert.Equal(SensorHealth.Unknown, health.Health);
        Assert.Contains("timed out", health.Reason, StringComparison.Ordinal);
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Expand_Template_EscapesRegexAndQuotes()
    {
        var cluster = SensingFixtures.Cluster();

        var promql = MetricsSensor.Expand("node_load1{ins=~\"{members}\",instance=~\"{node_instances}\",cls=\"{cls}\"}", cluster);

        Assert.Equal("node_load1{ins=~\"pg-test-1|pg-test-2|pg-test-3\",instance=~\"127\\\\.0\\\\.0\\\\.11:9100|127\\\\.0\\\\.0\\\\.12:9100|127\\\\.0\\\\.0\\\\.13:9100\",cls=\"pg-test\"}", promql);
    }

    [Fact]
    public void Catalogue_EveryQuery_HasNamesUniqueAndCandidates()
    {
        Assert.Equal(MetricsCatalogue.All.Count, MetricsCatalogue.All.Select(q => q.Name).Distinct().Count());
        Assert.All(MetricsCatalogue.All, q => Assert.NotEmpty(q.Candidates));
        Assert.Contains(MetricsCatalogue.Find("max_connections")!.Candidates, c => c.Source == "postgres_exporter");
    }

    private const string EmptyVector = """{"status":"success","data":{"resultType":"vector","result":[]}}""";

    /// <summary>A base URL with a path prefix keeps it, with or without its trailing slash; the query is escaped whole.</summary>
    [Theory]
    [InlineData("http://metrics.test:9090/prom/")]
    [InlineData("http://metrics.test:9090/prom")]
    public async Task Client_BaseUrlWithPathPrefix_SendsEveryCallUnderThePrefixWithTheQueryEscaped(string baseUrl)
    {
        var handler = new RecordingHandler((r, _) => (200, r.RequestUri!.AbsolutePath switch
        {
            "/prom/api/v1/alerts" => AlertsBody,
            "/prom/api/v1/rules" => RulesBody,
            _ => EmptyVector,
        }));
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri(baseUrl));
        var client = new PrometheusClient(httpClient);
        var ct = TestContext.Current.CancellationToken;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1795370460541);
        const string promql = "rate(pg_up{cls=\"pg-test\",ins=~\"pg-test-1|pg-test-2\"}[5m]) + 1 / 2 & x=#é";

        await client.QueryAsync(promql, at, ct);
        await client.QueryAsync("pg_up", null, ct);
        await client.QueryRangeAsync("pg_up", at.AddMinutes(-1), at, TimeSpan.FromMilliseconds(2500), ct);
        await client.GetAlertsAsync(ct);
        await client.GetRulesAsync(ct);

        Assert.Equal(
            [
                "GET http://metrics.test:9090/prom/api/v1/query?query=rate%28pg_up%7Bcls%3D%22pg-test%22%2Cins%3D~%22pg-test-1%7Cpg-test-2%22%7D%5B5m%5D%29%20%2B%201%20%2F%202%20%26%20x%3D%23%C3%A9&time=1795370460.541",
                "GET http://metrics.test:9090/prom/api/v1/query?query=pg_up",
                "GET http://metrics.test:9090/prom/api/v1/query_range?query=pg_up&start=1795370400.541&end=1795370460.541&step=2.5",
                "GET http://metrics.test:9090/prom/api/v1/alerts",
                "GET http://metrics.test:9090/prom/api/v1/rules",
            ],
            handler.Requests.Select(r => $"{r.Method} {r.Url.AbsoluteUri}"));
        Assert.Equal(promql, HttpUtility.ParseQueryString(handler.Requests.First().Url.Query)["query"]);
        Assert.Equal(5, client.Requests);
    }

    [Fact]
    public async Task Client_ErrorBodyUnderAPathPrefix_NamesThePrefixedEndpoint()
    {
        var handler = new RecordingHandler((_, _) => (422, """{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}"""));
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/prom"));
        var client = new PrometheusClient(httpClient);

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() => client.QueryAsync("pg_up", null, TestContext.Current.CancellationToken));

        Assert.Equal("GET http://metrics.test:9090/prom/api/v1/query: answered HTTP 422: execution: query timed out in expression evaluation", ex.Message);
    }

    /// <summary>A proxy's HTML error page is no JSON: the status and a bounded one-line excerpt of the body are reported.</summary>
    [Fact]
    public async Task Client_NonJsonErrorBody_ReportsTheStatusAndABoundedExcerpt()
    {
        var page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + new string('x', 5000) + "</body></html>";
        var handler = new RecordingHandler((_, _) => (502, page));
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/"));
        var client = new PrometheusClient(httpClient);

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() => client.GetAlertsAsync(TestContext.Current.CancellationToken));

        Assert.StartsWith("GET http://metrics.test:9090/api/v1/alerts: answered HTTP 502 BadGateway: <html> <head><title>502 Bad Gateway</title></head> <body>xxx", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("...", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 300, ex.Message);
    }

    [Theory]
    [InlineData("{\"status\":\"success\",\"data\":", "malformed JSON")]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":{}}}""", "data.result of a vector is not an array")]
    [InlineData("""{"status":"success","data":{}}""", "data.alerts is missing or not an array")]
    public async Task Client_MalformedOkBody_ThrowsNamingTheEndpoint(string body, string expected)
    {
        var handler = new RecordingHandler((_, _) => (200, body));
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/prom/"));
        var client = new PrometheusClient(httpClient);
        var ct = TestContext.Current.CancellationToken;

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() => expected.StartsWith("data.alerts", StringComparison.Ordinal)
            ? client.GetAlertsAsync(ct)
            : client.QueryAsync("pg_up", null, ct));

        Assert.StartsWith("GET http://metrics.test:9090/prom/api/v1/", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_BasicAuth_IsSentOnEveryTypedCall()
    {
        var secrets = new SecretStore();
        var password = secrets.Add("metrics/password", "Metrics.secret", "test");
        var handler = new RecordingHandler((_, _) => (200, EmptyVector));
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/prom/"), "prom", password, secrets);
        var client = new PrometheusClient(httpClient);
        var ct = TestContext.Current.CancellationToken;

        await client.QueryAsync("pg_up", null, ct);
        await client.QueryRangeAsync("pg_up", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(1), TimeSpan.FromSeconds(15), ct);

        var expected = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("prom:Metrics.secret"));
        Assert.Equal([expected, expected], handler.Requests.Select(r => r.Authorization));
    }

    /// <summary>No answer at all (connection refused) is an expected failure: an outcome with the reason, not a throw.</summary>
    [Fact]
    public async Task Client_TransportFailure_IsAnExpectedFailureWithItsReason()
    {
        using var http = new SensingHttp(new FailingHandler());
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/"));
        var client = new PrometheusClient(httpClient);

        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => client.QueryAsync("pg_up", null, TestContext.Current.CancellationToken));
        var outcome = await SensorCall.RunAsync("metrics", TimeSpan.FromSeconds(5), TimeProvider.System,
            ct => client.QueryAsync("pg_up", null, ct), TestContext.Current.CancellationToken);

        Assert.True(SensorCall.IsExpected(thrown), thrown.GetType().FullName);
        Assert.Equal(SensorHealth.Unknown, outcome.Health);
        Assert.False(outcome.TimedOut);
        Assert.Contains("Connection refused (metrics.test:9090)", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(2, client.Requests);
    }

    /// <summary>The per-call timeout comes from the caller's token and reaches the handler through the typed API.</summary>
    [Fact]
    public async Task Client_HungServer_TimesOutOnTheCallersDeadline()
    {
        var time = new FakeTimeProvider();
        var handler = new HangingHandler();
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/"));
        var client = new PrometheusClient(httpClient);

        var call = SensorCall.RunAsync("metrics", TimeSpan.FromSeconds(2), time, ct => client.QueryAsync("pg_up", null, ct), TestContext.Current.CancellationToken);
        await handler.Entered.Task.WaitAsync(TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(2));
        var outcome = await call;

        Assert.True(outcome.TimedOut);
        Assert.Equal("metrics: timed out after 2s", outcome.Reason);
        Assert.True(handler.Cancelled);
    }

    [Fact]
    public async Task Client_CallerCancels_CancellationPropagates()
    {
        var handler = new HangingHandler();
        using var http = new SensingHttp(handler);
        using var httpClient = http.CreateClient(new Uri("http://metrics.test:9090/"));
        var client = new PrometheusClient(httpClient);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        var call = SensorCall.RunAsync("metrics", TimeSpan.FromMinutes(1), TimeProvider.System, ct => client.QueryAsync("pg_up", null, ct), cts.Token);
        await handler.Entered.Task.WaitAsync(TestContext.Current.CancellationToken);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
    }

    private sealed class FailingHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new HttpRequestException($"Connection refused ({request.RequestUri!.Authority})");
    }

    /// <summary>Never answers; says when a request arrived and whether its token was cancelled.</summary>
    private sealed class HangingHandler : HttpMessageHandler
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Cancelled { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Cancelled = true;
                throw;
            }

            throw new InvalidOperationException("unreachable");
        }
    }
}
