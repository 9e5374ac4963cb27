using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Inventory;

public sealed class GenerationTests
{
    private const string Cluster =
        "    pg-test:\n" +
        "      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }\n" +
        "      vars: { pg_cluster: pg-test }";

    private static Topology Load(string allVars, AgentSettings? settings = null) =>
        InventoryTestKit.Valid($$"""
            all:
              children:
                infra: { hosts: { 10.0.0.10: { infra_seq: 1 } } }
            {{Cluster}}
              vars: {{allVars}}
            """, settings);

    [Theory]
    [InlineData("{ version: v4.1.0 }", PigstyGeneration.V4, "all.vars.version is v4.1.0")]
    [InlineData("{ version: v3.6.1 }", PigstyGeneration.V3, "all.vars.version is v3.6.1")]
    [InlineData("{ vmetrics_port: 8428 }", PigstyGeneration.V4, "all.vars sets vmetrics_port (VictoriaMetrics/VictoriaLogs: Pigsty 4)")]
    [InlineData("{ loki_port: 3100 }", PigstyGeneration.V3, "all.vars sets loki_port (Prometheus/Loki: Pigsty 3)")]
    [InlineData("{ infra_portal: { prometheus: { endpoint: '10.0.0.10:9058' } } }", PigstyGeneration.V3, "infra_portal names prometheus (Prometheus/Loki: Pigsty 3)")]
    [InlineData("{ infra_portal: { vlogs: { endpoint: '10.0.0.10:9428' } } }", PigstyGeneration.V4, "infra_portal names vlogs (VictoriaMetrics/VictoriaLogs: Pigsty 4)")]
    public void Load_GenerationSignals_AreDetectedWithAReason(string vars, PigstyGeneration expected, string reason)
    {
        var t = Load(vars);

        Assert.Equal(expected, t.Generation);
        Assert.Equal(reason, t.GenerationReason);
    }

    [Fact]
    public void Load_NoGenerationSignal_AssumesV4AndWarns()
    {
        var t = Load("{ admin_ip: 10.0.0.10 }");

        Assert.Equal(PigstyGeneration.V4, t.Generation);
        Assert.Contains(t.Warnings, w => w.Contains("cannot tell the Pigsty generation", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_VersionContradictsInfraVars_VersionWinsAndWarns()
    {
        var t = Load("{ version: v4.5.0, prometheus_port: 9090 }");

        Assert.Equal(PigstyGeneration.V4, t.Generation);
        Assert.Contains(t.Warnings, w => w.Contains("but all.vars.version is v4.5.0: using the Pigsty 4 (VictoriaMetrics, VictoriaLogs) defaults", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_V3WithPortOverrides_UsesThemAsInventoryValues()
    {
        var t = Load("{ version: v3.7.0, prometheus_port: 9090, loki_port: 3101, alertmanager_port: 9093 }");

        Assert.Equal((new Uri("http://10.0.0.10:9090"), ValueSource.Inventory), (t.Infra.Metrics!.Url, t.Infra.Metrics.Source));
        Assert.Equal(new Uri("http://10.0.0.10:3101"), t.Infra.Logs!.Url);
        Assert.Equal(new Uri("http://10.0.0.10:9093"), t.Infra.Alertmanager!.Url);
        Assert.Contains("prometheus_port on infra node 10.0.0.10", t.Infra.Metrics.Origin, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_V4WithDisabledVlogs_HasNoLogsEndpointAndWarns()
    {
        var t = Load("{ version: v4.5.0, vlogs_enabled: false }");

        Assert.Null(t.Infra.Logs);
        Assert.Contains(t.Warnings, w => w.Contains("logs are disabled on the infra node", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_V2Version_ReadsAsPrometheusOn9090()
    {
        var t = Load("{ version: v2.7.0 }");

        Assert.Equal(PigstyGeneration.V3, t.Generation);
        Assert.Equal(new Uri("http://10.0.0.10:9090"), t.Infra.Metrics!.Url);
    }

    [Fact]
    public void Load_NoInfraGroup_HasNoEndpointsAndSaysSo()
    {
        var t = InventoryTestKit.Valid($$"""
            all:
              children:
            {{Cluster}}
              vars: { version: v4.5.0 }
            """);

        Assert.Null(t.Infra.Metrics);
        Assert.Null(t.Infra.Logs);
        Assert.Null(t.Infra.Alertmanager);
        Assert.Contains(t.Warnings, w => w.Contains("no infra group, so no metrics endpoint; set endpoints.metrics_url", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_SettingsEndpoints_OverrideTheInventoryAndCarryTheirSource()
    {
        var settings = AgentSettings.Default with
        {
            Endpoints = new EndpointSettings { MetricsUrl = new Uri("http://127.0.0.10:9090"), MetricsKind = MetricsKind.Prometheus, LogsKind = LogsKind.Files },
            Origins = new Dictionary<string, SettingOrigin>
            {
                ["endpoints.metrics_url"] = new(ValueSource.Environment, "$PGRA_ENDPOINTS__METRICS_URL"),
            },
        };

        var t = Load("{ version: v4.5.0 }", settings: settings);

        Assert.Equal((new Uri("http://127.0.0.10:9090"), ValueSource.Environment, "$PGRA_ENDPOINTS__METRICS_URL"), (t.Infra.Metrics!.Url, t.Infra.Metrics.Source, t.Infra.Metrics.Origin));
        Assert.Equal(MetricsKind.Prometheus, t.Infra.MetricsKind);
        Assert.Equal(LogsKind.Files, t.Infra.LogsKind);
        Assert.Null(t.Infra.Logs);
        Assert.Equal(ValueSource.PigstyDefault, t.Infra.Alertmanager!.Source);
    }
}
