using System.Web;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Metrics;

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
}
