using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary>Ansible variable precedence, Pigsty defaults, placeholders and YAML features operators use.</summary>
public sealed class PrecedenceTests
{
    [Fact]
    public void Load_PortDefinedAtEveryLevel_HostBeatsGroupBeatsAllVarsBeatsDefault()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary, pg_port: 5501 }
                    10.0.0.2: { pg_seq: 2, pg_role: replica }
                  vars: { pg_cluster: pg-test, pg_port: 5502, patroni_port: 8102 }
                pg-other:
                  hosts: { 10.0.0.3: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-other }
              vars: { version: v4.5.0, pg_port: 5503, patroni_port: 8103, pgbouncer_port: 6403 }
            """);

        var test = t.FindCluster("pg-test")!;
        var other = t.FindCluster("pg-other")!;
        Assert.Equal(5501, test.Members[0].Ports.Postgres);   // host vars
        Assert.Equal(5502, test.Members[1].Ports.Postgres);   // group vars
        Assert.Equal(5503, other.Members[0].Ports.Postgres);  // all.vars
        Assert.Equal(8102, test.Members[0].Ports.Patroni);
        Assert.Equal(8103, other.Members[0].Ports.Patroni);
        Assert.Equal(6403, test.Members[0].Ports.Pgbouncer);
        Assert.Equal(9630, test.Members[0].Ports.PgExporter);  // Pigsty default
        Assert.Equal(9100, test.Members[0].Ports.NodeExporter);
        Assert.Equal(9101, test.Members[0].Ports.HaproxyExporter);
    }

    [Fact]
    public void Load_HostInSeveralGroups_DeeperGroupThenNameOrderWinsAsInAnsible()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                infra:
                  hosts: { 10.0.0.1: { infra_seq: 1 } }
                  vars: { pg_exporter_port: 9001, patroni_watchdog_mode: 'off' }
                pgsql:
                  vars: { pg_exporter_port: 9002 }
                  children:
                    pg-meta:
                      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                      vars: { pg_cluster: pg-meta, pg_exporter_port: 9003 }
              vars: { version: v4.5.0, patroni_watchdog_mode: automatic }
            """);

        var meta = t.FindCluster("pg-meta")!;
        Assert.Equal(9003, meta.Members[0].Ports.PgExporter); // depth 2 beats depth 1 (infra, pgsql)
        Assert.Equal("off", meta.Ha.WatchdogMode);             // infra group vars beat all.vars
    }

    [Fact]
    public void Load_AnsibleGroupPriority_BreaksTiesBetweenGroupsOfEqualDepth()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                aaa:
                  hosts: { 10.0.0.1: {} }
                  vars: { pg_port: 5001, ansible_group_priority: 10 }
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test, pg_port: 5002 }
            """);

        Assert.Equal(5001, t.Clusters[0].Members[0].Ports.Postgres);
    }

    [Fact]
    public void Load_UsernamesAndHaWithoutVars_ArePigstyDefaults()
    {
        var secrets = new SecretStore();
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
              vars: { version: v4.5.0 }
            """, secrets: secrets);

        var c = t.Clusters[0];
        Assert.Equal(("postgres", "dbuser_monitor", "dbuser_dba", "replicator"),
            (c.Credentials.PatroniUsername, c.Credentials.MonitorUsername, c.Credentials.AdminUsername, c.Credentials.ReplicationUsername));
        Assert.Equal("Patroni.API", secrets.Reveal(c.Credentials.PatroniPassword!));
        Assert.StartsWith("Pigsty default patroni_password", c.Credentials.PatroniPassword!.Origin, StringComparison.Ordinal);
        Assert.Equal(("norm", 30, 5, 10, 25, 1_048_576L), (c.Ha.RtoPreset, c.Ha.TtlSeconds, c.Ha.LoopWaitSeconds, c.Ha.RetryTimeoutSeconds, c.Ha.PrimaryStartTimeoutSeconds, c.Ha.MaximumLagOnFailoverBytes));
        Assert.Equal(("local", "posix /pg/backup", "pg-test"), (c.Backup.Method, c.Backup.Repo, c.Backup.Stanza));
        Assert.Equal("/pg", c.DcsNamespace);
        Assert.Equal(new Uri("http://10.0.0.1:8008/"), c.Members[0].PatroniUrl);
        Assert.Contains(t.Warnings, w => w.Contains("Pigsty's published defaults apply: patroni_password, pg_monitor_password, pg_admin_password, pg_replication_password", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("v4.5.0", "fast", "fast", 20, 5, 5, 15)]
    [InlineData("v4.5.0", "norm", "norm", 30, 5, 10, 25)]
    [InlineData("v4.5.0", "safe", "safe", 60, 10, 20, 45)]
    [InlineData("v4.5.0", "wide", "wide", 120, 20, 30, 95)]
    [InlineData("v4.5.0", "10", "fast", 20, 5, 5, 15)]
    [InlineData("v4.5.0", "45", "safe", 60, 10, 20, 45)]
    [InlineData("v4.5.0", "90", "wide", 120, 20, 30, 95)]
    [InlineData("v3.7.0", "30", "30", 30, 10, 10, 10)]
    [InlineData("v3.7.0", "10", "10", 10, 4, 4, 4)]
    [InlineData("v3.7.0", "60", "60", 60, 20, 20, 20)]
    public void Load_PgRto_MapsToPatroniTimingsOfTheGeneration(string version, string rto, string preset, int ttl, int loop, int retry, int start)
    {
        var t = InventoryTestKit.Valid($$"""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test, pg_rto: {{rto}} }
              vars: { version: {{version}} }
            """);

        var ha = t.Clusters[0].Ha;
        Assert.Equal((preset, ttl, loop, retry, start), (ha.RtoPreset, ha.TtlSeconds, ha.LoopWaitSeconds, ha.RetryTimeoutSeconds, ha.PrimaryStartTimeoutSeconds));
    }

    [Fact]
    public void Load_CustomPgRtoPlan_OverridesThePreset()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars:
                    pg_cluster: pg-test
                    pg_rto: norm
                    pg_rto_plan: { norm: [ 40, 8, 12, 30, 5, '2s', '1s', '2s', 3, 3 ] }
              vars: { version: v4.5.0 }
            """);

        Assert.Equal((40, 8, 12, 30), (t.Clusters[0].Ha.TtlSeconds, t.Clusters[0].Ha.LoopWaitSeconds, t.Clusters[0].Ha.RetryTimeoutSeconds, t.Clusters[0].Ha.PrimaryStartTimeoutSeconds));
    }

    [Theory]
    [InlineData("0", 0L, true)]
    [InlineData("1048576", 1_048_576L, false)]
    [InlineData("16MiB", 16_777_216L, false)]
    [InlineData("'64KB'", 65_536L, false)]
    public void Load_PgRpo_IsMaximumLagOnFailoverAndZeroMeansSynchronous(string rpo, long bytes, bool synchronous)
    {
        var t = InventoryTestKit.Valid($$"""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test, pg_rpo: {{rpo}} }
              vars: { version: v4.5.0 }
            """);

        Assert.Equal((bytes, synchronous), (t.Clusters[0].Ha.MaximumLagOnFailoverBytes, t.Clusters[0].Ha.Synchronous));
    }

    [Fact]
    public void Load_DollarAndJinjaPlaceholders_AreExpandedInEndpoints()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                infra: { hosts: { 10.0.0.5: { infra_seq: 1 } } }
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
              vars:
                version: v3.7.0
                admin_ip: 10.0.0.5
                prom_host: "{{ admin_ip }}"
                infra_portal:
                  prometheus: { endpoint: "{{ prom_host }}:9090" }
                  loki: { endpoint: "${admin_ip}:3101", scheme: https }
            """);

        Assert.Equal(new Uri("http://10.0.0.5:9090"), t.Infra.Metrics!.Url);
        Assert.Equal(new Uri("https://10.0.0.5:3101"), t.Infra.Logs!.Url);
        Assert.Equal(ValueSource.Inventory, t.Infra.Logs.Source);
        Assert.Equal(ValueSource.PigstyDefault, t.Infra.Alertmanager!.Source);
    }

    [Fact]
    public void Load_PlaceholdersInMemberVars_UseTheMemberAndClusterContext()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary, ansible_host: "${lan_ip}" } }
                  vars: { pg_cluster: pg-test, pg_vip_enabled: true, pg_vip_address: "${vip_net}.10/24" }
              vars: { lan_ip: 192.168.7.1, vip_net: 192.168.7 }
            """);

        Assert.Equal("192.168.7.1", t.Clusters[0].Members[0].Ip);
        Assert.Equal("192.168.7.10", t.Clusters[0].Vip);
    }

    [Fact]
    public void Load_UnsafeTag_IsNotTemplated()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test, pg_conf: !unsafe '${admin_ip}.yml' }
              vars: { admin_ip: 10.0.0.9 }
            """);

        Assert.Equal("${admin_ip}.yml", t.Clusters[0].Ha.PgConf);
    }

    [Fact]
    public void Load_YamlMergeKeysAndAliases_AreApplied()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: &member { pg_seq: 1, pg_role: primary, pg_port: 5999 }
                    10.0.0.2: { <<: *member, pg_seq: 2, pg_role: replica }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal([5999, 5999], t.Clusters[0].Members.Select(m => m.Ports.Postgres));
        Assert.Equal([DeclaredRole.Primary, DeclaredRole.Replica], t.Clusters[0].Members.Select(m => m.DeclaredRole));
    }

    [Fact]
    public void Load_HostRanges_AreExpanded()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                infra:
                  hosts: { "10.0.1.[1:3]": {} }
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["10.0.1.1", "10.0.1.2", "10.0.1.3"], t.InfraNodes);
        Assert.Equal(["db-a", "db-b"], AnsibleInventory.ExpandHostPattern("db-[a:b]"));
        Assert.Equal(["n01", "n03"], AnsibleInventory.ExpandHostPattern("n[01:03:2]"));
        Assert.Equal(["plain"], AnsibleInventory.ExpandHostPattern("plain"));
    }

    [Fact]
    public void Load_StandbyClusterAndOfflineRole_AreModelled()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test2:
                  hosts:
                    10.0.0.21: { pg_seq: 1, pg_role: primary, pg_upstream: 10.0.0.11 }
                    10.0.0.22: { pg_seq: 2, pg_role: offline }
                  vars: { pg_cluster: pg-test2 }
            """);

        var c = t.Clusters[0];
        Assert.True(c.IsStandbyCluster);
        Assert.Equal("10.0.0.11", c.DeclaredPrimary!.Upstream);
        Assert.True(c.Members[1].Offline);
        Assert.Equal(DeclaredRole.Offline, c.Members[1].DeclaredRole);
    }

    [Fact]
    public void Load_VaultEncryptedPassword_IsNotReadAndWarns()
    {
        var t = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test }
              vars:
                patroni_password: !vault |
                  $ANSIBLE_VAULT;1.1;AES256
                  6231373237
            """);

        Assert.Null(t.Clusters[0].Credentials.PatroniPassword);
        Assert.Contains(t.Warnings, w => w.StartsWith("test.yml:7:23: all.vars: patroni_password is Ansible-vault encrypted", StringComparison.Ordinal));
    }
}
