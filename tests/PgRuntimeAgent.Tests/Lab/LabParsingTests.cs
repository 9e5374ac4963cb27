using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Tests.Lab;

public sealed class LabParsingTests
{
    [Fact]
    public void ParseInstalled_DpkgQueryOutput_OnlyFullyInstalled()
    {
        var installed = LabPackages.ParseInstalled("patroni ii \nhaproxy un \netcd-server:amd64 ii \nprometheus rc \n");
        Assert.Equal(["etcd-server", "patroni"], installed.Order());
    }

    [Fact]
    public void CountChanges_PlayRecap_SumsChanged()
    {
        const string output = """
            PLAY RECAP *********************************************************************
            127.0.0.10                 : ok=10   changed=2    unreachable=0    failed=0    skipped=3
            127.0.0.11                 : ok=9    changed=0    unreachable=0    failed=0    skipped=2
            127.0.0.12                 : ok=6    changed=5    unreachable=0    failed=0    skipped=2
            """;
        Assert.Equal(7, LabUp.CountChanges(output));
        Assert.Equal(0, LabUp.CountChanges("no recap"));
    }

    [Fact]
    public void FailureLines_FatalLines_OnlyThose()
    {
        var result = new ShellResult(2, "TASK [x]\nok: [a]\nfatal: [127.0.0.11]: FAILED! => {\"msg\": \"boom\"}\nPLAY RECAP\n", "", TimeSpan.Zero);
        Assert.Equal("fatal: [127.0.0.11]: FAILED! => {\"msg\": \"boom\"}", LabUp.FailureLines(result));
    }

    [Theory]
    [InlineData("0B00007F:1F90", "127.0.0.11", 8080)]
    [InlineData("0A00007F:094B", "127.0.0.10", 2379)]
    [InlineData("00000000:1538", "0.0.0.0", 5432)]
    public void ParseProcNetAddress_HexEndpoint_IpAndPort(string text, string ip, int port) =>
        Assert.Equal((ip, port), LabProcesses.ParseProcNetAddress(text));

    [Fact]
    public void ReadPidFile_PostmasterPidLayout_FirstLine()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "4242\n/var/lib/pgra-lab/pg-test-1/data\n1795370429\n5432\n");
            Assert.Equal(4242, LabProcesses.ReadPidFile(path));
            File.WriteAllText(path, "garbage\n");
            Assert.Null(LabProcesses.ReadPidFile(path));
        }
        finally
        {
            File.Delete(path);
        }

        Assert.Null(LabProcesses.ReadPidFile(path));
    }

    [Fact]
    public void IsAlive_ThisProcess_TrueAndChildrenOfParentIncludeIt()
    {
        var pid = Environment.ProcessId;
        Assert.True(LabProcesses.IsAlive(pid));
        var parent = LabProcesses.ParentOf(pid);
        Assert.NotNull(parent);
        Assert.Contains(pid, LabProcesses.ChildrenOf(parent.Value));
        Assert.False(LabProcesses.IsAlive(int.MaxValue - 1));
    }

    [Fact]
    public void BackupInfoParse_RecordedPgBackRestInfo_CountsFullBackups()
    {
        var repo = Path.GetDirectoryName(LabPaths.FindAnsibleDir())!; // works with PGRA_ARTIFACTS builds too
        var info = LabBackupInfo.Parse(File.ReadAllText(Path.Combine(repo, "tests", "fixtures", "recorded", "pgbackrest-2.45", "info.json")));
        Assert.Null(info.Error);
        Assert.Equal(0, info.StatusCode);
        Assert.Equal(2, info.FullBackups);
        Assert.Contains("2 full backup(s)", info.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void BackupInfoParse_MissingStanza_NoFullBackup()
    {
        var info = LabBackupInfo.Parse("""[{"name":"pg-test","status":{"code":1,"message":"missing stanza path"},"backup":[]}]""");
        Assert.Equal(1, info.StatusCode);
        Assert.Equal(0, info.FullBackups);
        Assert.Contains("missing stanza path", info.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void ParseTargets_PrometheusTargets_JobInstanceInsHealth()
    {
        const string json = """
            {"status":"success","data":{"activeTargets":[
              {"labels":{"cls":"pg-test","ins":"pg-test-1","instance":"127.0.0.11:9630","ip":"127.0.0.11","job":"pgsql"},"health":"up","lastError":""},
              {"labels":{"cls":"pg-test","ins":"pg-test-2","instance":"127.0.0.12:8008","ip":"127.0.0.12","job":"patroni"},"health":"down","lastError":"connection refused"}]}}
            """;
        var targets = LabMonitoring.ParseTargets(json);
        Assert.Equal(2, targets.Count);
        Assert.Equal(new ScrapeTarget("pgsql", "127.0.0.11:9630", "pg-test-1", "up", ""), targets[0]);
        Assert.Equal("down", targets[1].Health);
    }

    [Fact]
    public void ClusterHealth_OneLeaderTwoStreaming_Healthy()
    {
        var members = new[]
        {
            new PatroniMemberState("pg-test-1", "leader", "running", "127.0.0.11", 5432, 1, null),
            new PatroniMemberState("pg-test-2", "replica", "running", "127.0.0.12", 5432, 1, "0"),
            new PatroniMemberState("pg-test-3", "replica", "start failed", "127.0.0.13", 5432, null, "unknown"),
        };
        Assert.False(new LabClusterHealth(members, "pg-test-1", ["pg-test-2"]).Healthy(3));
        members[2] = members[2] with { State = "streaming" };
        Assert.True(new LabClusterHealth(members, "pg-test-1", ["pg-test-2", "pg-test-3"]).Healthy(3));
        Assert.False(new LabClusterHealth(members, null, []).Healthy(3));
    }

    [Fact]
    public void ResolveDir_Explicit_ThenEnvironment_ThenDefault()
    {
        Assert.Equal("/tmp/x-lab", LabPaths.ResolveDir("/tmp/x-lab", new Dictionary<string, string?>()));
        Assert.Equal("/srv/lab", LabPaths.ResolveDir(null, new Dictionary<string, string?> { ["PGRA_LAB_DIR"] = "/srv/lab" }));
        Assert.Equal(LabPaths.DefaultDir, LabPaths.ResolveDir(null, new Dictionary<string, string?>()));
    }

    [Fact]
    public void FindAnsibleDir_FromTheRepository_HoldsThePlaybook()
    {
        var dir = LabPaths.FindAnsibleDir();
        Assert.NotNull(dir);
        Assert.True(File.Exists(Path.Combine(dir, "lab.yml")));
    }
}
