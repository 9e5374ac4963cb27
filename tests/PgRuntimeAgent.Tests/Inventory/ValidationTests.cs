using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Inventory;

/// <summary>Every validation error the issue names, each with its exact file:line:column and subject.</summary>
public sealed class ValidationTests
{
    [Fact]
    public void Check_YamlSyntaxError_ReportsLineAndColumn()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                   vars: { pg_cluster: pg-test }
            """);

        var p = Assert.Single(report.Problems);
        Assert.Equal(("test.yml", 6L, 8L), (p.File, p.Line, p.Column));
        Assert.StartsWith("test.yml:6:8: YAML syntax error: ", p.ToString(), StringComparison.Ordinal);
        Assert.Null(report.Topology);
    }

    [Fact]
    public void Check_UnclosedFlowMapping_ReportsWhereTheParserStopped()
    {
        var report = InventoryTestKit.Parse("""
            all:
              vars: { admin_ip: 10.0.0.1
              children: {}
            """);

        var p = Assert.Single(report.Problems);
        Assert.Equal((2L, 19L), (p.Line, p.Column));
        Assert.Contains("YAML syntax error", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DuplicateKey_ReportsTheSecondOccurrence()
    {
        var report = InventoryTestKit.Parse("""
            all:
              vars:
                admin_ip: 10.0.0.1
                admin_ip: 10.0.0.2
            """);

        var p = Assert.Single(report.Problems);
        Assert.Equal((4L, 5L), (p.Line, p.Column));
        Assert.Contains("Duplicate key admin_ip", p.Message, StringComparison.Ordinal);
        Assert.Contains("remove or merge the duplicate", p.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ClusterWithoutPgCluster_ReportsEachHostThatLooksLikeAMember()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 2, pg_role: replica }
                  vars: { pg_version: 16 }
            """);

