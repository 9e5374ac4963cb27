using System.Text;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Alerts;

namespace PgRuntimeAgent.Tests.Alerts;

/// <summary>Alertmanager's webhook payload (version 4, as documented in its configuration reference) read from the raw body.</summary>
public sealed class AlertmanagerParserTests
{
    internal static string Fixture => File.ReadAllText(TestPaths.Fixture("documented", "alertmanager", "webhook-v4-replication-lag.json"));

    /// <summary>A notification with <paramref name="alerts"/> (JSON objects) in the documented shape.</summary>
    internal static string Notification(params string[] alerts) => $$"""
        {"receiver":"pgra-agent","status":"firing","alerts":[{{string.Join(",", alerts)}}],"groupLabels":{},"commonLabels":{},
         "commonAnnotations":{},"externalURL":"http://127.0.0.10:9059","version":"4","groupKey":"{}:{}","truncatedAlerts":0}
        """;

    internal static string Alert(string labels, string status = "firing", string startsAt = "2026-11-22T21:10:00Z", string? fingerprint = "0123456789abcdef") =>
        $$"""
        {"status":"{{status}}","labels":{{{labels}}},"annotations":{"summary":"test"},"startsAt":"{{startsAt}}",
         "endsAt":"{{(status == "resolved" ? "2026-11-22T21:20:00Z" : "0001-01-01T00:00:00Z")}}","generatorURL":"http://prometheus/graph"{{(fingerprint is null ? "" : $",\"fingerprint\":\"{fingerprint}\"")}}}
        """;

    private static AlertPayloadError Refused(string body)
    {
        var result = AlertmanagerParser.Parse(body);
        Assert.Null(result.Notification);
        return Assert.IsType<AlertPayloadError>(result.Error);
    }

