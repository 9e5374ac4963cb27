using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class BackupAndHostTests
{
    [Fact]
    public void PgBackRestInfo_Recorded245_ReadsBackupsArchiveAndStatus()
    {
        var stanzas = PgBackRestInfoParser.Parse(SensingFixtures.Recorded("pgbackrest-2.45", "info.json"), "pgbackrest info");

        var s = Assert.Single(stanzas);
        Assert.Equal("pg-test", s.Name);
        Assert.Equal(0, s.StatusCode);
        Assert.Equal("ok", s.StatusMessage);
        Assert.False(s.BackupLockHeld);
        Assert.Equal(2, s.Backups.Count);
        Assert.Equal("0000000B000000000000000E", s.ArchiveMin);
        Assert.Equal("0000000B0000000000000010", s.ArchiveMax);
        Assert.Equal("15", s.DbVersion);
        Assert.Equal("7711055780989108563", s.SystemId);
        var last = s.LastOf("full")!;
        Assert.Equal("20261122-180033F", last.Label);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1795370436), last.StoppedAt);
        Assert.Equal(101707478, last.SizeBytes);
        Assert.Equal(13081816, last.RepoSizeBytes);
        Assert.Equal("0/F000028", last.LsnStart);
        Assert.Null(s.LastOf("diff"));
        Assert.Equal(0, Assert.Single(s.Repos).Code);
    }

    [Fact]
    public void Summarise_Recorded_ComputesBackupAgeFromTheClock()
    {
        var stanza = PgBackRestInfoParser.Parse(SensingFixtures.Recorded("pgbackrest-2.45", "info.json"), "pgbackrest info")[0];
        var now = DateTimeOffset.FromUnixTimeSeconds(1795370436 + 3600);

        var summary = BackupSensor.Summarise(stanza, "pgbackrest info", now);

        Assert.Equal(3600, summary.LastBackupAgeSeconds);
        Assert.Equal("20261122-180033F", summary.LastFull!.Label);
        Assert.Null(summary.LastIncr);
        Assert.Equal(2, summary.BackupCount);
    }

    [Fact]
    public void PgBackRestInfo_MissingStanza_IsDataWithItsStatus()
    {
        const string json = """[{"archive":[],"backup":[],"cipher":"none","db":[],"name":"pg-meta","repo":[{"cipher":"none","key":1,"status":{"code":1,"message":"missing stanza path"}}],"status":{"code":1,"lock":{"backup":{"held":false}},"message":"missing stanza path"}}]""";

        var s = Assert.Single(PgBackRestInfoParser.Parse(json, "pgbackrest info"));

        Assert.Equal(1, s.StatusCode);
        Assert.Equal("missing stanza path", s.StatusMessage);
        Assert.Null(s.Last);
        Assert.Null(BackupSensor.Summarise(s, null, DateTimeOffset.UnixEpoch).LastBackupAgeSeconds);
    }

    [Theory]
    [InlineData("{}", "JSON array of stanzas")]
    [InlineData("[{}]", "no name")]
    [InlineData("ERROR: [055]: unable to load info file", "malformed JSON")]
    public void PgBackRestInfo_Malformed_ThrowsNamingTheCommand(string json, string expected)
    {
        var ex = Assert.Throws<SensorResponseException>(() => PgBackRestInfoParser.Parse(json, "runuser -u postgres -- pgbackrest info"));

        Assert.StartsWith("runuser -u postgres -- pgbackrest info", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BackupSensor_RunsInfoWithStanzaAndConfigAndReportsAge()
    {
        var runner = new ScriptedRunner(new ShellResult(0, SensingFixtures.Recorded("pgbackrest-2.45", "info.json"), ""));
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1795370436 + 90));
        var sensor = new BackupSensor(new PgBackRestSettings { Config = "/etc/pgbackrest/pgbackrest.conf", RunAs = null }, runner, null, time, TimeSpan.FromSeconds(2));

        var (observation, health) = await sensor.ObserveAsync(SensingFixtures.Cluster(), TestContext.Current.CancellationToken);

        Assert.Equal(SensorHealth.Ok, health.Health);
        Assert.Equal(90, observation!.LastBackupAgeSeconds);
        Assert.Equal("'pgbackrest' '--stanza=pg-test' '--config=/etc/pgbackrest/pgbackrest.conf' 'info' '--output=json'", Assert.Single(runner.Commands));
    }

    [Fact]
    public async Task BackupSensor_CommandFails_IsUnknownWithStderr()
    {
        var runner = new ScriptedRunner(new ShellResult(127, "", "sh: 1: pgbackrest: not found"));
        var sensor = new BackupSensor(new PgBackRestSettings { RunAs = null }, runner, null, TimeProvider.System, TimeSpan.FromSeconds(2));

        var (observation, health) = await sensor.ObserveAsync(SensingFixtures.Cluster(), TestContext.Current.CancellationToken);

        Assert.Null(observation);
        Assert.Equal(SensorHealth.Unknown, health.Health);
        Assert.Contains("exit code 127", health.Reason, StringComparison.Ordinal);
        Assert.Contains("pgbackrest: not found", health.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void HostParse_DfMeminfoLoadavg_ReadsEverything()
    {
        var output = """
            Filesystem         1-blocks        Used   Available Capacity Mounted on
            /dev/vda1      105089261568 70000000000 35089261568      67% /
            /dev/vdb1      210178523136 10000000000 200178523136      5% /pg
            --pgra--
            MemTotal:       24684228 kB
            MemFree:        20000000 kB
            MemAvailable:   22000000 kB
            --pgra--
            0.52 0.58 0.59 1/389 12345
            """;

        var h = HostSensor.Parse("pg-test-1", output, ["/pg/data", "/pg/data/pg_wal"]);

        Assert.Equal(2, h.Filesystems.Count);
        Assert.Equal("/pg/data", h.Filesystems[0].Path);
        Assert.Equal("/", h.Filesystems[0].Mount);
        Assert.Equal(35089261568, h.Filesystems[0].AvailableBytes);
        Assert.Equal("/pg", h.Filesystems[1].Mount);
        Assert.Equal(24684228L * 1024, h.MemTotalBytes);
        Assert.Equal(22000000L * 1024, h.MemAvailableBytes);
        Assert.Equal(0.52, h.Load1);
        Assert.Equal(0.59, h.Load15);
    }

    [Fact]
    public async Task HostSensor_SshRefused_IsUnknownWithTheReason()
    {
        var runner = new ScriptedRunner(new System.Net.Sockets.SocketException(111));
        var sensor = new HostSensor(runner, new SshSettings(), TimeProvider.System, TimeSpan.FromSeconds(2));

        var (observation, health) = await sensor.ObserveAsync(SensingFixtures.Cluster().Members[0], TestContext.Current.CancellationToken);

        Assert.Null(observation);
        Assert.Equal(SensorHealth.Unknown, health.Health);
        Assert.StartsWith("ssh root@127.0.0.11:22: ", health.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PathsFor_MemberAndClusterPlaceholders_AreReplacedPerMember()
    {
        var member = SensingFixtures.Cluster().Members[1];

        var paths = HostSensor.PathsFor(member, ["/var/lib/pgra-lab/{member}/data", "/pg/{cluster}/wal", "/pg/data"]);

        Assert.Equal([$"/var/lib/pgra-lab/{member.Name}/data", $"/pg/{member.Cluster}/wal", "/pg/data"], paths);
    }

    [Fact]
    public void KnownHosts_PlainHashedAndPortEntries_PinExactKeys()
    {
        var key = RandomNumberGenerator.GetBytes(51);
        var other = RandomNumberGenerator.GetBytes(51);
        var salt = RandomNumberGenerator.GetBytes(20);
        var hash = HMACSHA1.HashData(salt, Encoding.ASCII.GetBytes("10.10.10.12"));
        var b64 = Convert.ToBase64String(key);
        var known = KnownHosts.Parse(
        [
            "# comment",
            $"10.10.10.11,pg-test-1 ssh-ed25519 {b64}",
            $"|1|{Convert.ToBase64String(salt)}|{Convert.ToBase64String(hash)} ssh-ed25519 {b64}",
            $"[10.10.10.13]:2222 ssh-ed25519 {b64}",
            "garbage line",
        ]);

        Assert.True(known.Trusts("10.10.10.11", 22, "ssh-ed25519", key));
        Assert.True(known.Trusts("pg-test-1", 22, "ssh-ed25519", key));
        Assert.True(known.Trusts("10.10.10.12", 22, "ssh-ed25519", key));
        Assert.True(known.Trusts("10.10.10.13", 2222, "ssh-ed25519", key));
        Assert.False(known.Trusts("10.10.10.13", 22, "ssh-ed25519", key));
        Assert.False(known.Trusts("10.10.10.11", 22, "ssh-ed25519", other));
        Assert.False(known.Trusts("10.10.10.11", 22, "ssh-rsa", key));
        Assert.False(known.Trusts("10.10.10.14", 22, "ssh-ed25519", key));
    }

    private sealed class ScriptedRunner : ICommandRunner
    {
        private readonly ShellResult? _result;
        private readonly Exception? _error;

        public ScriptedRunner(ShellResult result) => _result = result;

        public ScriptedRunner(Exception error) => _error = error;

        public List<string> Commands { get; } = [];

        public Task<ShellResult> RunAsync(string host, string command, CancellationToken cancellationToken)
        {
            Commands.Add(command);
            return _error is null ? Task.FromResult(_result!) : Task.FromException<ShellResult>(_error);
        }
    }
}
