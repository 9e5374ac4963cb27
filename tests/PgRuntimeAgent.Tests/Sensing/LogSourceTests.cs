using System.Globalization;
using System.Web;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Tests.Acting.Patroni;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class LogSourceTests
{
    private static readonly DateTimeOffset Since = new(2026, 11, 22, 17, 50, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Until = new(2026, 11, 22, 18, 10, 0, TimeSpan.Zero);

    [Fact]
    public async Task Loki_RealServer_SendsLogQlWithNanosecondRangeAndParsesStreams()
    {
        var body = SensingFixtures.Documented("loki", "query_range-streams-postgres-errors.json");
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, body));
        using var http = new SensingHttp();
        var source = new LokiLogSource(http.CreateClient(server.BaseUrl));

        var result = await source.QueryAsync(
            new LogQuery { Cluster = "pg-test", Members = ["pg-test-3"], Since = Since, Until = Until, Grep = "primary", Limit = 1000 },
            TestContext.Current.CancellationToken);

        var request = Assert.Single(server.Requests);
        Assert.Equal("/loki/api/v1/query_range", request.AbsolutePath);
        var q = HttpUtility.ParseQueryString(request.Query);
        Assert.Equal("{cls=\"pg-test\",ins=~\"pg-test-3\"} |~ \"(?i)primary\"", q["query"]);
        Assert.Equal("1795369800000000000", q["start"]);
        Assert.Equal("1795371000000000000", q["end"]);
        Assert.Equal("1000", q["limit"]);
        Assert.Equal("backward", q["direction"]);
        Assert.NotEmpty(result.Entries);
        Assert.All(result.Entries, e =>
        {
            Assert.Equal("pg-test-3", e.Member);
            Assert.Equal("postgres", e.Source);
            Assert.True(e.Severity is LogSeverity.Fatal or LogSeverity.Error, e.Severity.ToString());
        });
        Assert.Contains(result.Entries, e => e.Severity == LogSeverity.Error);
        var first = result.Entries.Single(e => e.Time == DateTimeOffset.UnixEpoch.AddTicks(1795370251764000000 / 100));
        Assert.StartsWith("could not connect to the primary server", first.Message, StringComparison.Ordinal);
        Assert.True(result.Entries.SequenceEqual(result.Entries.OrderByDescending(e => e.Time)));
    }

    [Fact]
    public async Task Loki_PatroniStream_ParsesPatroniLinesWithNanosecondTimes()
    {
        var body = SensingFixtures.Documented("loki", "query_range-streams-patroni.json");
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, body));
        using var http = new SensingHttp();
        var source = new LokiLogSource(http.CreateClient(server.BaseUrl));

        var result = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken);

        var newest = result.Entries[0];
        Assert.Equal("patroni", newest.Source);
        Assert.Equal(LogSeverity.Info, newest.Severity);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddTicks(1795370531433000192 / 100), newest.Time);
        Assert.StartsWith("no action. I am (pg-test-3)", newest.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ins=~", HttpUtility.ParseQueryString(server.Requests.Single().Query)["query"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loki_MetricQuery_ParsesMatrixCounts()
    {
        var body = SensingFixtures.Documented("loki", "query_range-matrix-count_over_time.json");
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, body));
        using var http = new SensingHttp();
        var source = new LokiLogSource(http.CreateClient(server.BaseUrl));

        var result = await source.QueryMetricAsync("sum by (ins, level) (count_over_time({cls=\"pg-test\"}[1m]))", Since, Until, TestContext.Current.CancellationToken);

        var series = Assert.Single(result.Series);
        Assert.Equal("FATAL", series.Label("level"));
        Assert.Equal(["3", "5", "2"], series.Samples.Select(s => s.Value));
    }

    [Fact]
    public async Task Loki_Error400_ThrowsWithTheParseErrorAndEndpoint()
    {
        var body = SensingFixtures.Documented("loki", "error-400-bad-logql.json");
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(400, body));
        using var http = new SensingHttp();
        var source = new LokiLogSource(http.CreateClient(server.BaseUrl));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.Contains($"GET {server.BaseUrl}loki/api/v1/query_range", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad_data: parse error at line 1, col 14", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["abc","x"]]}]}}""", "[\"<ns>\", \"line\"]")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[]}}""", "expected resultType streams")]
    [InlineData("""{"status":"success"}""", "no data")]
    [InlineData("{", "malformed JSON")]
    public void Loki_ParseStreams_Malformed_ThrowsNamingTheEndpoint(string body, string expected)
    {
        var ex = Assert.Throws<SensorResponseException>(() => LokiLogSource.ParseStreams(body, "GET http://127.0.0.1:3100/loki/api/v1/query_range"));

        Assert.StartsWith("GET http://127.0.0.1:3100/loki/api/v1/query_range", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VictoriaLogs_RealServer_SendsLogsQlAndParsesJsonLines()
    {
        var body = SensingFixtures.Documented("victorialogs", "select-logsql-query-postgres-errors.jsonl");
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(200, body, "application/stream+json"));
        using var http = new SensingHttp();
        var source = new VictoriaLogsLogSource(http.CreateClient(server.BaseUrl));

        var result = await source.QueryAsync(
            new LogQuery { Cluster = "pg-test", Members = ["pg-test-3", "pg-test-1"], Since = Since, Until = Until, Grep = "administrator", Limit = 50 },
            TestContext.Current.CancellationToken);

        var request = Assert.Single(server.Requests);
        Assert.Equal("/select/logsql/query", request.AbsolutePath);
        var q = HttpUtility.ParseQueryString(request.Query);
        Assert.Equal(
            "_time:[2026-11-22T17:50:00.000Z, 2026-11-22T18:10:00.000Z) cls:=\"pg-test\" ins:in(\"pg-test-3\",\"pg-test-1\") _msg:~\"(?i)administrator\" | sort by (_time desc) | limit 50",
            q["query"]);
        Assert.Equal("50", q["limit"]);
        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.Equal(Math.Min(lines, 50), result.Entries.Count);
        var entry = result.Entries.Single(e => e.Time == new DateTimeOffset(2026, 11, 22, 17, 55, 36, 715, TimeSpan.Zero));
        Assert.Equal("pg-test-3", entry.Member);
        Assert.Equal("postgres", entry.Source);
        Assert.Equal(LogSeverity.Fatal, entry.Severity);
        Assert.Equal("57P01", entry.SqlState);
        Assert.Equal("terminating connection due to administrator command", entry.Message);
    }

    [Fact]
    public void VictoriaLogs_ParseCounts_ReadsStatsRows()
    {
        var counts = VictoriaLogsLogSource.ParseCounts(SensingFixtures.Documented("victorialogs", "select-logsql-stats-count-by-level.jsonl"), "GET /select/logsql/query", "level");

        Assert.Equal(27, counts["ERROR"]);
        Assert.Equal(13, counts["FATAL"]);
    }

    [Fact]
    public async Task VictoriaLogs_ErrorStatus_ThrowsNamingTheEndpoint()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackHttpServer.Reply(400, "cannot parse query [cls:=]: missing value", "text/plain"));
        using var http = new SensingHttp();
        var source = new VictoriaLogsLogSource(http.CreateClient(server.BaseUrl));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.Contains($"GET {server.BaseUrl}select/logsql/query", ex.Message, StringComparison.Ordinal);
        Assert.Contains("cannot parse query", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"_msg\": \"x\", \"_time\": \"yesterday\"}", "RFC 3339")]
    [InlineData("not json at all", "line 1 is not JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    public void VictoriaLogs_ParseJsonLines_Malformed_ThrowsNamingTheEndpoint(string body, string expected)
    {
        var ex = Assert.Throws<SensorResponseException>(() => VictoriaLogsLogSource.ParseJsonLines(body, "GET http://127.0.0.1:9428/select/logsql/query"));

        Assert.StartsWith("GET http://127.0.0.1:9428/select/logsql/query", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://logs.test:3100/loki-proxy/")]
    [InlineData("http://logs.test:3100/loki-proxy")]
    public async Task Loki_BaseUrlWithPathPrefix_SendsTheExactQueryUnderThePrefix(string baseUrl)
    {
        var streams = SensingFixtures.Documented("loki", "query_range-streams-postgres-errors.json");
        var matrix = SensingFixtures.Documented("loki", "query_range-matrix-count_over_time.json");
        var handler = new RecordingHandler((r, _) => (200, r.RequestUri!.Query.Contains("count_over_time", StringComparison.Ordinal) ? matrix : streams));
        using var http = new SensingHttp(handler);
        var source = new LokiLogSource(http.CreateClient(new Uri(baseUrl)));
        var ct = TestContext.Current.CancellationToken;

        await source.QueryAsync(new LogQuery { Cluster = "pg-test", Members = ["pg-test-3"], Since = Since, Until = Until, Grep = "primary", Limit = 1000 }, ct);
        await source.QueryMetricAsync("sum by (level) (count_over_time({cls=\"pg-test\"}[1m]))", Since, Until, ct);

        Assert.Equal(
            [
                "GET http://logs.test:3100/loki-proxy/loki/api/v1/query_range?query=%7Bcls%3D%22pg-test%22%2Cins%3D~%22pg-test-3%22%7D%20%7C~%20%22%28%3Fi%29primary%22"
                    + "&start=1795369800000000000&end=1795371000000000000&direction=backward&limit=1000",
                "GET http://logs.test:3100/loki-proxy/loki/api/v1/query_range?query=sum%20by%20%28level%29%20%28count_over_time%28%7Bcls%3D%22pg-test%22%7D%5B1m%5D%29%29"
                    + "&start=1795369800000000000&end=1795371000000000000&direction=backward",
            ],
            handler.Requests.Select(r => $"{r.Method} {r.Url.AbsoluteUri}"));
    }

    /// <summary>Characters that mean something in a URL (&amp;, +, #, %, spaces, quotes) reach Loki as the LogQL the agent built.</summary>
    [Fact]
    public async Task Loki_SpecialCharactersInTheQuery_ArriveUnchanged()
    {
        var handler = new RecordingHandler((_, _) => (200, """{"status":"success","data":{"resultType":"streams","result":[]}}"""));
        using var http = new SensingHttp(handler);
        var source = new LokiLogSource(http.CreateClient(new Uri("http://logs.test:3100/")));
        var query = new LogQuery { Cluster = "pg \"test\"", Members = ["a+b", "c&d"], Since = Since, Until = Until, Grep = "50% done #1 = ok?" };

        await source.QueryAsync(query, TestContext.Current.CancellationToken);

        var sent = Assert.Single(handler.Requests).Url;
        Assert.Equal("/loki/api/v1/query_range", sent.AbsolutePath);
        Assert.Equal(LokiLogSource.BuildLogQl(query), HttpUtility.ParseQueryString(sent.Query)["query"]);
        Assert.Equal("query start end direction limit", string.Join(" ", HttpUtility.ParseQueryString(sent.Query).AllKeys));
    }

    [Theory]
    [InlineData("query_range-streams-postgres-errors.json", 40)]
    [InlineData("query_range-streams-patroni.json", 60)]
    public async Task Loki_DocumentedStreamFixtures_ParseThroughTheTypedClient(string fixture, int entries)
    {
        var handler = new RecordingHandler((_, _) => (200, SensingFixtures.Documented("loki", fixture)));
        using var http = new SensingHttp(handler);
        var source = new LokiLogSource(http.CreateClient(new Uri("http://logs.test:3100/")));

        var result = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until, Limit = 1000 }, TestContext.Current.CancellationToken);

        Assert.Equal(entries, result.Entries.Count);
        Assert.False(result.Truncated);
        Assert.All(result.Entries, e => Assert.Equal("pg-test-3", e.Member));
    }

    [Fact]
    public async Task Loki_DocumentedErrorFixture_UnderAPathPrefix_NamesTheEndpointAndTheParseError()
    {
        var handler = new RecordingHandler((_, _) => (400, SensingFixtures.Documented("loki", "error-400-bad-logql.json")));
        using var http = new SensingHttp(handler);
        var source = new LokiLogSource(http.CreateClient(new Uri("http://logs.test:3100/loki-proxy/")));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.Equal("GET http://logs.test:3100/loki-proxy/loki/api/v1/query_range: answered HTTP 400: bad_data: parse error at line 1, col 14: syntax error: unexpected IDENTIFIER",
            ex.Message);
    }

    [Fact]
    public async Task Loki_PlainTextErrorBody_IsReportedAsABoundedExcerpt()
    {
        var handler = new RecordingHandler((_, _) => (500, "too many outstanding requests\n" + new string('y', 2000)));
        using var http = new SensingHttp(handler);
        var source = new LokiLogSource(http.CreateClient(new Uri("http://logs.test:3100/")));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.StartsWith("GET http://logs.test:3100/loki/api/v1/query_range: answered HTTP 500: too many outstanding requests yyy", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("...", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 400, ex.Message);
    }

    [Theory]
    [InlineData("http://logs.test:9428/vlogs/")]
    [InlineData("http://logs.test:9428/vlogs")]
    public async Task VictoriaLogs_BaseUrlWithPathPrefix_SendsTheExactQueryAndParsesTheDocumentedFixture(string baseUrl)
    {
        var handler = new RecordingHandler((_, _) => (200, SensingFixtures.Documented("victorialogs", "select-logsql-query-postgres-errors.jsonl")));
        using var http = new SensingHttp(handler);
        var source = new VictoriaLogsLogSource(http.CreateClient(new Uri(baseUrl)));

        var result = await source.QueryAsync(
            new LogQuery { Cluster = "pg-test", Members = ["pg-test-3"], Since = Since, Until = Until, Grep = "a&b", Limit = 100 }, TestContext.Current.CancellationToken);

        var sent = Assert.Single(handler.Requests);
        Assert.Equal(
            "GET http://logs.test:9428/vlogs/select/logsql/query?query=_time%3A%5B2026-11-22T17%3A50%3A00.000Z%2C%202026-11-22T18%3A10%3A00.000Z%29"
                + "%20cls%3A%3D%22pg-test%22%20ins%3Ain%28%22pg-test-3%22%29%20_msg%3A~%22%28%3Fi%29a%26b%22%20%7C%20sort%20by%20%28_time%20desc%29%20%7C%20limit%20100&limit=100",
            $"{sent.Method} {sent.Url.AbsoluteUri}");
        Assert.Equal(40, result.Entries.Count);
        Assert.False(result.Truncated);
    }

    [Fact]
    public async Task VictoriaLogs_ErrorStatusUnderAPathPrefix_NamesThePrefixedEndpointWithABoundedExcerpt()
    {
        var handler = new RecordingHandler((_, _) => (400, "cannot parse query [cls:=]: missing value\n" + new string('z', 2000)));
        using var http = new SensingHttp(handler);
        var source = new VictoriaLogsLogSource(http.CreateClient(new Uri("http://logs.test:9428/vlogs")));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.StartsWith("GET http://logs.test:9428/vlogs/select/logsql/query: answered HTTP 400: cannot parse query [cls:=]: missing value zzz", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("...", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 400, ex.Message);
    }

    [Fact]
    public async Task VictoriaLogs_MalformedLine_ThrowsNamingTheEndpointAndLine()
    {
        var handler = new RecordingHandler((_, _) => (200, "{\"_msg\":\"ok\",\"_time\":\"2026-11-22T17:55:36Z\"}\n{\"_msg\": oops}\n"));
        using var http = new SensingHttp(handler);
        var source = new VictoriaLogsLogSource(http.CreateClient(new Uri("http://logs.test:9428/")));

        var ex = await Assert.ThrowsAsync<SensorResponseException>(() =>
            source.QueryAsync(new LogQuery { Cluster = "pg-test", Since = Since, Until = Until }, TestContext.Current.CancellationToken));

        Assert.StartsWith("GET http://logs.test:9428/select/logsql/query: line 2 is not JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseText_RecordedMixedLog_SeparatesPatroniAndPostgresAndFoldsContinuations()
    {
        var lines = File.ReadAllLines(TestPaths.Fixture("recorded", "logs", "patroni-and-postgres-stderr-pg-test-1.log"));

        var entries = LogLineParser.ParseText(lines, "pg-test-1", TimeZoneInfo.Utc);

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 17, 54, 40, 372, TimeSpan.Zero), entries[0].Time);
        Assert.Equal("patroni", entries[0].Source);
        Assert.Equal(LogSeverity.Info, entries[0].Severity);
        var readOnly = entries.Where(e => e.Message.StartsWith("cannot execute INSERT in a read-only transaction", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(readOnly);
        Assert.All(readOnly, e =>
        {
            Assert.Equal("postgres", e.Source);
            Assert.Equal(LogSeverity.Error, e.Severity);
            Assert.Equal("25006", e.SqlState);
            Assert.Contains("\nSTATEMENT: insert into t(note) values('", e.Message, StringComparison.Ordinal);
        });
        var startingUp = entries.First(e => e.Message == "the database system is starting up\nlocalhost:15432 - rejecting connections");
        Assert.Equal(LogSeverity.Fatal, startingUp.Severity);
        Assert.Equal("57P03", startingUp.SqlState);
        Assert.Contains(entries, e => e.Source == "patroni" && e.Severity == LogSeverity.Warning);
        Assert.Contains(entries, e => e.Source == "patroni" && e.Message.Contains("Traceback (most recent call last):", StringComparison.Ordinal));
        Assert.True(entries.Count > 500);
        Assert.DoesNotContain(entries, e => e.Message.StartsWith("STATEMENT", StringComparison.Ordinal));
    }

    [Fact]
    public void ParseText_PrefixWithSqlStateAndZoneOffset_ReadsThem()
    {
        var entries = LogLineParser.ParseText(
            ["2026-11-22 20:00:01.500 +08 [4242] dbuser@meta 40P01 ERROR:  deadlock detected", "\tProcess 1 waits for ShareLock"], "m", TimeZoneInfo.Utc);

        var e = Assert.Single(entries);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 12, 0, 1, 500, TimeSpan.Zero), e.Time.ToUniversalTime());
        Assert.Equal("40P01", e.SqlState);
        Assert.Equal("deadlock detected\nProcess 1 waits for ShareLock", e.Message);
    }

    /// <summary>
    /// A line shaped like an entry whose timestamp or zone is not a real one (February 30th, hour 24, an offset past
    /// ±14 h, a date that leaves the calendar once shifted to UTC, non-ASCII digits) is not an entry: it is read as a
    /// continuation of the entry before it, keeping its text, never a FormatException or ArgumentException.
    /// </summary>
    [Theory]
    [InlineData("2026-02-30 10:00:00.000 UTC [1] LOG:  not a day")]
    [InlineData("2026-11-22 24:00:00.000 UTC [1] LOG:  not an hour")]
    [InlineData("2026-11-22 17:54:40,372 INFO: fine\n2026-11-22 99:54:40,372 INFO: not an hour")]
    [InlineData("2026-11-22 10:00:00.000 +99 [1] LOG:  not an offset")]
    [InlineData("2026-11-22 10:00:00.000 -14:30 [1] LOG:  past -14 h")]
    [InlineData("0001-01-01 00:00:00.000 +05 [1] LOG:  before year 1 in UTC")]
    [InlineData("9999-12-31 23:59:59.000 -05 [1] LOG:  after year 9999 in UTC")]
    [InlineData("2026-11-22 10:00:00.000 +\u0660\u0665 [1] LOG:  arabic-indic offset")]
    [InlineData("\u0662\u0660\u0662\u0666-11-22 10:00:00.000 UTC [1] LOG:  arabic-indic year")]
    [InlineData("2026-11-22 10:00:00.12345678901234567890 UTC [1] LOG:  twenty fraction digits")]
    public void ParseText_ImpossibleTimestamp_IsAContinuationNotAnException(string text)
    {
        var lines = ("2026-11-22 09:59:59.000 UTC [1] LOG:  before\n" + text).Split('\n');

        var entries = LogLineParser.ParseText(lines, "pg-test-1", TimeZoneInfo.Utc);

        Assert.NotEmpty(entries);
        Assert.Equal("before", entries[0].Message.Split('\n')[0]);
        var last = lines[^1];
        Assert.Contains(entries, e => e.Message.Contains(last, StringComparison.Ordinal) || e.Message.EndsWith(last[(last.IndexOf(": ", StringComparison.Ordinal) + 2)..].TrimStart(), StringComparison.Ordinal));
    }

    [Fact]
    public void ParseText_LongFraction_KeepsTheTimestamp()
    {
        var entry = Assert.Single(LogLineParser.ParseText(["2026-11-22 10:00:00.123456789 UTC [1] LOG:  nanoseconds"], "m", TimeZoneInfo.Utc));

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero).AddTicks(1234567), entry.Time);
    }

    [Theory]
    [InlineData("2026-11-22 10:00:00.000 +99")]
    [InlineData("0001-01-01 00:00:00.000 +05")]
    [InlineData("9999-12-31 23:59:59.000 -05")]
    [InlineData("2026-02-30 10:00:00.000 UTC")]
    [InlineData("2026-11-22 10:00:00.000 +5")]
    public void ParseCsv_ImpossibleTimestamp_SkipsTheRecord(string time)
    {
        var csv = time + ",,,1,,1.1,1,,2026-11-22 10:00:00 UTC,,0,LOG,00000,\"odd time\",,,,,,,,,\"\",\"startup\",,0\n"
            + "2026-11-22 10:00:01.000 UTC,,,1,,1.1,2,,2026-11-22 10:00:00 UTC,,0,LOG,00000,\"fine\",,,,,,,,,\"\",\"startup\",,0\n";

        var entry = Assert.Single(LogLineParser.ParseCsv(csv, "pg-test-1"));

        Assert.Equal("fine", entry.Message);
    }

    [Fact]
    public void ParseCsv_CsvlogRecords_ReadSeveritySqlStateAndMultilineFields()
    {
        const string csv = "2026-11-22 17:55:31.794 UTC,\"app\",\"meta\",14362,\"127.0.0.1:5000\",6560a1.1,1,\"INSERT\",2026-11-22 17:55:31 UTC,3/5,0,ERROR,25006,\"cannot execute INSERT in a read-only transaction\",,,,,,\"insert into t values ('a,\"\"b\"\"\nc')\",,,\"psql\",\"client backend\",,0\n"
            + "2026-11-22 17:55:32.000 UTC,,,100,,6560a1.2,1,,2026-11-22 17:55:00 UTC,,0,LOG,00000,\"checkpoint starting: time\",,,,,,,,,\"\",\"checkpointer\",,0\n";

        var entries = LogLineParser.ParseCsv(csv, "pg-test-1");

        Assert.Equal(2, entries.Count);
        Assert.Equal(LogSeverity.Error, entries[0].Severity);
        Assert.Equal("25006", entries[0].SqlState);
        Assert.Equal("cannot execute INSERT in a read-only transaction", entries[0].Message);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 17, 55, 31, 794, TimeSpan.Zero), entries[0].Time);
        Assert.Null(entries[1].SqlState);
        Assert.Equal(LogSeverity.Log, entries[1].Severity);
    }

    [Fact]
    public async Task FileLogSource_TailsByWindowAcrossRotatedFilesAndGreps()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-logs-");
        try
        {
            var current = Path.Combine(dir.FullName, "patroni.log");
            var rotated = Path.Combine(dir.FullName, "patroni.log.1");
            var old = Path.Combine(dir.FullName, "patroni.log.2");
            await File.WriteAllLinesAsync(old, ["2026-11-22 16:00:00,000 INFO: ancient"], TestContext.Current.CancellationToken);
            File.SetLastWriteTimeUtc(old, new DateTime(2026, 11, 22, 16, 0, 0, DateTimeKind.Utc));
            await File.WriteAllLinesAsync(rotated, ["2026-11-22 17:40:00,000 INFO: before window", "2026-11-22 17:55:00,000 ERROR: in rotated file"], TestContext.Current.CancellationToken);
            File.SetLastWriteTimeUtc(rotated, new DateTime(2026, 11, 22, 17, 55, 0, DateTimeKind.Utc));
            var filler = Enumerable.Range(0, 3000).Select(i => string.Create(CultureInfo.InvariantCulture, $"2026-11-22 18:0{i % 10}:00,{i % 1000:000} INFO: no action. I am (pg-test-1), a secondary, and following a leader (pg-test-3) #{i}"));
            await File.WriteAllLinesAsync(current, filler.Append("2026-11-22 18:09:59,999 WARNING: Request failed to pg-test-3"), TestContext.Current.CancellationToken);
            File.SetLastWriteTimeUtc(current, new DateTime(2026, 11, 22, 18, 10, 0, DateTimeKind.Utc));
            var cluster = SensingFixtures.Cluster();
            var files = new Dictionary<string, PgRuntimeAgent.Sensing.MemberLogFiles>
            {
                ["pg-test-1"] = new() { Patroni = current },
            };
            var source = new FileLogSource(files, cluster, (_, _) => LocalFileAccess.Instance) { Zone = TimeZoneInfo.Utc };

            var all = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Members = ["pg-test-1"], Since = Since, Until = Until, Limit = 10_000 }, TestContext.Current.CancellationToken);
            var grep = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Members = ["pg-test-1"], Since = Since, Until = Until, Grep = "REQUEST FAILED" }, TestContext.Current.CancellationToken);
            var bounded = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Members = ["pg-test-1"], Since = Since, Until = Until, Limit = 5 }, TestContext.Current.CancellationToken);

            Assert.Equal(3002, all.Entries.Count);
            Assert.Contains(all.Entries, e => e.Message == "in rotated file" && e.Severity == LogSeverity.Error);
            Assert.DoesNotContain(all.Entries, e => e.Message is "before window" or "ancient");
            Assert.All(all.Entries, e => Assert.Equal("pg-test-1", e.Member));
            var hit = Assert.Single(grep.Entries);
            Assert.Equal(LogSeverity.Warning, hit.Severity);
            Assert.Equal(5, bounded.Entries.Count);
            Assert.True(bounded.Truncated);
            Assert.Equal("Request failed to pg-test-3", bounded.Entries[0].Message);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public async Task FileLogSource_MissingFiles_WarnsPerMember()
    {
        var cluster = SensingFixtures.Cluster();
        var files = new Dictionary<string, PgRuntimeAgent.Sensing.MemberLogFiles>
        {
            ["pg-test-2"] = new() { Postgres = "/nonexistent-pgra/postgresql-*.log" },
        };
        var source = new FileLogSource(files, cluster, (_, _) => LocalFileAccess.Instance);

        var result = await source.QueryAsync(new LogQuery { Cluster = "pg-test", Members = ["pg-test-2"], Since = Since, Until = Until }, TestContext.Current.CancellationToken);

        Assert.Empty(result.Entries);
        Assert.Equal(["pg-test-2: no file matches /nonexistent-pgra/postgresql-*.log"], result.Warnings);
    }
}
