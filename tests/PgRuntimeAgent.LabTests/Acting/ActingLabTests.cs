using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// The action pipeline against the real lab, through pgra: switchover and undo, a configuration change and its exact
/// undo, the lag guardrail refusing a failover to a replica whose replay is paused, an approval, a pgra killed in the
/// middle of a switchover, fencing, and CREATE INDEX CONCURRENTLY. Run destructive lab tests under
/// <c>flock /work/notes/lab.lock</c> when several people share the lab. Each test puts the leader back.
/// </summary>
public sealed class ActingLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Str(JsonElement e, params string[] path)
    {
        foreach (var p in path)
        {
            e = e.GetProperty(p);
        }

        return e.ValueKind == JsonValueKind.String ? e.GetString()! : e.ToString();
    }

    [Fact]
    public async Task Switchover_ThroughPgra_LeaderMovesVerifiedJournaledAndUndoMovesItBack()
    {
        await using var lab = await ActingLab.StartAsync();
        var before = await lab.LeaderAsync();
        var timeline = await lab.TimelineAsync();

        var run = await lab.PgraAsync("switchover", lab.Lab.Cluster, "--json", "--reason", "lab test");

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        var id = Str(json, "action", "id");
        var candidate = Str(json, "action", "parameters", "candidate");
        Assert.Equal("succeeded", Str(json, "status"));
        Assert.Equal("verified", Str(json, "verification", "status"));
        Assert.Equal(before, Str(json, "action", "parameters", "leader"));
        Assert.NotEqual(before, candidate);
        Assert.Equal(candidate, await lab.LeaderAsync());
        Assert.True(await lab.WaitTimelineAboveAsync(timeline), "Patroni's /cluster never showed a newer timeline");
        ActingLab.Report($"switchover {before} -> {candidate} through pgra: {json.GetProperty("elapsedSeconds").GetDouble():0.00} s, verified {Str(json, "verification", "evidence", "seconds_since_execute")} s after the request");

        var entries = await lab.JournalAsync(id);
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome], entries.Select(e => e.Kind));
        var outcome = entries[^1].PayloadAs<OutcomePayload>()!;
        Assert.Equal(ActionOutcomeStatus.Succeeded, outcome.Status);
        Assert.Equal(candidate, outcome.Undo?.Parameter(ActionParameters.Leader));
        Assert.Equal(before, outcome.Undo?.Parameter(ActionParameters.Candidate));

        var text = await lab.PgraAsync("journal", "show", id);
        Assert.Contains("action.intent", text.Out, StringComparison.Ordinal);

        // The old leader rejoins as a streaming replica, and catches up, before the undo's prechecks can pass.
        await lab.WaitCaughtUpAsync();
        var undo = await lab.PgraAsync("undo", id, "--json");

        Assert.True(undo.ExitCode == 0, undo.ToString());
        Assert.Equal("succeeded", Str(undo.Json(), "status"));
        Assert.Equal(id, Str(undo.Json(), "action", "undoOf"));
        Assert.Equal(before, await lab.LeaderAsync());
        var again = await lab.PgraAsync("undo", id);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already undone", again.Error, StringComparison.Ordinal);
        Assert.Equal(0, (await lab.PgraAsync("journal", "verify")).ExitCode);
        await lab.AssertNoSecretsInJournalAsync();
    }

    [Fact]
    public async Task ConfigSet_AppliedOnEveryMemberAndUndoneExactly()
    {
        await using var lab = await ActingLab.StartAsync();
        var original = await lab.ConfigAsync(lab.Lab.Members[0]);
        var parameters = original["postgresql"]?["parameters"]?.AsObject();
        Assert.NotNull(parameters);
        Assert.False(parameters.ContainsKey("work_mem"), "the test adds a parameter the cluster configuration does not set");
        var deadlockBefore = new Dictionary<string, object?>();
        var workMemBefore = new Dictionary<string, object?>();
        foreach (var m in lab.Lab.Members)
        {
            deadlockBefore[m.Name] = await lab.SqlAsync(m, "select current_setting('deadlock_timeout')");
            workMemBefore[m.Name] = await lab.SqlAsync(m, "select current_setting('work_mem')");
        }

        try
        {
            // A parameter the member's own patroni.yml sets cannot be changed through the cluster configuration.
            var local = await lab.PgraAsync("config", "set", lab.Lab.Cluster, "log_min_duration_statement=250ms", "--dry-run");
            Assert.Equal(1, local.ExitCode);
            Assert.Contains("FAIL parameter log_min_duration_statement", local.Out, StringComparison.Ordinal);
            Assert.Contains("own Patroni configuration", local.Out, StringComparison.Ordinal);

            var run = await lab.PgraAsync("config", "set", lab.Lab.Cluster, "work_mem=6MB", "deadlock_timeout=2s", "--json");

            Assert.True(run.ExitCode == 0, run.ToString());
            var json = run.Json();
            Assert.Equal("succeeded", Str(json, "status"));
            Assert.Contains("applied on all 3 members", Str(json, "verification", "message"), StringComparison.Ordinal);
            foreach (var m in lab.Lab.Members)
            {
                Assert.Equal("6MB", await lab.SqlAsync(m, "select current_setting('work_mem')"));
                Assert.Equal("2s", await lab.SqlAsync(m, "select current_setting('deadlock_timeout')"));
                Assert.Equal("6MB", (await lab.ConfigAsync(m))["postgresql"]!["parameters"]!["work_mem"]!.GetValue<string>());
            }

            var undo = await lab.PgraAsync("undo", Str(json, "action", "id"), "--json");

            Assert.True(undo.ExitCode == 0, undo.ToString());
            Assert.Equal("succeeded", Str(undo.Json(), "status"));
            foreach (var m in lab.Lab.Members)
            {
                var after = await lab.ConfigAsync(m);
                Assert.True(JsonNode.DeepEquals(original, after), $"{m.Name}: {original.ToJsonString()} != {after.ToJsonString()}");
                Assert.Equal(deadlockBefore[m.Name], await lab.SqlAsync(m, "select current_setting('deadlock_timeout')"));
                Assert.Equal(workMemBefore[m.Name], await lab.SqlAsync(m, "select current_setting('work_mem')"));
            }

            await lab.AssertNoSecretsInJournalAsync();
        }
        finally
        {
            var now = await lab.ConfigAsync(lab.Lab.Members[0]);
            if (!JsonNode.DeepEquals(original, now))
            {
                await lab.PatchConfigAsync(new JsonObject
                {
                    ["postgresql"] = new JsonObject
                    {
                        ["parameters"] = new JsonObject
                        {
                            ["work_mem"] = null,
                            ["deadlock_timeout"] = parameters["deadlock_timeout"]?.DeepClone(),
                        },
                    },
                });
            }
        }
    }

    [Fact]
    public async Task Failover_ToCandidateWhoseReplayIsStopped_RefusedByTheLagGuardrailWithTheReason()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = lab.Lab.Member(await lab.LeaderAsync());
        var candidate = lab.Lab.Members.First(m => m.Name != leader.Name);
        var timeline = await lab.TimelineAsync();
        try
        {
            // Patroni 3.0 resumes a replay paused with pg_wal_replay_pause() at its next loop, so the lab's fault
            // freezes the replica's startup process instead and writes on the leader: WAL arrives (Patroni calls the
            // replica caught up) but is not replayed.
            var inject = await lab.PgraAsync("lab", "inject", "replication-stop", "--member", candidate.Name);
            Assert.True(inject.ExitCode == 0, inject.ToString());
            await lab.SqlAsync(leader, "create table pgra_lag_probe as select g, repeat('x', 900) as pad from generate_series(1, 4000) g");
            var current = (string)(await lab.SqlAsync(leader, "select pg_current_wal_lsn()::text"))!;
            var behind = Convert.ToInt64(await lab.SqlAsync(candidate, "select pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::int8", [current]), CultureInfo.InvariantCulture);
            Assert.True(behind > 2 * 1024 * 1024, $"replay is only {behind} bytes behind");

            var run = await lab.PgraAsync("failover", lab.Lab.Cluster, "--to", candidate.Name, "--json");

            Assert.True(run.ExitCode == 1, run.ToString());
            var json = run.Json();
            Assert.Equal("refused", Str(json, "status"));
            var reasons = json.GetProperty("decision").GetProperty("reasons").EnumerateArray().ToList();
            var lag = reasons.Single(r => Str(r, "code") == "lag-limit");
            Assert.True(lag.GetProperty("blocking").GetBoolean());
            Assert.Matches($@"candidate {candidate.Name} lags \d+ bytes, past the limit of 1048576 bytes", Str(lag, "message"));
            ActingLab.Report($"refused: {Str(lag, "message")} (replay {behind} bytes behind)");
            var text = await lab.PgraAsync("failover", lab.Lab.Cluster, "--to", candidate.Name);
            Assert.Equal(1, text.ExitCode);
            Assert.Contains($"BLOCKED lag-limit: candidate {candidate.Name} lags", text.Out, StringComparison.Ordinal);
            Assert.Equal(leader.Name, await lab.LeaderAsync());
            Assert.Equal(timeline, await lab.TimelineAsync());
            Assert.DoesNotContain(await lab.JournalAsync(), e => e.Kind == JournalKinds.ActionIntent);
        }
        finally
        {
            await lab.PgraAsync("lab", "heal", "replication-stop");
            await lab.SqlAsync(leader, "drop table if exists pgra_lag_probe");
        }
    }

    [Fact]
    public async Task Switchover_AboveTheAutonomyLevel_WaitsAndRunsOnlyAfterApprove()
    {
        await using var lab = await ActingLab.StartAsync("four_eyes: true\nclasses: { patroni.switchover: 2 }");
        var before = await lab.LeaderAsync();

        var run = await lab.PgraAsync("switchover", lab.Lab.Cluster, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        var id = Str(json, "action", "id");
        Assert.Equal("awaiting-approval", Str(json, "status"));
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        Assert.Equal(before, await lab.LeaderAsync());
        var pending = (await lab.PgraAsync("approvals", "--json")).Json();
        Assert.Equal(id, Str(pending[0], "id"));
        Assert.Equal("pending", Str(pending[0], "status"));
        Assert.DoesNotContain(await lab.JournalAsync(id), e => e.Kind == JournalKinds.ActionIntent);

        var approve = await lab.PgraAsync("approve", id, "--note", "lab test", "--json");

        Assert.True(approve.ExitCode == 0, approve.ToString());
        Assert.Contains("\"status\": \"succeeded\"", approve.Out, StringComparison.Ordinal);
        Assert.Equal(Str(json, "action", "parameters", "candidate"), await lab.LeaderAsync());
        var kinds = (await lab.JournalAsync(id)).Select(e => e.Kind).ToList();
        Assert.Equal([JournalKinds.Decision, JournalKinds.ApprovalRequested, JournalKinds.ApprovalGranted, JournalKinds.Decision,
            JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome], kinds);
    }

    /// <summary>
    /// pgra is SIGKILLed in the middle of a switchover: right after the intent is journaled (before the request), or
    /// once the leader's Patroni has logged the request (Patroni goes on without pgra). Either way the next pgra
    /// settles the intent once, with the outcome the cluster shows, and nothing runs twice.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Switchover_PgraKilledMidAction_ReconciledOnceNoSecondSwitchover(bool afterPatroniGotTheRequest)
    {
        await using var lab = await ActingLab.StartAsync();
        var before = await lab.LeaderAsync();
        var candidate = lab.Lab.Members.First(m => m.Name != before).Name;
        var history = await lab.HistoryCountAsync();
        var timeline = await lab.TimelineAsync();
        var patroniLog = lab.Lab.Member(before).PatroniLog;
        var requestsBefore = CountRequests(patroniLog);

        var pgra = typeof(CliApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { pgra, "-i", lab.Lab.InventoryPath, "--settings", lab.SettingsPath, "switchover", lab.Lab.Cluster, "--to", candidate },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var child = Process.Start(start)!;
        var killed = false;
        var started = TimeProvider.System.GetTimestamp();
        while (!child.HasExited && TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(60))
        {
            if (await lab.CountIntentsAsync() > 0 && (!afterPatroniGotTheRequest || CountRequests(patroniLog) > requestsBefore))
            {
                child.Kill();
                killed = true;
                break;
            }

            await Task.Delay(10, Ct);
        }

        await child.WaitForExitAsync(Ct);
        Assert.True(killed, $"pgra finished before it could be killed: {await child.StandardOutput.ReadToEndAsync(Ct)} {await child.StandardError.ReadToEndAsync(Ct)}");
        Assert.NotEqual(0, child.ExitCode);
        Assert.DoesNotContain(await lab.JournalAsync(), e => e.Kind == JournalKinds.ActionOutcome);

        var reconcile = await lab.PgraAsync("reconcile", lab.Lab.Cluster, "--json");

        Assert.True(reconcile.ExitCode == 0, reconcile.ToString());
        var report = Assert.Single(reconcile.Json().EnumerateArray());
        var result = Str(report, "result");
        ActingLab.Report($"killed {(afterPatroniGotTheRequest ? "after Patroni got the request" : "right after the intent")}; reconciled as {result}: {Str(report, "message")}");
        var entries = await lab.JournalAsync(Str(report, "actionId"));
        Assert.Single(entries, e => e.Kind == JournalKinds.ActionIntent);
        var outcome = Assert.Single(entries, e => e.Kind == JournalKinds.ActionOutcome).PayloadAs<OutcomePayload>()!;
        Assert.True(outcome.Reconciled);
        Assert.Equal(0, (await lab.PgraAsync("journal", "verify")).ExitCode);
        Assert.Contains("no open intents", (await lab.PgraAsync("reconcile")).Out, StringComparison.Ordinal);

        await Task.Delay(TimeSpan.FromSeconds(5), Ct);
        if (afterPatroniGotTheRequest)
        {
            Assert.Equal("succeeded", result);
        }

        if (result == "succeeded")
        {
            Assert.Equal(candidate, await lab.LeaderAsync());
            Assert.True(await lab.WaitTimelineAboveAsync(timeline));
            Assert.Equal(timeline + 1, await lab.TimelineAsync());
            Assert.Equal(history + 1, await lab.HistoryCountAsync());
            Assert.NotNull(outcome.Undo);
            var repeat = await lab.PgraAsync("switchover", lab.Lab.Cluster, "--to", candidate);
            Assert.Equal(2, repeat.ExitCode);
            Assert.Contains("already the leader", repeat.Error, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("not-executed", result);
            Assert.Equal(before, await lab.LeaderAsync());
            Assert.Equal(timeline, await lab.TimelineAsync());
            Assert.Equal(history, await lab.HistoryCountAsync());
        }

        Assert.Equal(requestsBefore + (result == "succeeded" ? 1 : 0), CountRequests(patroniLog));
    }

    /// <summary>How many switchover requests a member's Patroni has logged.</summary>
    private static int CountRequests(string patroniLog)
    {
        using var stream = new FileStream(patroniLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains("received switchover request", StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    [Fact]
    public async Task CreateIndexConcurrently_BuiltVerifiedFailedBuildCleanedAndUndone()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = lab.Lab.Member(await lab.LeaderAsync());
        const string table = "pgra act \"items\"";
        const string quoted = "\"pgra act \"\"items\"\"\"";
        try
        {
            await lab.SqlAsync(leader, $"drop table if exists {quoted}; create table {quoted} (id int, \"Customer Id\" int); insert into {quoted} select g, g % 10 from generate_series(1, 20000) g", "postgres");

            var run = await lab.PgraAsync("act", "sql.create_index", lab.Lab.Cluster, "--param", $"table={table}",
                "--param", "columns=Customer Id,id", "--param", "index=pgra_items_customer", "--json");

            Assert.True(run.ExitCode == 0, run.ToString());
            var json = run.Json();
            Assert.Equal("succeeded", Str(json, "status"));
            Assert.Contains("is valid and ready", Str(json, "verification", "message"), StringComparison.Ordinal);
            Assert.Equal(true, await lab.SqlAsync(leader, "select indisvalid from pg_index where indexrelid = 'public.pgra_items_customer'::regclass", "postgres"));

            // A unique build over duplicates fails and leaves an INVALID index: pgra drops it.
            var failed = await lab.PgraAsync("act", "sql.create_index", lab.Lab.Cluster, "--param", $"table={table}",
                "--param", "columns=Customer Id", "--param", "index=pgra_items_unique", "--param", "unique=true", "--json");

            Assert.Equal(1, failed.ExitCode);
            Assert.Equal("execute-failed", Str(failed.Json(), "status"));
            Assert.Contains("23505", Str(failed.Json(), "message"), StringComparison.Ordinal);
            Assert.Contains("was dropped", Str(failed.Json(), "message"), StringComparison.Ordinal);
            Assert.Null(await lab.SqlAsync(leader, "select to_regclass('public.pgra_items_unique')::text", "postgres"));

            var undo = await lab.PgraAsync("undo", Str(json, "action", "id"), "--json");

            Assert.True(undo.ExitCode == 0, undo.ToString());
            Assert.Equal("sql.drop_index", Str(undo.Json(), "action", "kind"));
            Assert.Equal("succeeded", Str(undo.Json(), "status"));
            Assert.Null(await lab.SqlAsync(leader, "select to_regclass('public.pgra_items_customer')::text", "postgres"));
            await lab.AssertNoSecretsInJournalAsync();
        }
        finally
        {
            await lab.SqlAsync(leader, $"drop table if exists {quoted}", "postgres");
        }
    }

    [Fact]
    public async Task Fence_Replica_KilledVerifiedBySensingThenRestarted()
    {
        await using var lab = await ActingLab.StartAsync();
        var leader = await lab.LeaderAsync();
        var victim = lab.Lab.Members.Last(m => m.Name != leader);
        try
        {
            var run = await lab.PgraAsync("act", "member.fence", lab.Lab.Cluster, "--member", victim.Name, "--json");

            Assert.True(run.ExitCode == 0, run.ToString());
            var json = run.Json();
            Assert.Equal("succeeded", Str(json, "status"));
            Assert.False(json.GetProperty("action").GetProperty("reversible").GetBoolean());
            Assert.Contains($"{victim.Name} is fenced", Str(json, "verification", "message"), StringComparison.Ordinal);
            Assert.NotEqual("none", Str(json, "execution", "details", "patroni_pids"));
            Assert.NotEqual("none", Str(json, "execution", "details", "postgres_pids"));
            Assert.Equal(leader, await lab.LeaderAsync());
            var undo = await lab.PgraAsync("undo", Str(json, "action", "id"));
            Assert.Equal(2, undo.ExitCode);
            Assert.Contains("irreversible", undo.Error, StringComparison.Ordinal);
        }
        finally
        {
            var start = await CliWrap.Cli.Wrap(Path.Combine(lab.Lab.Dir, "bin", $"start-{victim.Name}.sh"))
                .WithArguments([$"{victim.Name}-patroni"])
                .WithValidation(CliWrap.CommandResultValidation.None)
                .ExecuteAsync(Ct);
            Assert.True(start.ExitCode is 0 or 1, $"could not restart {victim.Name}'s Patroni");
            await lab.WaitHealthyAsync(TimeSpan.FromSeconds(120));
        }
    }
}