    [Fact]
    public void Parse_DocumentedFixture_ReadsTheGroupAndBothAlerts()
    {
        var result = AlertmanagerParser.Parse(Encoding.UTF8.GetBytes(Fixture));

        Assert.Null(result.Error);
        var n = result.Notification!;
        Assert.Equal("4", n.Version);
        Assert.Equal("pgra-agent", n.Receiver);
        Assert.Equal(AlertStatus.Firing, n.Status);
        Assert.Equal("{}:{alertname=\"PostgresReplicationLag\", cls=\"pg-test\"}", n.GroupKey);
        Assert.Equal("http://127.0.0.10:9059", n.ExternalUrl);
        Assert.Equal(0, n.TruncatedAlerts);
        Assert.Equal("pg-test", n.GroupLabels["cls"]);
        Assert.Equal("WARN", n.CommonLabels["severity"]);
        Assert.Empty(n.CommonAnnotations);
        Assert.Equal(2, n.Alerts.Count);

        var firing = n.Alerts[0];
        Assert.Equal(AlertStatus.Firing, firing.Status);
        Assert.Equal("PostgresReplicationLag", firing.AlertName);
        Assert.Equal("pg-test-2", firing.Labels["ins"]);
        Assert.Equal("WARN PostgresReplicationLag: pg-test-2@127.0.0.11:9630", firing.Annotations["summary"]);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 10, 45, TimeSpan.Zero).AddTicks(1_234_568), firing.StartsAt); // nanoseconds, rounded to ticks
        Assert.Null(firing.EndsAt); // Alertmanager's zero time
        Assert.Equal("5c1e7f3a9b2d4e60", firing.Fingerprint);
        Assert.False(firing.FingerprintComputed);
        Assert.StartsWith("http://127.0.0.10:9058/graph?", firing.GeneratorUrl, StringComparison.Ordinal);
        Assert.Equal(0, firing.Cut);

        var resolved = n.Alerts[1];
        Assert.Equal(AlertStatus.Resolved, resolved.Status);
        Assert.Equal("pg-test-3", resolved.Labels["ins"]);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 2, 15, 500, TimeSpan.Zero), resolved.StartsAt);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 9, 30, 500, TimeSpan.Zero), resolved.EndsAt);
    }

    [Fact]
    public void Parse_OffsetTimesAndUnknownFields_AreReadAsUtcAndIgnored()
    {
        // Grafana's webhook adds fields (silenceURL, values, orgId); they do not matter here.
        var body = Notification(Alert("\"alertname\":\"X\"", startsAt: "2026-11-22T23:10:00.5+02:00").Replace("\"generatorURL\"", "\"silenceURL\":\"x\",\"values\":{\"B\":1.5},\"generatorURL\"", StringComparison.Ordinal))
            .Replace("\"receiver\"", "\"orgId\":1,\"receiver\"", StringComparison.Ordinal);

        var alert = Assert.Single(AlertmanagerParser.Parse(body).Notification!.Alerts);

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 10, 0, 500, TimeSpan.Zero), alert.StartsAt);
        Assert.Equal(TimeSpan.Zero, alert.StartsAt.Offset);
    }

    [Fact]
    public void Parse_NotJson_SaysLineAndByte()
    {
        var error = Refused("{\n  \"version\": \"4\",\n  \"alerts\": [ oops ]\n}");

        Assert.Equal(AlertPayloadErrorCode.BadJson, error.Code);
        Assert.Equal(3, error.Line);
        Assert.NotNull(error.Column);
        Assert.StartsWith("the body is not valid JSON at line 3, byte ", error.Message, StringComparison.Ordinal);
        Assert.Equal(400, error.HttpStatus);
    }

    [Fact]
    public void Parse_InvalidUtf8_SaysWhichByte()
    {
        var body = Encoding.UTF8.GetBytes(Notification(Alert("\"alertname\":\"AB\""))).ToList();
        var at = body.IndexOf((byte)'B');
        body[at] = 0xBF; // inside a label value: the JSON reader would only trip on it when the string is read

        var error = AlertmanagerParser.Parse(body.ToArray()).Error!;

        Assert.Equal(AlertPayloadErrorCode.BadJson, error.Code);
        Assert.Equal($"the body is not valid UTF-8 (byte {at + 1}): Alertmanager sends UTF-8 JSON", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n")]
    public void Parse_EmptyBody_IsRefused(string body)
    {
        var error = Refused(body);

        Assert.Equal(AlertPayloadErrorCode.BadJson, error.Code);
        Assert.Contains("the body is empty", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"3\"", "$.version: is \"3\"; only version \"4\" of Alertmanager's webhook payload is understood")]
    [InlineData("4", "$.version: is 4; only version \"4\" of Alertmanager's webhook payload is understood")]
    public void Parse_WrongVersion_SaysWhichAndWhatIsUnderstood(string version, string message)
    {
        var error = Refused(Notification().Replace("\"version\":\"4\"", $"\"version\":{version}", StringComparison.Ordinal));

        Assert.Equal(AlertPayloadErrorCode.WrongVersion, error.Code);
        Assert.Equal("$.version", error.Path);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Parse_NoVersion_AsksWhetherItIsAnotherSendersFormat()
    {
        var error = Refused("""{"alerts":[]}""");

        Assert.Equal(AlertPayloadErrorCode.WrongVersion, error.Code);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
        Assert.Contains("another sender's format", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]", "$", "expected a JSON object")]
    [InlineData("""{"version":"4"}""", "$.alerts", "missing: expected the list of alerts")]
    [InlineData("""{"version":"4","alerts":{}}""", "$.alerts", "expected an array of alerts, got an object")]
    [InlineData("""{"version":"4","alerts":[1]}""", "$.alerts[0]", "expected an alert object, got a number")]
    public void Parse_WrongShape_NamesThePath(string body, string path, string what)
    {
        var error = Refused(body);

        Assert.Equal(AlertPayloadErrorCode.BadShape, error.Code);
        Assert.Equal(path, error.Path);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.StartsWith(path + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadAlertFields_NameTheAlertAndTheField()
    {
        var good = Alert("\"alertname\":\"A\"");
        Assert.Equal("$.alerts[1].status", Refused(Notification(good, Alert("\"alertname\":\"B\"", status: "pending"))).Path);
        Assert.Equal("$.alerts[1].startsAt", Refused(Notification(good, Alert("\"alertname\":\"B\"", startsAt: "yesterday"))).Path);
        Assert.Equal("$.alerts[1].startsAt", Refused(Notification(good, Alert("\"alertname\":\"B\"", startsAt: "2026-11-22"))).Path);
        Assert.Equal("$.alerts[0].labels.nested", Refused(Notification(Alert("\"alertname\":\"A\",\"nested\":{\"x\":1}"))).Path);
        var noLabels = Refused(Notification("""{"status":"firing","startsAt":"2026-11-22T21:10:00Z"}"""));
        Assert.Equal("$.alerts[0].labels", noLabels.Path);
        Assert.Contains("every alert has labels", noLabels.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ThousandAlerts_AreRead_AThousandAndOne_AreRefused()
    {
        string Many(int count) => Notification(Enumerable.Range(0, count).Select(i => Alert($"\"alertname\":\"A\",\"i\":\"{i}\"", fingerprint: $"{i:x16}")).ToArray());

        Assert.Equal(1000, AlertmanagerParser.Parse(Many(1000)).Notification!.Alerts.Count);
        var error = Refused(Many(1001));

        Assert.Equal(AlertPayloadErrorCode.TooManyAlerts, error.Code);
        Assert.Equal(413, error.HttpStatus);
        Assert.Equal("$.alerts: 1001 alerts in one notification; at most 1000 are accepted (set max_alerts in the webhook_config)", error.Message);
    }

    [Fact]
    public void Parse_BodyOverTheLimit_IsRefusedBeforeItIsRead()
    {
        var limits = new AlertLimits { MaxBodyBytes = 100 };
        var body = Notification(Alert("\"alertname\":\"A\""));

        var bytes = AlertmanagerParser.Parse(Encoding.UTF8.GetBytes(body), limits);
        var text = AlertmanagerParser.Parse(body, limits);

        Assert.Equal(AlertPayloadErrorCode.TooLarge, bytes.Error!.Code);
        Assert.Equal(AlertPayloadErrorCode.TooLarge, text.Error!.Code);
        Assert.Equal(413, text.Error.HttpStatus);
        Assert.Contains("at most 100 are accepted", bytes.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_LongValuesAndManyLabels_AreCutKeepingTheIdentityLabels()
    {
        var labels = new JsonObject { ["alertname"] = "Wide", ["cls"] = "pg-test", ["ins"] = "pg-test-2", ["long"] = new string('x', 5000) };
        for (var i = 0; i < 100; i++)
        {
            labels[$"a{i:000}"] = "v";
        }

        var annotations = new JsonObject { ["description"] = new string('d', 10_000) };
        var body = Notification($$"""{"status":"firing","labels":{{labels.ToJsonString()}},"annotations":{{annotations.ToJsonString()}},"startsAt":"2026-11-22T21:10:00Z"}""");

        var alert = Assert.Single(AlertmanagerParser.Parse(body).Notification!.Alerts);

        Assert.Equal(AlertLimits.Default.MaxLabels, alert.Labels.Count);
        Assert.Equal("Wide", alert.AlertName);
        Assert.Equal("pg-test", alert.Labels["cls"]);
        Assert.Equal("pg-test-2", alert.Labels["ins"]);
        Assert.Equal(AlertLimits.Default.MaxAnnotationChars, alert.Annotations["description"].Length);
        Assert.EndsWith("…", alert.Annotations["description"], StringComparison.Ordinal);
        Assert.True(alert.Cut >= 100 + 4 - AlertLimits.Default.MaxLabels + 1, $"cut {alert.Cut}");
    }

    [Fact]
    public void Parse_NoFingerprint_ComputesOneFromTheLabels_StableAcrossLabelOrder()
    {
        var a = AlertmanagerParser.Parse(Notification(Alert("\"alertname\":\"A\",\"cls\":\"pg-test\"", fingerprint: null))).Notification!.Alerts[0];
        var b = AlertmanagerParser.Parse(Notification(Alert("\"cls\":\"pg-test\",\"alertname\":\"A\"", fingerprint: null))).Notification!.Alerts[0];
        var c = AlertmanagerParser.Parse(Notification(Alert("\"alertname\":\"A\",\"cls\":\"pg-other\"", fingerprint: null))).Notification!.Alerts[0];

        Assert.True(a.FingerprintComputed);
        Assert.Matches("^[0-9a-f]{16}$", a.Fingerprint);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.NotEqual(a.Fingerprint, c.Fingerprint);
    }

    [Fact]
    public void Parse_ScalarLabelValues_AreTakenAsText()
    {
        var alert = AlertmanagerParser.Parse(Notification(Alert("\"alertname\":\"A\",\"level\":1,\"page\":true"))).Notification!.Alerts[0];

        Assert.Equal("1", alert.Labels["level"]);
        Assert.Equal("true", alert.Labels["page"]);
    }

    [Fact]
    public void Parse_LoneEscapedSurrogates_AreReplacementCharacters_OrRefusedWithThePath()
    {
        // The fuzzer's find: "\uDFFF" alone parses as JSON but threw InvalidOperationException when read.
        var alert = AlertmanagerParser.Parse(Notification(Alert("\"alertname\":\"A\\uDFFF\",\"x\\uD800\":\"v\""))).Notification!.Alerts[0];
        Assert.Equal("A\uFFFD", alert.Labels["alertname"]);
        Assert.Equal("v", alert.Labels["x\uFFFD"]);

        var time = Refused(Notification(Alert("\"alertname\":\"A\"", startsAt: "2026-12-03T10:1\\ubBFF\\uDFFF")));
        Assert.Equal("$.alerts[0].startsAt", time.Path);

        // a pair stays the character it encodes
        Assert.Equal("\U0001F600", AlertmanagerParser.Parse(Notification(Alert("\"alertname\":\"\\uD83D\\uDE00\""))).Notification!.Alerts[0].Labels["alertname"]);
    }

    [Fact]
    public void Parse_MutatedFixture_NeverThrows_AndAlwaysSaysWhichItIs()
    {
        var original = Encoding.UTF8.GetBytes(Fixture);
        var random = new Random(14);
        for (var i = 0; i < 1500; i++)
        {
            var body = (byte[])original.Clone();
            for (var flips = random.Next(1, 6); flips > 0; flips--)
            {
                body[random.Next(body.Length)] = (byte)random.Next(256);
            }

            var cut = random.Next(4) == 0 ? body.AsMemory(0, random.Next(body.Length)) : body;

            var result = AlertmanagerParser.Parse(cut);

            Assert.True((result.Notification is null) != (result.Error is null), $"mutation {i}");
            if (result.Error is { } error)
            {
                Assert.False(string.IsNullOrWhiteSpace(error.Message));
                Assert.StartsWith("$", error.Path, StringComparison.Ordinal);
            }
        }
    }
}