        Assert.Equal(
            [
                "5:9 pg-test/10.0.0.1: host has pg_seq but its group 'pg-test' names no pg_cluster",
                "6:9 pg-test/10.0.0.2: host has pg_seq but its group 'pg-test' names no pg_cluster",
            ],
            InventoryTestKit.Located(report));
        Assert.Contains("add 'pg_cluster: pg-test' to the vars of group 'pg-test'", report.Problems[0].Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingPgSeq_ReportsTheHost()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_role: replica }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["6:9 pg-test/10.0.0.2: missing pg_seq"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_DuplicatePgSeq_PointsAtTheSecondAndNamesTheFirst()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 1, pg_role: replica }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["6:29 pg-test/10.0.0.2: duplicate pg_seq 1: 10.0.0.1 already is pg-test-1 (test.yml:5:29)"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_NonIntegerPgSeq_ReportsTheValue()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: one, pg_role: primary }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["5:29 pg-test/10.0.0.1: pg_seq 'one' is not a non-negative integer"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_NoPrimary_ReportsTheClusterGroup()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: replica }
                    10.0.0.2: { pg_seq: 2 }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["3:5 pg-test: no member has pg_role: primary"], InventoryTestKit.Located(report));
        Assert.Equal("test.yml:3:5: pg-test: no member has pg_role: primary; mark exactly one member 'pg_role: primary' (Patroni bootstraps the cluster from it)",
            report.Problems[0].ToString());
    }

    [Fact]
    public void Check_TwoPrimaries_ReportsTheSecondRoleAndNamesTheFirst()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 2, pg_role: primary }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["6:41 pg-test/10.0.0.2: second primary: 10.0.0.1 is already pg_role: primary (test.yml:5:41)"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_UnknownPgRole_ReportsTheValueAndTheChoices()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 2, pg_role: leader }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["6:41 pg-test/10.0.0.2: unknown pg_role 'leader'"], InventoryTestKit.Located(report));
        Assert.Equal("use one of: primary, replica, offline", report.Problems[0].Hint);
    }

    [Fact]
    public void Check_IpInTwoClusters_WarnsAndKeepsTheHostInTheClusterAnsibleGivesIt()
    {
        // Ansible merges the host's vars across pg-a and pg-b: at equal depth and priority the later group name wins,
        // so the host's pg_cluster is pg-b, and pg-a keeps its other member.
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-a:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.3: { pg_seq: 2, pg_role: primary }
                  vars: { pg_cluster: pg-a }
                pg-b:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 2, pg_role: replica }
                  vars: { pg_cluster: pg-b }
            """);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        var clusters = report.Topology!.Clusters.ToDictionary(c => c.Name, c => c.Members.Select(m => m.Ip).ToArray());
        Assert.Equal(["10.0.0.3"], clusters["pg-a"]);
        Assert.Equal(["10.0.0.1", "10.0.0.2"], clusters["pg-b"]);
        var warning = Assert.Single(report.Warnings, w => w.Message.Contains("is listed in group", StringComparison.Ordinal));
        Assert.Equal((5L, 9L, "pg-a/10.0.0.1"), (warning.Line, warning.Column, warning.Subject));
        Assert.Equal(
            "10.0.0.1 is listed in group 'pg-a' (cluster pg-a) and in group 'pg-b' (cluster pg-b, test.yml:10:9); Ansible gives the host one pg_cluster, pg-b, so pgra counts it in cluster pg-b only",
            warning.Message);
    }

    [Fact]
    public void Check_PortNotANumber_ReportsEachBadValueOnceWithItsScope()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary, pg_port: 54x2 }
                    10.0.0.2: { pg_seq: 2, pg_role: replica }
                    10.0.0.3: { pg_seq: 3, pg_role: replica }
                  vars: { pg_cluster: pg-test, patroni_port: '80080' }
              vars:
                pgbouncer_port: [ 6432 ]
            """);

        Assert.Equal(
            [
                "5:59 pg-test/10.0.0.1: pg_port '54x2' is not a port number",
                "10:21 all.vars: pgbouncer_port a list is not a port number",
                "8:50 pg-test: patroni_port '80080' is not a port number",
            ],
            InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_ManyProblems_AreAllReportedInOneRun()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-a:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                    10.0.0.2: { pg_seq: 1, pg_role: primary }
                    10.0.0.3: { pg_role: standby, pg_port: x }
                  vars: { pg_cluster: pg-a }
                pg-b:
                  hosts:
                    10.0.0.4: { pg_seq: 1 }
                pg-c:
                  hosts:
                    10.0.0.5: { pg_seq: 1, pg_role: primary, pg_admin_password: [ 1, 2 ] }
                  vars: { pg_cluster: pg-c }
            """);

        var located = InventoryTestKit.Located(report);
        Assert.True(located.Count == 7, string.Join("\n", located));
        Assert.Contains("6:29 pg-a/10.0.0.2: duplicate pg_seq 1: 10.0.0.1 already is pg-a-1 (test.yml:5:29)", located);
        Assert.Contains("7:9 pg-a/10.0.0.3: missing pg_seq", located);
        Assert.Contains("7:30 pg-a/10.0.0.3: unknown pg_role 'standby'", located);
        Assert.Contains("6:41 pg-a/10.0.0.2: second primary: 10.0.0.1 is already pg_role: primary (test.yml:5:41)", located);
        Assert.Contains("11:9 pg-b/10.0.0.4: host has pg_seq but its group 'pg-b' names no pg_cluster", located);
        Assert.Contains("14:69 host 10.0.0.5: pg_admin_password must be a text value, found a list", located);
        Assert.Contains(located, l => l.StartsWith("7:48 pg-a/10.0.0.3: pg_port 'x'", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_RootIsAList_ReportsTheShape()
    {
        var report = InventoryTestKit.Parse("""
            - 10.0.0.1
            - 10.0.0.2
            """);

        Assert.Equal(["1:1 : not an Ansible/Pigsty inventory: the file must be a mapping with an 'all:' key, found a list"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_HostsAsAList_ReportsTheGroup()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts: [ 10.0.0.1, 10.0.0.2 ]
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["4:14 pg-test: 'hosts' of group 'pg-test' must be a mapping of host to vars, found a list"], InventoryTestKit.Located(report));
    }

    [Fact]
    public void Check_EmptyFile_IsOneProblem()
    {
        var report = InventoryTestKit.Parse("# nothing here\n");

        Assert.Equal("test.yml: the inventory is empty; write an Ansible YAML inventory starting with 'all:' (see inventory/pigsty-sample.yml)",
            Assert.Single(report.Problems).ToString());
    }

    [Fact]
    public void Check_BadPgRtoAndPgRpo_AreProblemsAtTheirValues()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
                  vars: { pg_cluster: pg-test, pg_rto: fsat, pg_rpo: lots }
              vars: { version: v4.5.0 }
            """);

        Assert.Equal(
            [
                "5:44 pg-test: pg_rto 'fsat' is neither a preset nor a number of seconds",
                "5:58 pg-test: pg_rpo 'lots' is not a byte count",
            ],
            InventoryTestKit.Located(report));
    }

    [Fact]
    public void Load_InvalidInventory_ThrowsInputExceptionWithEveryProblem()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pgra-invalid-{Guid.NewGuid():N}.yml");
        File.WriteAllText(path, """
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: boss }
                    10.0.0.2: { pg_seq: 1 }
                  vars: { pg_cluster: pg-test, patroni_password: Sup3r.Secret-Value }
            """);
        try
        {
            var ex = Assert.Throws<InputException>(() => InventoryLoader.Load(path, new PgRuntimeAgent.Secrets.SecretStore(), PgRuntimeAgent.Inventory.InventoryOverrides.None));

            Assert.Contains("3 problems in the inventory", ex.Message, StringComparison.Ordinal);
            Assert.Equal(3, ex.Problems.Count);
            Assert.All(ex.Problems, p => Assert.StartsWith(path, p, StringComparison.Ordinal));
            Assert.DoesNotContain(ex.Problems, p => p.Contains("Sup3r.Secret-Value", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Check_HostThatIsNoAddress_IsAProblemAndIpv6Works()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    "db one": { pg_seq: 1, pg_role: primary }
                    "fd00::12": { pg_seq: 2, pg_role: replica }
                  vars: { pg_cluster: pg-test }
            """);

        Assert.Equal(["5:9 pg-test/db one: 'db one' is neither an IP address nor a host name"], InventoryTestKit.Located(report));
        Assert.Equal(new Uri("http://[fd00::12]:8008/"), report.Topology!.Clusters[0].Members[1].PatroniUrl);
    }

    [Fact]
    public void Check_PasswordSameTextAsADatabaseName_WarnsWithLineAndLeavesTheNameReadable()
    {
        var secrets = new SecretStore();
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                  vars:
                    pg_cluster: pg-test
                    pg_users:
                      - { name: test, password: test }
                      - { name: app, password: App.Secret-42 }
                    pg_databases:
                      - { name: test, owner: test }
            """, secrets: secrets);

        var warning = Assert.Single(report.Warnings, w => w.Message.Contains("pg_users[0].password", StringComparison.Ordinal));
        Assert.Equal(9L, warning.Line);
        Assert.Contains("same text as a name at line 9", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(report.Warnings, w => w.Message.Contains("pg_users[1]", StringComparison.Ordinal));
        Assert.Equal("database test, owner test", secrets.Redact("database test, owner test"));
        Assert.Equal("login app/******", secrets.Redact("login app/App.Secret-42"));
        Assert.DoesNotContain("test", secrets.MaskedValues);
        Assert.Contains("test", secrets.Values);
    }
}

/// <summary>pg_databases: the business databases the Postgres sensor reads per-database statistics in.</summary>
public sealed class DatabasesTests
{
    [Fact]
    public void Databases_FromPgDatabases_InOrderWithoutAbsentOnes()
    {
        var topology = InventoryTestKit.Valid("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                  vars:
                    pg_cluster: pg-test
                    pg_databases:
                      - { name: app, owner: app }
                      - { name: legacy, state: absent }
                      - { name: meta, baseline: cmdb.sql }
                      - { name: app }
            """);

        Assert.Equal(["app", "meta"], topology.Clusters.Single().Databases);
    }

    [Fact]
    public void Databases_NotAList_WarnsWithTheLineAndReadsNone()
    {
        var report = InventoryTestKit.Parse("""
            all:
              children:
                pg-test:
                  hosts:
                    10.0.0.1: { pg_seq: 1, pg_role: primary }
                  vars: { pg_cluster: pg-test, pg_databases: app }
            """);

        Assert.Empty(report.Topology!.Clusters.Single().Databases);
        var warning = Assert.Single(report.Warnings, p => p.Message.Contains("pg_databases", StringComparison.Ordinal));
        Assert.Equal(6L, warning.Line);
    }
}
