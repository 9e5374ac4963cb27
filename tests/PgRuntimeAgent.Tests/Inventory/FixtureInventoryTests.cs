using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Inventory;

public sealed class FixtureInventoryTests
{
    public static TheoryData<string> Fixtures => InventoryTestKit.Fixtures();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Check_EveryFixture_IsValidAndReadsItsVersion(string fixture)
    {
        var report = InventoryLoader.Check(InventoryTestKit.FixturePath(fixture), new SecretStore(), PgRuntimeAgent.Inventory.InventoryOverrides.None);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        var expected = fixture.StartsWith("v4", StringComparison.Ordinal) ? PigstyGeneration.V4 : PigstyGeneration.V3;
        Assert.Equal(expected, report.Topology!.Generation);
        Assert.Equal("10.10.10.10", report.Topology.AdminIp);
    }

    [Fact]
    public void Load_V45HaFull_ListsPgMetaAndPgTestWithVictoriaEndpoints()
    {
        var t = InventoryTestKit.Fixture("v4.5.0/ha-full.yml");

        Assert.Equal(["pg-meta", "pg-test"], t.Clusters.Select(c => c.Name));
        var meta = t.FindCluster("pg-meta")!;
        Assert.Equal("pg-meta-1", Assert.Single(meta.Members).Name);
        var test = t.FindCluster("pg-test")!;
        Assert.Equal(["pg-test-1", "pg-test-2", "pg-test-3"], test.Members.Select(m => m.Name));
        Assert.Equal(["10.10.10.11", "10.10.10.12", "10.10.10.13"], test.Members.Select(m => m.Ip));
        Assert.Equal("pg-test-1", test.DeclaredPrimary!.Name);
        Assert.Equal([DeclaredRole.Primary, DeclaredRole.Replica, DeclaredRole.Replica], test.Members.Select(m => m.DeclaredRole));
        Assert.Equal([false, false, true], test.Members.Select(m => m.Offline));
        Assert.Equal("10.10.10.3", test.Vip);

        Assert.Equal(new Uri("http://10.10.10.10:8428"), t.Infra.Metrics!.Url);
        Assert.Equal(MetricsKind.VictoriaMetrics, t.Infra.MetricsKind);
        Assert.Equal(ValueSource.PigstyDefault, t.Infra.Metrics.Source);
        Assert.Equal(new Uri("http://10.10.10.10:9428"), t.Infra.Logs!.Url);
        Assert.Equal(LogsKind.VictoriaLogs, t.Infra.LogsKind);
        Assert.Equal(new Uri("http://10.10.10.10:9059"), t.Infra.Alertmanager!.Url);
        Assert.Equal([new EtcdMember("etcd-1", "10.10.10.10", 2379)], t.Etcd);
        Assert.Equal(["minio", "redis-ms", "redis-meta", "redis-test"], t.IgnoredGroups);
    }

    [Theory]
    [InlineData("v3.7.0/ha-full.yml")]
    [InlineData("v3.7.0/meta.yml")]
    public void Load_V37WithPortal_UsesPrometheusAndLokiFromInfraPortal(string fixture)
    {
        var t = InventoryTestKit.Fixture(fixture);

        Assert.Equal(PigstyGeneration.V3, t.Generation);
        Assert.Equal(new Uri("http://10.10.10.10:9058"), t.Infra.Metrics!.Url);
        Assert.Equal(MetricsKind.Prometheus, t.Infra.MetricsKind);
        Assert.Equal(ValueSource.Inventory, t.Infra.Metrics.Source);
        Assert.Contains("infra_portal.prometheus.endpoint '${admin_ip}:9058'", t.Infra.Metrics.Origin, StringComparison.Ordinal);
        Assert.Equal(new Uri("http://10.10.10.10:3100"), t.Infra.Logs!.Url);
        Assert.Equal(LogsKind.Loki, t.Infra.LogsKind);
        Assert.Equal(new Uri("http://10.10.10.10:9059"), t.Infra.Alertmanager!.Url);
    }

    [Fact]
    public void Load_V37HaSafeWithoutPortal_UsesPrometheusAndLokiDefaults()
    {
        var t = InventoryTestKit.Fixture("v3.7.0/ha-safe.yml");

        Assert.Equal(new Uri("http://10.10.10.10:9058"), t.Infra.Metrics!.Url);
        Assert.Equal(ValueSource.PigstyDefault, t.Infra.Metrics.Source);
        Assert.Equal(new Uri("http://10.10.10.10:3100"), t.Infra.Logs!.Url);
        Assert.Equal(LogsKind.Loki, t.Infra.LogsKind);
    }

    [Fact]
    public void Load_V45HaSafe_CritIsStrictSynchronousAndPatroniUsesHttps()
    {
        var t = InventoryTestKit.Fixture("v4.5.0/ha-safe.yml");
        var meta = Assert.Single(t.Clusters);

        Assert.Equal("crit.yml", meta.Ha.PgConf);
        Assert.True(meta.Ha.Synchronous);
        Assert.True(meta.Ha.SynchronousStrict);
        Assert.Equal(new Uri("https://10.10.10.11:8008/"), meta.Members[1].PatroniUrl);
        Assert.Equal(["etcd-1", "etcd-2", "etcd-3"], t.Etcd.Select(e => e.Name));
        Assert.Equal(["10.10.10.10", "10.10.10.11", "10.10.10.12"], t.InfraNodes);
    }

    [Fact]
    public void Load_V45HaSafe_CipherPassPlaceholderIsExpandedPerClusterIntoTheStore()
    {
        var secrets = new SecretStore();
        InventoryTestKit.Fixture("v4.5.0/ha-safe.yml", secrets: secrets);

        Assert.Contains("pgBR.${pg_cluster}", secrets.Values);
        Assert.Contains("pgBR.pg-meta", secrets.Values);
    }

