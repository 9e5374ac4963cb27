using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CliWrap.Buffered;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// patroni.reinit, sql.checkpoint and backup.run through <c>pgra act</c> against the real lab: a replica rebuilt
/// from the leader streams again, a CHECKPOINT moves pg_control's checkpoint LSN, a differential backup shows up in
/// <c>pgbackrest info</c>. Run them under <c>flock /work/notes/lab.lock</c>; each leaves the lab healthy.
/// </summary>
public sealed class MaintenanceActionsLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Where these tests append their measured figures (artifacts/lab-figures/maintenance.log; CI keeps artifacts/).</summary>
    private static string FiguresFile { get; } = Path.Combine(RepoPaths.Root, "artifacts", "lab-figures", "maintenance.log");

    private static void Figure(string line)
    {
        ActingLab.Report(line);
        Directory.CreateDirectory(Path.GetDirectoryName(FiguresFile)!);
        File.AppendAllText(FiguresFile, $"{TimeProvider.System.GetUtcNow():u} {line}\n");
    }

    private static string Str(JsonElement e, params string[] path)
    {
        foreach (var p in path)
        {
            e = e.GetProperty(p);
        }

        return e.ValueKind == JsonValueKind.String ? e.GetString()! : e.ToString();
    }

    private static async Task AssertJournaledAsync(ActingLab lab, string id)
    {
        var entries = await lab.JournalAsync(id);
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome], entries.Select(e => e.Kind));
        Assert.Equal(ActionOutcomeStatus.Succeeded, entries[^1].PayloadAs<OutcomePayload>()!.Status);
        Assert.Equal(0, (await lab.PgraAsync("journal", "verify")).ExitCode);
    }

    [Fact]
    public async Task Reinit_Replica_RebuiltAndStreamingFromTheLeaderAgain()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = lab.Lab.Member(await lab.LeaderAsync());
        var replica = lab.Lab.Members.Last(m => m.Name != leader.Name);
        var startedBefore = (DateTime)(await lab.SqlAsync(replica, "select pg_postmaster_start_time()"))!;

        var clock = Stopwatch.StartNew();
        var run = await lab.PgraAsync("act", "patroni.reinit", lab.Lab.Cluster, "--member", replica.Name, "--json", "--reason", "lab test: rebuild a replica");
        clock.Stop();

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        Assert.Equal("succeeded", Str(json, "status"));
        Assert.Equal("verified", Str(json, "verification", "status"));
        Assert.Equal("True", Str(json, "action", "lossBounded"));
        Assert.Contains($"{replica.Name} was rebuilt: a replica streaming from {leader.Name}", Str(json, "verification", "message"), StringComparison.Ordinal);

        // The rebuilt replica runs a new postmaster and replays what the leader writes now.
        var startedAfter = (DateTime)(await lab.SqlAsync(replica, "select pg_postmaster_start_time()"))!;
        Assert.True(startedAfter > startedBefore, $"postmaster started {startedAfter:O}, before the rebuild {startedBefore:O}");
        var streaming = await lab.SqlAsync(leader, "select count(*) from pg_stat_replication where application_name = $1 and state = 'streaming'", [replica.Name]);
        Assert.Equal(1L, streaming);
        var marker = "reinit-" + Guid.NewGuid().ToString("N");
        await lab.SqlAsync(leader, "create table if not exists pgra_lab_reinit_marker (v text)", []);
        await lab.SqlAsync(leader, "insert into pgra_lab_reinit_marker values ($1)", [marker]);
        var seen = false;
        for (var i = 0; i < 60 && !seen; i++)
        {
            try
            {
                seen = (long)(await lab.SqlAsync(replica, "select count(*) from pgra_lab_reinit_marker where v = $1", [marker]))! == 1;
            }
            catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.UndefinedTable)
            {
                // The replica has not replayed the CREATE TABLE yet.
            }

            if (!seen)
            {
                await Task.Delay(250, Ct);
            }
        }

        Assert.True(seen, $"{replica.Name} did not replay a row written on {leader.Name} after the rebuild");
        await lab.SqlAsync(leader, "drop table pgra_lab_reinit_marker", []);
        await AssertJournaledAsync(lab, Str(json, "action", "id"));
        Figure(string.Create(CultureInfo.InvariantCulture,
            $"patroni.reinit of {replica.Name}: pgra act {clock.Elapsed.TotalSeconds:0.00} s end to end, verified {Str(json, "verification", "evidence", "seconds_since_execute")} s after POST /reinitialize: {Str(json, "verification", "message")}"));
        await lab.WaitHealthyAsync();
    }

    [Fact]
    public async Task Reinit_TheLeader_RefusedByThePrecheck()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = await lab.LeaderAsync();

        var run = await lab.PgraAsync("act", "patroni.reinit", lab.Lab.Cluster, "--member", leader, "--json");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("precheck-failed", Str(run.Json(), "status"));
        Assert.Contains($"{leader} is the leader", run.Out, StringComparison.Ordinal);
        Assert.Equal(leader, await lab.LeaderAsync());
    }

    [Fact]
    public async Task Checkpoint_Leader_CheckpointLsnMoves()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = lab.Lab.Member(await lab.LeaderAsync());
        var before = (string)(await lab.SqlAsync(leader, "select checkpoint_lsn::text from pg_control_checkpoint()"))!;

        var run = await lab.PgraAsync("act", "sql.checkpoint", lab.Lab.Cluster, "--json", "--reason", "lab test: checkpoint");

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        Assert.Equal("succeeded", Str(json, "status"));
        Assert.Equal("verified", Str(json, "verification", "status"));
        var after = (string)(await lab.SqlAsync(leader, "select checkpoint_lsn::text from pg_control_checkpoint()"))!;
        Assert.True((bool)(await lab.SqlAsync(leader, "select $1::pg_lsn > $2::pg_lsn", [after, before]))!, $"checkpoint LSN {after} is not past {before}");
        Assert.Equal(before, Str(json, "execution", "details", "checkpoint_lsn_before"));
        Assert.Equal(leader.Name, Str(json, "execution", "details", "member"));
        await AssertJournaledAsync(lab, Str(json, "action", "id"));
        Figure($"sql.checkpoint on {leader.Name}: checkpoint LSN {before} -> {after}, CHECKPOINT took {Str(json, "execution", "details", "checkpoint_seconds")} s");
    }

    [Fact]
    public async Task BackupRun_Diff_NewLabelInPgbackrestInfo()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = await lab.LeaderAsync();

        var clock = Stopwatch.StartNew();
        var run = await lab.PgraAsync("act", "backup.run", lab.Lab.Cluster, "--member", leader, "--param", "type=diff", "--param", $"stanza={lab.Lab.Cluster}", "--json",
            "--reason", "lab test: diff backup");
        clock.Stop();

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        Assert.Equal("succeeded", Str(json, "status"));
        Assert.Equal("verified", Str(json, "verification", "status"));
        var label = Str(json, "verification", "evidence", "label");
        Assert.Equal("diff", Str(json, "verification", "evidence", "type"));
        Assert.DoesNotContain(label, Str(json, "execution", "details", "labels_before").Split(','));

        // pgbackrest info, run here independently of pgra, lists it.
        var info = await CliWrap.Cli.Wrap("runuser")
            .WithArguments(["-u", "postgres", "--", "pgbackrest", $"--config={Path.Combine(lab.Lab.Dir, "pgbackrest", "pgbackrest.conf")}", $"--stanza={lab.Lab.Cluster}", "info", "--output=json"])
            .ExecuteBufferedAsync(Ct);
        using var doc = JsonDocument.Parse(info.StandardOutput);
        var backup = doc.RootElement[0].GetProperty("backup").EnumerateArray().Single(b => b.GetProperty("label").GetString() == label);
        Assert.Equal("diff", backup.GetProperty("type").GetString());
        Assert.False(backup.GetProperty("error").GetBoolean());
        await AssertJournaledAsync(lab, Str(json, "action", "id"));
        await lab.AssertNoSecretsInJournalAsync();
        Figure(string.Create(CultureInfo.InvariantCulture,
            $"backup.run diff on {leader}: {label}, pgbackrest ran {Str(json, "execution", "details", "duration_seconds")} s, pgra act {clock.Elapsed.TotalSeconds:0.00} s end to end"));
    }
}
