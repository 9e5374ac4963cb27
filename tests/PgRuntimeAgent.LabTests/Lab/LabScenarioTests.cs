using System.Globalization;
using Npgsql;
using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Lab;

/// <summary>
/// Every fault scenario against the real lab: inject produces what an operator would see, heal restores a healthy
/// cluster. Run one at a time (the lab test assembly is not parallel).
/// </summary>
public sealed class LabScenarioTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PrimaryCrash_WithWorkload_NewLeaderLosesNothingBeyondTheRpoAndBaselineOutagePrinted()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var old = await lab.LeaderAsync(Ct);
        await using var workload = await lab.StartWorkloadAsync(cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        await InjectAsync(lab, "primary-crash");
        var injectedAt = TimeProvider.System.GetUtcNow();
        try
        {
            var patroni = lab.Manifest.Services.First(s => s.Kind == "patroni" && s.Member == old.Name);
            var pid = LabProcesses.ReadPidFile(lab.Manifest.PidFile(patroni));
            Assert.True(pid is null || await LabProcesses.WaitGoneAsync([pid.Value], TimeSpan.FromSeconds(5), TimeProvider.System, Ct), "the old leader's Patroni is still alive");
            Assert.True(await workload.WaitForAckAfterAsync(injectedAt, TimeSpan.FromSeconds(90), Ct), "writes did not come back within 90 s");
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
            await workload.StopAsync();
            var report = await workload.VerifyAsync(lab.PrimaryServiceConnectionString, Ct);
            var leader = await lab.LeaderAsync(Ct);
            Assert.NotEqual(old.Name, leader.Name);
            // Asynchronous replication: a commit the leader acknowledged in the instant before SIGKILL may not have
            // reached any replica (CI lost 1 such write). Patroni promotes only a replica within maximum_lag_on_failover
            // (1 MiB here); each write is one small INSERT, well under 1 KiB of WAL.
            Assert.True(report.LostAcknowledged * 1024L <= 1_048_576, $"{report.LostAcknowledged} acknowledged writes lost: more than the 1 MiB lag limit allows");
            Assert.True(report.LongestOutage > TimeSpan.Zero, "a crash of the leader must interrupt writes");
            var line = string.Create(CultureInfo.InvariantCulture,
                $"BASELINE primary-crash (Patroni alone, ttl {lab.Manifest.Ha.Ttl} / loop_wait {lab.Manifest.Ha.LoopWait} / retry_timeout {lab.Manifest.Ha.RetryTimeout}): " +
                $"write outage {report.LongestOutage.TotalSeconds:0.00} s, {report.Failed} failed of {report.Attempts} writes, lost acknowledged writes {report.LostAcknowledged}, new leader {leader.Name}");
            TestContext.Current.TestOutputHelper?.WriteLine(line);
            await Console.Error.WriteLineAsync(line);
            await File.AppendAllTextAsync(Path.Combine(lab.Manifest.FaultsDir, "baseline.txt"), $"{TimeProvider.System.GetUtcNow():O} {line}\n", Ct);
        }
        finally
        {
            await HealAsync(lab, "primary-crash");
        }

        await AssertMemberStreamingAsync(lab, old.Name);
    }

    [Fact]
    public async Task PrimaryFreeze_Leader_ProcessesStoppedAnotherMemberTakesOverHealRejoins()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var old = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "primary-freeze");
        try
        {
            var patroni = lab.Manifest.Services.First(s => s.Kind == "patroni" && s.Member == old.Name);
            var pid = LabProcesses.ReadPidFile(lab.Manifest.PidFile(patroni))!.Value;
            Assert.Equal('T', LabProcesses.State(pid));
            var postmaster = LabProcesses.ReadPidFile(Path.Combine(old.DataDir, "postmaster.pid"))!.Value;
            Assert.Equal('T', LabProcesses.State(postmaster));
            var newLeader = await WaitForAsync(async () =>
            {
                using var cluster = lab.NewCluster();
                var members = await cluster.GetMembersAsync(Ct);
                return members.FirstOrDefault(m => m.Role == "leader" && m.State == "running" && m.Name != old.Name)?.Name;
            }, TimeSpan.FromSeconds(lab.Manifest.Ha.Ttl + 30));
            Assert.NotNull(newLeader);
        }
        finally
        {
            await HealAsync(lab, "primary-freeze");
        }

        await AssertMemberStreamingAsync(lab, old.Name);
    }

    [Fact]
    public async Task DiskFull_Leader_PostgresReportsNoSpaceLeftOnDeviceHealWritesAgain()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-1);
        await InjectAsync(lab, "disk-full");
        try
        {
            // Full but for at most one WAL segment: the segment whose creation failed (xlogtemp) is removed when the
            // PANIC restarts PostgreSQL, which can free up to 16 MiB before this line runs (CI, load 3).
            var free = new DriveInfo(leader.WalMount).AvailableFreeSpace;
            Assert.True(free <= 17L * 1024 * 1024, $"the WAL filesystem is not full: {free} bytes free");
            // Files in name (date) order: a run across midnight has two, and the newest line is in the newest file.
            var line = Directory.EnumerateFiles(leader.LogDir, "postgresql-*.log").Order(StringComparer.Ordinal).SelectMany(File.ReadLines)
                .LastOrDefault(l => l.Contains("No space left on device", StringComparison.Ordinal));
            Assert.NotNull(line);
            Assert.Contains("PANIC", line, StringComparison.Ordinal);
            Assert.True(DateTimeOffset.Parse(line[..19], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) >= since, line);
            await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
            {
                await using var conn = new NpgsqlConnection(lab.ConnectionString(leader));
                await conn.OpenAsync(Ct);
                await using var cmd = new NpgsqlCommand("INSERT INTO pgra_lab_fault (pad) SELECT repeat('x', 500) FROM generate_series(1, 50000)", conn);
                await cmd.ExecuteNonQueryAsync(Ct);
            });
        }
        finally
        {
            await HealAsync(lab, "disk-full");
        }

        await WriteThroughPrimaryServiceAsync(lab);
    }

    [Fact]
    public async Task ArchiveBroken_Leader_ArchiverFailsHealArchivesAgain()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "archive-broken");
        try
        {
            var (_, failed, lastArchived, lastFailed) = await ArchiverAsync(lab, leader);
            Assert.True(failed > 0);
            Assert.True(lastFailed > lastArchived, $"last failed {lastFailed:O} is not after last archived {lastArchived:O}");
        }
        finally
        {
            await HealAsync(lab, "archive-broken");
        }

        var after = await ArchiverAsync(lab, await lab.LeaderAsync(Ct));
        Assert.True(after.LastArchived >= after.LastFailed, "archiving did not resume");
    }

    [Fact]
    public async Task ReplicationStop_Replica_ReplayLagGrowsHealCatchesUp()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var replica = lab.Members.First(m => m.Name != leader.Name);
        await InjectAsync(lab, "replication-stop", replica.Name);
        try
        {
            var lag1 = await ReplayLagAsync(lab, leader, replica.Name);
            await ExecAsync(lab, leader, "INSERT INTO pgra_lab_fault (pad) SELECT repeat('y', 200) FROM generate_series(1, 5000)");
            var lag2 = await WaitForAsync(async () => { var l = await ReplayLagAsync(lab, leader, replica.Name); return l > lag1 ? (long?)l : null; }, TimeSpan.FromSeconds(10));
            Assert.True(lag1 > 0, $"replay lag of {replica.Name} is {lag1}");
            Assert.NotNull(lag2);
        }
        finally
        {
            await HealAsync(lab, "replication-stop");
        }

        var caughtUp = await WaitForAsync(async () => await ReplayLagAsync(lab, leader, replica.Name) == 0 ? "yes" : null, TimeSpan.FromSeconds(30));
        Assert.NotNull(caughtUp);
    }

    [Fact]
    public async Task LockPileup_Leader_WritersWaitOnAnIdleInTransactionBlocker()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "lock-pileup");
        try
        {
            var waiting = await ScalarAsync<long>(lab, leader,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgra-lab-lock-pileup' AND wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0");
            Assert.True(waiting >= 6, $"{waiting} sessions wait on a lock");
            var blockers = await ScalarAsync<long>(lab, leader,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgra-lab-lock-pileup' AND state = 'idle in transaction'");
            Assert.Equal(1, blockers);
        }
        finally
        {
            await HealAsync(lab, "lock-pileup");
        }

        Assert.Equal(0, await ScalarAsync<long>(lab, leader, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgra-lab-lock-pileup'"));
    }

    [Fact]
    public async Task ConnectionStorm_Leader_NewConnectionsRefusedHealAcceptsThem()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "connection-storm");
        try
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(async () =>
            {
                await using var conn = new NpgsqlConnection(lab.ConnectionString(leader, lab.Credentials.App));
                await conn.OpenAsync(Ct);
            });
            Assert.Equal(PostgresErrorCodes.TooManyConnections, ex.SqlState);
        }
        finally
        {
            await HealAsync(lab, "connection-storm");
        }

        await using var ok = new NpgsqlConnection(lab.ConnectionString(leader, lab.Credentials.App));
        await ok.OpenAsync(Ct);
    }

    [Fact]
    public async Task MissingIndex_Leader_HotQuerySeqScansOrdersHealDropsIt()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "missing-index");
        try
        {
            Assert.True(await ScalarAsync<long>(lab, leader, "SELECT count(*) FROM orders") >= 2_000_000);
            var plan = await PlanAsync(lab, leader, "EXPLAIN (FORMAT TEXT) SELECT id FROM orders WHERE user_id = 42 ORDER BY created_at DESC LIMIT 10");
            Assert.Contains("Seq Scan on orders", plan, StringComparison.Ordinal);
            var calls = await WaitForAsync(async () =>
            {
                var n = await ScalarAsync<long>(lab, leader,
                    "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%FROM orders WHERE user_id = $1 ORDER BY created_at DESC%'");
                return n > 0 ? (long?)n : null;
            }, TimeSpan.FromSeconds(20));
            Assert.NotNull(calls);
        }
        finally
        {
            await HealAsync(lab, "missing-index");
        }

        Assert.Null(await ScalarAsync<string?>(lab, leader, "SELECT to_regclass('public.orders')::text"));
    }

    [Fact]
    public async Task LongTransaction_Leader_OldXminKeepsDeadRowsHealVacuumRemovesThem()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        await InjectAsync(lab, "long-transaction");
        try
        {
            Assert.Equal(1, await ScalarAsync<long>(lab, leader,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgra-lab-long-transaction' AND state = 'idle in transaction' AND backend_xmin IS NOT NULL"));
            Assert.Equal(1000, await DeadRowsAfterVacuumAsync(lab, leader));
        }
        finally
        {
            await HealAsync(lab, "long-transaction");
        }

        Assert.Equal(0, await DeadRowsAfterVacuumAsync(lab, leader));
    }

    [Fact]
    public async Task BadConfig_Replica_CannotStartWithTheMissingLibraryHealRestarts()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var leader = await lab.LeaderAsync(Ct);
        var replica = lab.Members.First(m => m.Name != leader.Name);
        await InjectAsync(lab, "bad-config", replica.Name);
        try
        {
            using var cluster = lab.NewCluster();
            var member = (await cluster.GetMembersAsync(Ct)).Single(m => m.Name == replica.Name);
            Assert.DoesNotContain(member.State, new[] { "running", "streaming" });
            await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
            {
                await using var conn = new NpgsqlConnection(lab.ConnectionString(replica));
                await conn.OpenAsync(Ct);
            });
            var log = File.ReadLines(replica.PatroniLog).Concat(Directory.EnumerateFiles(replica.LogDir, "postgresql-*.log").SelectMany(File.ReadLines));
            Assert.Contains(log, l => l.Contains($"could not access file \"{LabFaults.MissingLibrary}\"", StringComparison.Ordinal));
        }
        finally
        {
            await HealAsync(lab, "bad-config");
        }

        await AssertMemberStreamingAsync(lab, replica.Name);
    }

    // ------------------------------------------------------------------ helpers

    private static async Task InjectAsync(LabInfo lab, string scenario, string? member = null)
    {
        string[] args = member is null ? ["lab", "inject", scenario, "--dir", lab.Dir] : ["lab", "inject", scenario, "--member", member, "--dir", lab.Dir];
        var result = await LabCli.RunAsync(args);
        TestContext.Current.TestOutputHelper?.WriteLine(result.All);
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains(LabFaultBook.Active(lab.Manifest), a => a.Scenario == scenario);
        var recorded = LabFaultBook.Journal(lab.Manifest).Last();
        Assert.Equal(("inject", scenario), (recorded.Action, recorded.Scenario));
        Assert.NotEmpty(recorded.Steps);
    }

    private static async Task HealAsync(LabInfo lab, string scenario)
    {
        var result = await LabCli.RunAsync("lab", "heal", scenario, "--dir", lab.Dir);
        TestContext.Current.TestOutputHelper?.WriteLine(result.All);
        Assert.True(result.ExitCode == 0, result.All);
        Assert.DoesNotContain(LabFaultBook.Active(lab.Manifest), a => a.Scenario == scenario);
        using var cluster = lab.NewCluster();
        var (ok, health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.True(ok, health.Describe());
    }

    private static async Task AssertMemberStreamingAsync(LabInfo lab, string name)
    {
        using var cluster = lab.NewCluster();
        var (ok, health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(ok, health.Describe());
        Assert.True(health.Leader == name || health.StreamingReplicas.Contains(name), health.Describe());
    }

    private static async Task WriteThroughPrimaryServiceAsync(LabInfo lab)
    {
        var done = await WaitForAsync(async () =>
        {
            try
            {
                await using var conn = new NpgsqlConnection(lab.PrimaryServiceConnectionString);
                await conn.OpenAsync(Ct);
                await using var cmd = new NpgsqlCommand("SELECT 1", conn);
                await cmd.ExecuteScalarAsync(Ct);
                return "ok";
            }
            catch (NpgsqlException)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(30));
        Assert.NotNull(done);
    }

    private static async Task<(long Archived, long Failed, DateTimeOffset LastArchived, DateTimeOffset LastFailed)> ArchiverAsync(LabInfo lab, LabMember member)
    {
        await using var conn = new NpgsqlConnection(lab.ConnectionString(member));
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand("SELECT archived_count, failed_count, coalesce(last_archived_time, 'epoch'), coalesce(last_failed_time, 'epoch') FROM pg_stat_archiver", conn);
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        await r.ReadAsync(Ct);
        return (r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3));
    }

    private static Task<long> ReplayLagAsync(LabInfo lab, LabMember leader, string replica) =>
        ScalarAsync<long>(lab, leader, $"SELECT coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication WHERE application_name = '{replica}'), -1)");

    private static async Task<long> DeadRowsAfterVacuumAsync(LabInfo lab, LabMember leader)
    {
        await using var conn = new NpgsqlConnection(lab.ConnectionString(leader));
        await conn.OpenAsync(Ct);
        foreach (var sql in new[]
        {
            "CREATE TABLE IF NOT EXISTS pgra_lab_vacuum (id int)", "TRUNCATE pgra_lab_vacuum",
            "INSERT INTO pgra_lab_vacuum SELECT generate_series(1, 1000)", "DELETE FROM pgra_lab_vacuum", "VACUUM pgra_lab_vacuum",
        })
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync(Ct);
        }

        await using var dead = new NpgsqlCommand("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'pgra_lab_vacuum'", conn);
        return (long)(await dead.ExecuteScalarAsync(Ct))!;
    }

    private static async Task ExecAsync(LabInfo lab, LabMember member, string sql)
    {
        await using var conn = new NpgsqlConnection(lab.ConnectionString(member));
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<string> PlanAsync(LabInfo lab, LabMember member, string sql)
    {
        await using var conn = new NpgsqlConnection(lab.ConnectionString(member));
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync(Ct);
        var lines = new List<string>();
        while (await reader.ReadAsync(Ct))
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join('\n', lines);
    }

    private static async Task<T> ScalarAsync<T>(LabInfo lab, LabMember member, string sql)
    {
        await using var conn = new NpgsqlConnection(lab.ConnectionString(member));
        await conn.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync(Ct);
        return value is DBNull or null ? default! : (T)value;
    }

    private static async Task<T?> WaitForAsync<T>(Func<Task<T?>> probe, TimeSpan timeout)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(started) < timeout)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(250, Ct);
        }

        return default;
    }
}
