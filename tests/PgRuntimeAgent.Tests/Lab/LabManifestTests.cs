using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Tests.Lab;

public sealed class LabManifestTests
{
    private const string Json = """
        {
          "version": 1, "mode": "loopback", "dir": "/var/lib/pgra-lab", "cluster": "pg-test", "database": "test",
          "infra_ip": "127.0.0.10", "ha_preset": "fast",
          "ha": { "ttl": 10, "loop_wait": 2, "retry_timeout": 4, "primary_start_timeout": 10 },
          "max_connections": 50,
          "credentials": {
            "superuser": { "username": "postgres", "password": "p0" }, "replication": { "username": "replicator", "password": "p1" },
            "admin": { "username": "dbuser_dba", "password": "p2" }, "monitor": { "username": "dbuser_monitor", "password": "p3" },
            "patroni": { "username": "postgres", "password": "p4" }, "app": { "username": "test", "password": "test" } },
          "endpoints": { "etcd": "http://127.0.0.10:2379", "prometheus": "http://127.0.0.10:9090", "alertmanager": "http://127.0.0.10:9059" },
          "pgbackrest": { "config": "/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", "stanza": "pg-test", "repo": "/var/lib/pgra-lab/pgbackrest/repo",
                          "backup_command": "/var/lib/pgra-lab/bin/pgra-lab-backup", "run_as": "postgres" },
          "members": [ { "name": "pg-test-1", "seq": 1, "ip": "127.0.0.11", "declared_role": "primary", "dir": "/var/lib/pgra-lab/pg-test-1",
                         "data_dir": "/var/lib/pgra-lab/pg-test-1/data", "wal_mount": "/var/lib/pgra-lab/pg-test-1/wal",
                         "socket_dir": "/var/lib/pgra-lab/pg-test-1/run", "log_dir": "/var/lib/pgra-lab/pg-test-1/log",
                         "ports": { "postgres": 5432, "pgbouncer": 6432, "patroni": 8008, "pg_exporter": 9630, "node_exporter": 9100,
                                    "haproxy_exporter": 9101, "haproxy_primary": 5433, "haproxy_replica": 5434 } } ],
          "services": [
            { "name": "pg-test-1-patroni", "kind": "patroni", "member": "pg-test-1", "user": "postgres", "address": "127.0.0.11:8008",
              "health": "http://127.0.0.11:8008/liveness", "start": "/var/lib/pgra-lab/bin/start-pg-test-1.sh" },
            { "name": "pg-test-1-postgres", "kind": "postgres", "member": "pg-test-1", "user": "postgres", "address": "127.0.0.11:5432",
              "health": "tcp", "pidfile": "/var/lib/pgra-lab/pg-test-1/data/postmaster.pid" } ]
        }
        """;

    [Fact]
    public void Parse_PlaybookManifest_MembersServicesCredentials()
    {
        var manifest = LabManifest.Parse(Json);
        Assert.Equal("pg-test", manifest.Cluster);
        Assert.Equal(2, manifest.Ha.LoopWait);
        var member = Assert.Single(manifest.Members);
        Assert.Equal(new Uri("http://127.0.0.11:8008"), member.PatroniUrl);
        Assert.Equal(5433, member.Ports.HaproxyPrimary);
        Assert.Equal("p4", manifest.Credentials.Patroni.Password);
        Assert.Equal("/var/lib/pgra-lab/run/pg-test-1-patroni.pid", manifest.PidFile(manifest.Services[0]));
        Assert.Equal("/var/lib/pgra-lab/pg-test-1/data/postmaster.pid", manifest.PidFile(manifest.Services[1]));
        Assert.Same(member, manifest.FindMember("pg-test-1"));
        Assert.Null(manifest.FindMember("pg-test-9"));
    }

    [Fact]
    public void Journal_ManifestBeforePgMeta_ParsesWithNoJournalDatabase()
    {
        var manifest = LabManifest.Parse(Json);
        Assert.Null(manifest.Endpoints.Journal);
        Assert.Null(manifest.JournalConnectionString());
        Assert.Equal("dbuser_meta", manifest.Credentials.Journal.Username);
        Assert.All(manifest.Services, s => Assert.Null(s.StopSignal));
    }

    [Fact]
    public void Journal_PgMetaInManifest_ConnectionStringWithoutPasswordAndServiceStoppedWithInt()
    {
        var json = Json
            .Replace("\"app\": { \"username\": \"test\", \"password\": \"test\" } },",
                "\"app\": { \"username\": \"test\", \"password\": \"test\" }, \"journal\": { \"username\": \"dbuser_meta\", \"password\": \"DBUser.Meta\" } },", StringComparison.Ordinal)
            .Replace("\"alertmanager\": \"http://127.0.0.10:9059\" },",
                "\"alertmanager\": \"http://127.0.0.10:9059\", \"journal\": \"postgres://127.0.0.10:5432/meta\" },", StringComparison.Ordinal)
            .Replace("\"services\": [",
                "\"services\": [ { \"name\": \"pg-meta\", \"kind\": \"meta_postgres\", \"member\": null, \"user\": \"postgres\", \"address\": \"127.0.0.10:5432\", " +
                "\"health\": \"tcp\", \"start\": \"/var/lib/pgra-lab/bin/start-meta.sh\", \"stop_signal\": \"INT\" },", StringComparison.Ordinal);
        var manifest = LabManifest.Parse(json);
        Assert.Equal(new Uri("postgres://127.0.0.10:5432/meta"), manifest.Endpoints.Journal);
        Assert.Equal("DBUser.Meta", manifest.Credentials.Journal.Password);
        var journal = new Npgsql.NpgsqlConnectionStringBuilder(manifest.JournalConnectionString("pgra-fleet-1"));
        Assert.Equal("127.0.0.10", journal.Host);
        Assert.Equal(5432, journal.Port);
        Assert.Equal("meta", journal.Database);
        Assert.Equal("dbuser_meta", journal.Username);
        Assert.Null(journal.Password);
        Assert.Equal("pgra-fleet-1", journal.ApplicationName);
        var meta = manifest.Services[0];
        Assert.Equal(("meta_postgres", null, "INT"), (meta.Kind, meta.Member, meta.StopSignal));
        Assert.Equal("/var/lib/pgra-lab/run/pg-meta.pid", manifest.PidFile(meta));
    }

