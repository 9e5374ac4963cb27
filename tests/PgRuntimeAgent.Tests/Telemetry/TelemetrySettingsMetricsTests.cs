using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Telemetry;

namespace PgRuntimeAgent.Tests.Telemetry;

/// <summary>
/// The <c>telemetry:</c> section: no OTLP export by default, a loopback endpoint or one allowed on purpose, never a
/// URL with credentials; each problem at its key's line. And where OTLP/HTTP sends each signal.
/// </summary>
public sealed class TelemetrySettingsMetricsTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-telemetry-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SettingsLoadResult Load(string yaml, IReadOnlyDictionary<string, string?>? env = null)
    {
        var path = Path.Combine(_dir, "pgra.yml");
        File.WriteAllText(path, yaml);
        return SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), new SecretStore(), env ?? NoEnvironment, Path.Combine(_dir, "etc"));
    }

    [Fact]
    public void Defaults_NoOtlpEndpoint_NoExport()
    {
        var t = AgentSettings.Default.Telemetry;

        Assert.Null(t.OtlpEndpoint);
        Assert.False(t.OtlpEnabled);
        Assert.False(t.OtlpAllowRemote);
        Assert.Equal(OtlpProtocol.Grpc, t.OtlpProtocol);
        Assert.Equal(15, t.StateRefreshSeconds);
        Assert.Null(TelemetryExport.StartOtlp(t, null, null, TimeProvider.System, null, null));
    }

    [Theory]
    [InlineData("http://127.0.0.1:4317")]
    [InlineData("http://localhost:4318")]
    [InlineData("https://[::1]:4317")]
    [InlineData("http://127.0.0.5:4318/otlp")]
    public void Load_LoopbackEndpoint_IsAccepted(string endpoint)
    {
        var result = Load($"telemetry:\n  otlp_endpoint: {endpoint}\n  otlp_protocol: http-protobuf\n");

        Assert.Empty(result.Problems);
        Assert.Equal(new Uri(endpoint), result.Settings.Telemetry.OtlpEndpoint);
        Assert.Equal(OtlpProtocol.HttpProtobuf, result.Settings.Telemetry.OtlpProtocol);
        Assert.True(result.Settings.Telemetry.OtlpEnabled);
    }

    [Fact]
    public void Load_RemoteEndpoint_IsAnErrorAtItsLine_UnlessAllowedOnPurpose()
    {
        var refused = Load("telemetry:\n  otlp_endpoint: http://otel.example.com:4317\n");
        var env = Load("", new Dictionary<string, string?> { ["PGRA_TELEMETRY__OTLP_ENDPOINT"] = "http://10.10.10.10:4317" });
        var allowed = Load("telemetry:\n  otlp_endpoint: https://otel.example.com:4317\n  otlp_allow_remote: true\n");

        var problem = Assert.Single(refused.Problems);
        Assert.Contains("pgra.yml:2:18", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("telemetry.otlp_endpoint", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("not a loopback address", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("otlp_allow_remote: true", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("PGRA_TELEMETRY__OTLP_ENDPOINT", Assert.Single(env.Problems).ToString(), StringComparison.Ordinal);
        Assert.Empty(allowed.Problems);
        Assert.Equal("otel.example.com", allowed.Settings.Telemetry.OtlpEndpoint!.Host);
    }

    [Theory]
    [InlineData("http://user:hunter2-secret@127.0.0.1:4317", "must not carry a user")]
    [InlineData("http://127.0.0.1:4317/?token=hunter2-secret", "must not carry a user")]
    [InlineData("ftp://127.0.0.1:4317", "http:// or https://")]
    public void Load_EndpointWithCredentialsOrAnotherScheme_IsAnError_WithoutEchoingIt(string endpoint, string expected)
    {
        var result = Load($"telemetry:\n  otlp_endpoint: '{endpoint}'\n");

        var text = string.Join("\n", result.Problems.Select(p => p.ToString()));
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("otlp_export_interval_seconds: 0", "otlp_export_interval_seconds")]
    [InlineData("state_refresh_seconds: 7200", "state_refresh_seconds")]
    public void Load_IntervalOutOfBounds_IsAnErrorAtItsKey(string line, string key)
    {
        var result = Load($"telemetry:\n  {line}\n");

        Assert.Contains($"telemetry.{key}", Assert.Single(result.Problems).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SignalEndpoint_HttpProtobuf_AppendsTheSignalsPath_GrpcKeepsTheEndpoint()
    {
        var http = new TelemetrySettings { OtlpProtocol = OtlpProtocol.HttpProtobuf };
        var grpc = new TelemetrySettings();

        Assert.Equal("http://127.0.0.1:4318/v1/metrics", TelemetryExport.SignalEndpoint(http, new Uri("http://127.0.0.1:4318"), "v1/metrics").ToString());
        Assert.Equal("http://127.0.0.1:4318/otlp/v1/traces", TelemetryExport.SignalEndpoint(http, new Uri("http://127.0.0.1:4318/otlp"), "v1/traces").ToString());
        Assert.Equal("http://127.0.0.1:4317/", TelemetryExport.SignalEndpoint(grpc, new Uri("http://127.0.0.1:4317"), "v1/traces").ToString());
    }
}