    [Fact]
    public void Load_V37HaSafe_PatroniWatchdogOffFromInfraGroupVars()
    {
        var t = InventoryTestKit.Fixture("v3.7.0/ha-safe.yml");

        // infra group vars (patroni_watchdog_mode: off) apply to pg-meta's members on infra nodes, as in Ansible.
        Assert.Equal("off", t.Clusters[0].Ha.WatchdogMode);
        Assert.Equal("30", t.Clusters[0].Ha.RtoPreset);
        Assert.Equal((30, 10, 10, 10), (t.Clusters[0].Ha.TtlSeconds, t.Clusters[0].Ha.LoopWaitSeconds, t.Clusters[0].Ha.RetryTimeoutSeconds, t.Clusters[0].Ha.PrimaryStartTimeoutSeconds));
    }

    [Fact]
    public void Load_Citus_OneGroupYieldsOneClusterPerHostPgClusterWithShardScope()
    {
        var t = InventoryTestKit.Fixture("v4.5.0/ha-citus.yml");

        Assert.Equal(["pg-meta", "pg-citus1", "pg-citus2", "pg-citus3", "pg-citus4", "pg-citus5", "pg-citus6"], t.Clusters.Select(c => c.Name));
        var g2 = t.FindCluster("pg-citus2")!;
        Assert.Equal("citus", g2.Mode);
        Assert.Equal("pg-citus", g2.PatroniScope);
        Assert.Equal(1, g2.ShardGroup);
        Assert.Equal("10.10.10.39", g2.Vip);
        Assert.Equal(["pg-citus2-1", "pg-citus2-2"], g2.Members.Select(m => m.Name));
        Assert.Equal("pg-citus", g2.InventoryGroup);
    }

    [Fact]
    public void Load_DemoRemote_ReadsPgExportersAsRemoteInstancesWithoutClusters()
    {
        var secrets = new SecretStore();
        var t = InventoryTestKit.Fixture("v4.5.0/demo-remote.yml", secrets: secrets);

        Assert.Empty(t.Clusters);
        Assert.Equal(9, t.RemoteInstances.Count);
        var polar = t.RemoteInstances.Single(r => r.Name == "pg-polar-1");
        Assert.Equal(("pxx.polardbpg.rds.aliyuncs.com", 1921, 20011, "10.10.10.10"), (polar.Host, polar.Port, polar.ExporterPort, polar.ExporterHost));
        Assert.NotNull(polar.MonitorPassword);
        Assert.Equal("DBUser_Monitor", secrets.Reveal(polar.MonitorPassword!));
        Assert.Contains("DBUser.Monitor", secrets.Values); // from pg_exporter_url's user info
        Assert.Contains(t.Warnings, w => w.Contains("9 remote instance(s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_HaDual_PrimaryIsTheSecondMember()
    {
        var t = InventoryTestKit.Fixture("v4.5.0/ha-dual.yml");

        Assert.Equal("pg-meta-2", t.Clusters[0].DeclaredPrimary!.Name);
        Assert.Equal("10.10.10.11", t.Clusters[0].DeclaredPrimary!.Ip);
    }

    [Fact]
    public void Load_Fixture_CredentialsAreReferencesWithOrigins()
    {
        var secrets = new SecretStore();
        var t = InventoryTestKit.Fixture("v4.5.0/ha-full.yml", secrets: secrets);
        var creds = t.Clusters[0].Credentials;

        Assert.Equal("postgres", creds.PatroniUsername);
        Assert.Equal("Patroni.API", secrets.Reveal(creds.PatroniPassword!));
        Assert.EndsWith("ha-full.yml:171 (all.vars.patroni_password)", creds.PatroniPassword!.Origin, StringComparison.Ordinal);
        Assert.Equal("DBUser.Monitor", secrets.Reveal(creds.MonitorPassword!));
        Assert.DoesNotContain("Patroni.API", creds.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_Fixture_EverySecretKindGoesToTheStore()
    {
        var secrets = new SecretStore();
        InventoryTestKit.Fixture("v4.5.0/ha-full.yml", secrets: secrets);

        foreach (var value in new[] { "DBUser.Meta", "test", "S3User.Backup", "pgBackRest", "redis.ms", "S3User.MinIO", "Etcd.Root", "pigsty", "pgbackrest", "s3user_meta" })
        {
            Assert.Contains(value, secrets.Values);
        }
    }

    [Fact]
    public void Load_LabInventoryWithItsSettings_UsesSettingsEndpointsAndFiles()
    {
        var path = Path.Combine(InventoryTestKit.RepoRoot, "inventory", "lab.yml");
        if (!File.Exists(path))
        {
            Assert.Skip("inventory/lab.yml is not in this tree");
        }

        var secrets = new SecretStore();
        var settings = PgRuntimeAgent.Settings.SettingsLoader.Load(null, path, secrets, new Dictionary<string, string?>(), "/nonexistent");
        var t = InventoryLoader.Load(path, secrets, InventoryOverrides.From(settings));

        Assert.Equal(["pg-test-1", "pg-test-2", "pg-test-3"], t.Clusters[0].Members.Select(m => m.Name));
        Assert.Equal(ValueSource.Settings, t.Infra.Metrics!.Source);
        Assert.Equal(new Uri("http://127.0.0.10:9090"), t.Infra.Metrics.Url);
        Assert.Equal(LogsKind.Files, t.Infra.LogsKind);
        Assert.Null(t.Infra.Logs);
    }
}