    [Fact]
    public void ConnectionStrings_Manifest_LoopbackMembersAndHaproxyPorts()
    {
        using var cluster = new LabCluster(LabManifest.Parse(Json));
        var direct = new Npgsql.NpgsqlConnectionStringBuilder(cluster.ConnectionString(cluster.Manifest.Members[0], cluster.Manifest.Credentials.Admin));
        Assert.Equal("127.0.0.11", direct.Host);
        Assert.Equal(5432, direct.Port);
        Assert.Equal("dbuser_dba", direct.Username);
        var primary = new Npgsql.NpgsqlConnectionStringBuilder(cluster.PrimaryServiceConnectionString());
        Assert.Equal(5433, primary.Port);
        Assert.Equal("test", primary.Database);
        Assert.Equal(5434, new Npgsql.NpgsqlConnectionStringBuilder(cluster.ReplicaServiceConnectionString()).Port);
    }

    [Fact]
    public async Task FaultBook_SaveThenRemove_JournalHasInjectAndHeal()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-lab-book-").FullName;
        try
        {
            var manifest = LabManifest.Parse(Json) with { Dir = dir };
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero));
            var fault = new LabActiveFault
            {
                Scenario = "disk-full", Target = "pg-test-1", InjectedAt = time.GetUtcNow(), Summary = "filled",
                Steps = [new LabFaultStep(time.GetUtcNow(), "fallocate -l 1 x", "ok")],
                State = new Dictionary<string, string> { ["files"] = "/x" },
            };
            LabFaultBook.SaveActive(manifest, fault);
            var active = Assert.Single(LabFaultBook.Active(manifest));
            Assert.Equal("/x", active.State["files"]);
            time.Advance(TimeSpan.FromSeconds(5));
            LabFaultBook.RemoveActive(manifest, active, time.GetUtcNow(), "freed", []);
            Assert.Empty(LabFaultBook.Active(manifest));
            var journal = LabFaultBook.Journal(manifest);
            Assert.Equal(["inject", "heal"], journal.Select(e => e.Action));
            Assert.Equal("fallocate -l 1 x", journal[0].Steps[0].Command);
            Assert.Equal(time.GetUtcNow(), journal[1].At);
            await Task.CompletedTask;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
    [Fact]
    public void FaultBook_ClearActive_UndoesWhatTheFaultsLeftOnDisk_AndRecordsIt()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var dir = Directory.CreateTempSubdirectory("pgra-lab-clear-").FullName;
        try
        {
            var manifest = LabManifest.Parse(Json) with { Dir = dir };
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
            var archive = Directory.CreateDirectory(Path.Combine(dir, "archive", "pg-test")).FullName;
            const UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
            File.SetUnixFileMode(archive, UnixFileMode.None);
            var fill = Path.Combine(dir, "pgra-lab-fill");
            var top = Path.Combine(dir, "pgra-lab-fill-2");
            File.WriteAllText(fill, "x");
            File.WriteAllText(top, "y");
            LabFaultBook.SaveActive(manifest, new LabActiveFault
            {
                Scenario = "archive-broken", Target = "pg-test-1", InjectedAt = time.GetUtcNow(),
                State = new Dictionary<string, string> { ["dir"] = archive, ["mode"] = ((int)mode).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            });
            LabFaultBook.SaveActive(manifest, new LabActiveFault
            {
                Scenario = "disk-full", Target = "pg-test-2", InjectedAt = time.GetUtcNow(),
                State = new Dictionary<string, string> { ["files"] = fill + "," + top },
            });

            var undone = LabFaultBook.ClearActive(manifest, "lab down", time);

            Assert.Empty(LabFaultBook.Active(manifest));
            Assert.Equal(mode, File.GetUnixFileMode(archive));
            Assert.False(File.Exists(fill));
            Assert.False(File.Exists(top));
            Assert.Equal(3, undone.Count);
            Assert.Contains(undone, u => u.StartsWith("archive-broken: chmod 750 ", StringComparison.Ordinal) && u.EndsWith(": ok", StringComparison.Ordinal));
            var heals = LabFaultBook.Journal(manifest).Where(e => e.Action == "heal").ToList();
            Assert.Equal(2, heals.Count);
            Assert.All(heals, h => Assert.Equal("cleared by lab down", h.Summary));
            Assert.Equal(2, heals.Single(h => h.Scenario == "disk-full").Steps.Count);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
