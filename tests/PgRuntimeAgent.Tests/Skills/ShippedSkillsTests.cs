using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>The skills under skills/ lint clean and decide as an operator would on recorded-shape snapshots.</summary>
public sealed class ShippedSkillsTests
{
    private static readonly string[] Shipped =
        ["archive-failure", "backup-stale", "config-broken", "connection-saturation", "deposed-primary", "index-hygiene", "inventory-drift", "lock-pileup",
         "long-transaction", "missing-index", "planned-switchover", "primary-failure", "replication-lag", "vacuum-lag", "wraparound"];

    private static string Actions(ScriptedSkillHost host) =>
        string.Join(" ", host.Requests.Select(r => $"{r.ActionClass}{r.Parameters.GetRawText()}"));

    [Fact]
    public void Lint_ShippedSkills_HaveNoErrorsOrWarnings()
    {
        var catalog = SkillCatalog.Load(SkillTestKit.SkillsDirectory);

        Assert.True(catalog.Diagnostics.Count == 0, string.Join(Environment.NewLine, catalog.Diagnostics));
        Assert.Equal(Shipped, catalog.Skills.Select(s => s.Name));
        Assert.All(catalog.Skills, s => Assert.NotEmpty(s.Steps));
    }

    // ------------------------------------------------------------------ primary-failure

    private static SnapshotBuilder AfterFence() =>
        SnapshotBuilder.Healthy().FrozenLeader().Leader(null)
            .MemberSet("pg-test-1", "reachable", false).MemberSet("pg-test-1", "patroni_state", "stopped").MemberSet("pg-test-1", "patroni_role", "unknown");

    [Theory]
    [InlineData("primary-frozen")]
    [InlineData("primary-disk-full")]
    [InlineData("primary-down-holding-lock")]
    public async Task PrimaryFailure_LeaderCannotServeAndPatroniHoldsTheKey_FencesThenFailsOverToLeastLag(string code)
    {
        var initial = code == "primary-disk-full"
            ? SnapshotBuilder.Healthy().MemberSet("pg-test-1", "in_recovery", true).MemberSet("pg-test-1", "patroni_state", "starting")
            : SnapshotBuilder.Healthy().FrozenLeader();
        var host = new ScriptedSkillHost(initial.Build())
            .AfterAction(AfterFence().Build(), 1)
            .AfterAction(SnapshotBuilder.Healthy().FailedOverTo("pg-test-3").Build(), 2);

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger(code));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""member.fence{"member":"pg-test-1"} patroni.failover{"candidate":"pg-test-3","leader":"pg-test-1"}""", Actions(host));
        Assert.Contains("misses 0 bytes of the last writable leader's WAL (limit 1048576)", host.Requests[1].Reason, StringComparison.Ordinal);
        Assert.Equal(
            "old_primary:Passed lag_limit:Passed already_failed_over:Failed still_failing:Passed survivors_visible:Passed wait_for_patroni:Skipped pick_candidate:Passed " +
            "fence_old_primary:Succeeded failover:Succeeded verify_new_leader:Passed verify_replicas:Passed restored:Recorded follow_ups:Recorded",
            SkillTestKit.Steps(run));
        Assert.Equal("Writes restored on pg-test-3 (timeline 2); pg-test-1 is out of the cluster.", host.Notes[0].Text);
        Assert.Equal(SkillRecordKinds.FollowUp, host.Notes[1].Kind);
        Assert.Contains("Rebuild pg-test-1 as a replica of pg-test-3", host.Notes[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_LeaderServesButNoLongerRenewsTheKey_FencesItThenFailsOver()
    {
        // leader-not-renewing: pg-test-1 answers and takes writes, but etcd's lease on its key shows missed renewals.
        var initial = SnapshotBuilder.Healthy().Set("patroni.dcs", new JsonObject
        {
            ["read"] = true,
            ["holder"] = "pg-test-1",
            ["lease_remaining_seconds"] = 9,
            ["lease_granted_seconds"] = 30,
            ["renewal_overdue"] = true,
        });
        var host = new ScriptedSkillHost(initial.Build())
            .AfterAction(AfterFence().Build(), 1)
            .AfterAction(SnapshotBuilder.Healthy().FailedOverTo("pg-test-3").Build(), 2);

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-not-renewing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""member.fence{"member":"pg-test-1"} patroni.failover{"candidate":"pg-test-3","leader":"pg-test-1"}""", Actions(host));
        Assert.Contains("still_failing:Passed", SkillTestKit.Steps(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_LeaseRenewedAgainBeforeTheRun_DoesNotTouchTheLeader()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Set("patroni.dcs", new JsonObject { ["read"] = true, ["holder"] = "pg-test-1", ["renewal_overdue"] = false }).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-not-renewing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task PrimaryFailure_LeaderAcceptsWritesAgain_DoesNotTouchIt()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal("pg-test-1 holds the leader key and accepts writes again (primary-frozen no longer holds): nothing to do.", host.Notes.Single().Text);
    }

    [Fact]
    public async Task PrimaryFailure_PatroniAlreadyFailedOver_VerifiesAndRecordsWithoutActing()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-missing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal("old_primary:Passed lag_limit:Passed already_failed_over:Passed verify_new_leader:Passed verify_replicas:Passed restored:Recorded follow_ups:Recorded",
            SkillTestKit.Steps(run));
        Assert.StartsWith("Writes restored on pg-test-2", host.Notes[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_NewLeaderNotYetConfirmedWritable_NeverFailsOverAwayFromIt()
    {
        var promoting = SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").MemberSet("pg-test-2", "in_recovery", null);
        var host = new ScriptedSkillHost(promoting.Build()).At(TimeSpan.FromSeconds(3), SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-missing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal(4, run.Steps.Single(s => s.StepId == "verify_new_leader").Polls);
    }

    [Fact]
    public async Task PrimaryFailure_KeyExpiredAndPatroniElectsWithinTtl_OnlyWaitsAndVerifies()
    {
        var leaderless = AfterFence().Build();
        var host = new ScriptedSkillHost(leaderless).At(TimeSpan.FromSeconds(9), SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-missing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        var wait = run.Steps.Single(s => s.StepId == "wait_for_patroni");
        Assert.Equal(SkillStepStatus.Passed, wait.Status);
        Assert.Equal(10, wait.Polls);
        Assert.Equal("verify_new_leader", wait.Next);
    }

    [Fact]
    public async Task PrimaryFailure_KeyExpiredAndPatroniDoesNotElect_FailsOverAfterTheWait()
    {
        var host = new ScriptedSkillHost(AfterFence().Build())
            .AfterAction(AfterFence().Build(), 1)
            .AfterAction(SnapshotBuilder.Healthy().FailedOverTo("pg-test-3").Build(), 2);

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("leader-missing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(SkillStepStatus.Failed, run.Steps.Single(s => s.StepId == "wait_for_patroni").Status);
        Assert.Equal(TimeSpan.FromSeconds(35), TimeSpan.FromTicks(host.Delays.Sum(d => d.Ticks)));
        Assert.Equal(["member.fence", "patroni.failover"], host.Requests.Select(r => r.ActionClass));
    }

    [Fact]
    public async Task PrimaryFailure_EveryReplicaPastTheLagLimit_DoesNotActAndSaysWhy()
    {
        var snapshot = SnapshotBuilder.Healthy().FrozenLeader()
            .MemberSet("pg-test-2", "lag_bytes", 5_000_000).MemberSet("pg-test-3", "lag_bytes", 2_000_000);
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        var note = host.Notes.Single();
        Assert.Equal(SkillRecordKinds.FollowUp, note.Kind);
        Assert.Contains("within 1048576 bytes", note.Text, StringComparison.Ordinal);
        Assert.Contains("[\"pg-test-2\",\"streaming\",5000000]", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_NoFailoverTagAndUnknownLag_AreNeverCandidates()
    {
        var snapshot = SnapshotBuilder.Healthy().FrozenLeader().MemberSet("pg-test-3", "no_failover", true);
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"), dryRun: true);

        Assert.Equal("pg-test-2", run.Steps.Single(s => s.StepId == "pick_candidate").Inputs[0].Value.GetString());

        var unknown = SnapshotBuilder.Healthy().FrozenLeader().MemberSet("pg-test-3", "no_failover", true).MemberSet("pg-test-2", "lag_unknown", true);
        var none = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), new ScriptedSkillHost(unknown.Build()), SkillTestKit.Trigger("primary-frozen"), dryRun: true);
        Assert.Equal(SkillStepStatus.Failed, none.Steps.Single(s => s.StepId == "pick_candidate").Status);
        Assert.DoesNotContain(none.Steps, s => s.Kind == SkillStepKind.Action);
    }

    [Fact]
    public async Task PrimaryFailure_FenceAwaitsApproval_StopsBeforeTheFailover()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().FrozenLeader().Build())
        {
            Answer = r => new SkillActionOutcome(SkillActionStatus.PendingApproval, "approval-7", "autonomy 2: patroni/fence needs an approval"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.AwaitingApproval, run.Status);
        Assert.Equal("member.fence", host.Requests.Single().ActionClass);
        Assert.Contains("approval-7", run.Message, StringComparison.Ordinal);
        Assert.Empty(host.Notes);
    }

    [Fact]
    public async Task PrimaryFailure_FenceFails_NeverFailsOver()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().FrozenLeader().Build())
        {
            Answer = r => new SkillActionOutcome(SkillActionStatus.Failed, "j-1", "ssh 10.10.10.11: timed out"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal("member.fence", host.Requests.Single().ActionClass);
        Assert.Contains("not failing over, which could leave two primaries", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_PatroniBlind_DoesNotAct()
    {
        var snapshot = SnapshotBuilder.Healthy().FrozenLeader().MemberSet("pg-test-2", "reachable", false).MemberSet("pg-test-3", "reachable", false);
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("not acting on a guess", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrimaryFailure_DryRun_ShowsTheWholePlan()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().FrozenLeader().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"), dryRun: true);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(["member.fence", "patroni.failover"], host.Requests.Select(r => r.ActionClass));
        Assert.All(host.Requests, r => Assert.True(r.DryRun));
        Assert.Equal([SkillStepStatus.Assumed, SkillStepStatus.Assumed], run.Steps.Where(s => s.Kind == SkillStepKind.Verify).Select(s => s.Status));
        Assert.Empty(host.Notes);
    }

    // ------------------------------------------------------------------ planned-switchover

    private static SnapshotBuilder SwitchedTo(string member) =>
        SnapshotBuilder.Healthy().Leader(member)
            .MemberSet(member, "patroni_role", "leader").MemberSet(member, "in_recovery", false).MemberSet(member, "lag_bytes", null)
            .MemberSet("pg-test-1", "patroni_role", "replica").MemberSet("pg-test-1", "in_recovery", true).MemberSet("pg-test-1", "lag_bytes", 0)
            .Set("timeline", 2);

    [Theory]
    [InlineData(null, "pg-test-3")]
    [InlineData("pg-test-2", "pg-test-2")]
    public async Task PlannedSwitchover_HealthyCluster_SwitchesToTheRequestedOrBestReplica(string? to, string expected)
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Build()).AfterAction(SwitchedTo(expected).Build());
        var parameters = to is null ? (JsonElement?)null : SkillTestKit.Json($$"""{"to":"{{to}}"}""");

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("planned-switchover"), host, parameters: parameters);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal($$"""patroni.switchover{"leader":"pg-test-1","candidate":"{{expected}}"}""", Actions(host));
        Assert.Equal($"Switched pg-test over from pg-test-1 to {expected} (timeline 2); pg-test-1 follows it.", host.Notes[0].Text);
        Assert.Contains("pg_role in /etc/pigsty/pigsty.yml still names pg-test-1", host.Notes[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlannedSwitchover_Paused_StopsWithoutActing()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Set("patroni.paused", true).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("planned-switchover"), host);

        Assert.Equal(SkillRunStatus.Stopped, run.Status);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task PlannedSwitchover_RequestedMemberNotEligible_FailsWithReason()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().MemberSet("pg-test-2", "no_failover", true).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("planned-switchover"), host, parameters: SkillTestKit.Json("""{"to":"pg-test-2"}"""));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("(asked for pg-test-2)", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ replication-lag

    [Fact]
    public async Task ReplicationLag_TransientLag_DrainsWithoutAction()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().MemberSet("pg-test-2", "lag_bytes", 50_000_000).Build())
            .At(TimeSpan.FromSeconds(95), SnapshotBuilder.Healthy().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-lag", "pg-test-2"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal(11, run.Steps.Single(s => s.StepId == "drain").Polls);
        Assert.Contains("within 1048576 bytes again", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicationLag_ReplicaNotStreaming_RestartsItAndVerifies()
    {
        var broken = SnapshotBuilder.Healthy().MemberSet("pg-test-2", "lag_bytes", null).MemberSet("pg-test-2", "lag_unknown", true);
        var host = new ScriptedSkillHost(broken.Build()).AfterAction(SnapshotBuilder.Healthy().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-broken", "pg-test-2"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("""patroni.restart{"member":"pg-test-2"}""", Actions(host));
        Assert.Equal("pg-test-2 streams from pg-test-1 again (lag 4096 bytes).", host.Notes.Single().Text);
    }

    [Fact]
    public async Task ReplicationLag_RestartDoesNotHelp_ReinitIsCappedAtApproval()
    {
        var broken = SnapshotBuilder.Healthy().MemberSet("pg-test-2", "lag_bytes", null).MemberSet("pg-test-2", "lag_unknown", true).Build();
        var host = new ScriptedSkillHost(broken);
        host.Answer = r => r.ActionClass == "patroni.reinit"
            ? new SkillActionOutcome(SkillActionStatus.PendingApproval, "approval-1")
            : new SkillActionOutcome(SkillActionStatus.Succeeded, "j-1");

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-broken", "pg-test-2"));

        Assert.Equal(SkillRunStatus.AwaitingApproval, run.Status);
        Assert.Equal(["patroni.restart", "patroni.reinit"], host.Requests.Select(r => r.ActionClass));
        Assert.Equal(2, host.Requests[1].AutonomyCeiling);
        Assert.Null(host.Requests[0].AutonomyCeiling);
    }

    [Fact]
    public async Task ReplicationLag_ReplicaWhosePatroniDoesNotAnswer_EndsAtOnceWithAFollowUpAndRestartsNothing()
    {
        // The fenced ex-leader after a failover: Patroni stopped, no lag known. A restart through Patroni cannot reach it.
        var fenced = SnapshotBuilder.Healthy().MemberSet("pg-test-2", "reachable", false).MemberSet("pg-test-2", "patroni_state", null)
            .MemberSet("pg-test-2", "lag_bytes", null).MemberSet("pg-test-2", "lag_unknown", true);
        var host = new ScriptedSkillHost(fenced.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-broken", "pg-test-2"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal(1, run.Steps.Single(s => s.StepId == "drain").Polls);
        Assert.StartsWith("Patroni does not answer on pg-test-2 (stopped, fenced", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicationLag_AnsweringReplicaBrokenBesideAnUnreachableOne_StillRestartsTheOneItCanReach()
    {
        var both = SnapshotBuilder.Healthy().MemberSet("pg-test-2", "reachable", false).MemberSet("pg-test-2", "lag_unknown", true).MemberSet("pg-test-2", "lag_bytes", null)
            .MemberSet("pg-test-3", "lag_bytes", null).MemberSet("pg-test-3", "lag_unknown", true);
        var host = new ScriptedSkillHost(both.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-broken", "pg-test-3"));

        Assert.Equal("patroni.restart", host.Requests[0].ActionClass);
        Assert.Contains("pg-test-3", Actions(host), StringComparison.Ordinal);
        Assert.DoesNotContain("pg-test-2", Actions(host), StringComparison.Ordinal);
        Assert.NotEqual(SkillRunStatus.Completed, run.Status);
    }

    [Fact]
    public async Task ReplicationLag_StreamingButSlow_RecordsForTheOperator()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().MemberSet("pg-test-3", "lag_bytes", 9_000_000).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("replication-lag"), host, SkillTestKit.Trigger("replication-lag", "pg-test-3"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("[\"pg-test-3\",9000000,0]", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ archive-failure

    private static SnapshotBuilder ArchiveFailures(long count) =>
        SnapshotBuilder.Healthy().Set("postgres", new JsonArray(new JsonObject { ["member"] = "pg-test-1", ["reachable"] = true, ["archiver_failed_count"] = count }));

    [Fact]
    public async Task ArchiveFailure_StillFailing_DiagnosesAndReports()
    {
        var host = new ScriptedSkillHost(ArchiveFailures(12).Build()).At(TimeSpan.FromSeconds(60), ArchiveFailures(15).Build());
        host.Answer = r => new SkillActionOutcome(SkillActionStatus.Succeeded, "j-9", "exit 28",
            JsonSerializer.SerializeToElement("ERROR: [082]: WAL segment 000000010000000000000007 was not archived before the 60000ms timeout"));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("archive-failure"), host, SkillTestKit.Trigger("archive-failing"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal("""ssh.command{"member":"pg-test-1","command":"pgbackrest --stanza=pg-test check"}""", Actions(host));
        var note = host.Notes.Single();
        Assert.Equal(SkillRecordKinds.FollowUp, note.Kind);
        Assert.Contains("was not archived before the 60000ms timeout", note.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("URGENT", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArchiveFailure_DiskNearlyFull_IsUrgent()
    {
        var low = ArchiveFailures(15).Set("metrics.readings", new JsonArray(
            new JsonObject { ["name"] = "fs_free_ratio", ["status"] = "ok", ["values"] = new JsonObject { ["pg-test-1"] = "0.04" } }));
        var host = new ScriptedSkillHost(ArchiveFailures(12).Build()).At(TimeSpan.FromSeconds(30), low.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("archive-failure"), host, SkillTestKit.Trigger("archive-failing"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.StartsWith("URGENT: the leader pg-test-1 has 0.04 of its filesystem free", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArchiveFailure_NoNewFailuresForThreeMinutes_CountsAsRecovered()
    {
        var host = new ScriptedSkillHost(ArchiveFailures(12).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("archive-failure"), host, SkillTestKit.Trigger("archive-failing"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Equal(TimeSpan.FromMinutes(3), TimeSpan.FromTicks(host.Delays.Sum(d => d.Ticks)));
        Assert.Contains("recovered by itself", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ backup-stale

    [Theory]
    [InlineData(100000.0, true, "diff")]
    [InlineData(700000.0, true, "full")]
    [InlineData(100000.0, false, "full")]
    public async Task BackupStale_OldBackup_TakesOneOfTheRightTypeAndVerifies(double age, bool hasFull, string type)
    {
        var snapshot = SnapshotBuilder.Healthy().Set("backup.last_backup_age_seconds", age);
        if (!hasFull)
        {
            snapshot.Set("backup.last_full", null);
        }

        var host = new ScriptedSkillHost(snapshot.Build()).AfterAction(SnapshotBuilder.Healthy().Set("backup.last_backup_age_seconds", 40.0).Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("backup-stale"), host, SkillTestKit.Trigger("backup-stale", null));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal($$"""backup.run{"member":"pg-test-1","stanza":"pg-test","type":"{{type}}"}""", Actions(host));
        Assert.StartsWith($"newest backup of pg-test is {Math.Floor(age / 3600)} hours old", host.Requests[0].Reason, StringComparison.Ordinal);
        Assert.Equal($"Took a {type} backup of pg-test on pg-test-1; newest backup now 40 s old.", host.Notes.Single().Text);
    }

    [Fact]
    public async Task BackupStale_FreshBackup_DoesNothing()
    {
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("backup-stale"), host);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task BackupStale_ArchivingFails_FixesThatFirst()
    {
        var snapshot = SnapshotBuilder.Healthy().Set("backup.last_backup_age_seconds", 200000.0).Set("metrics.readings", new JsonArray(
            new JsonObject { ["name"] = "archiver_failures_15m", ["status"] = "ok", ["values"] = new JsonObject { ["pg-test-1"] = "4", ["pg-test-2"] = "NaN" } }));
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("backup-stale"), host);

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("Fix archiving first", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ inventory-drift

    [Fact]
    public async Task InventoryDrift_AfterFailover_ProposesTheExactPgRolePatch()
    {
        var snapshot = SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Set("drift", new JsonArray(
            new JsonObject { ["code"] = "declared-primary-not-leader", ["member"] = "pg-test-1", ["message"] = "the inventory says pg-test-1 is primary" }));
        var host = new ScriptedSkillHost(snapshot.Build());
        host.Answer = r => new SkillActionOutcome(SkillActionStatus.Succeeded, "j-5", "patch written",
            SkillTestKit.Json("""{"path":"/var/lib/pgra/patches/pg-test-1.patch"}"""));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("inventory-drift"), host, SkillTestKit.Trigger("inventory-drift", "pg-test-1"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var request = host.Requests.Single();
        Assert.Equal("inventory.propose_patch", request.ActionClass);
        Assert.Equal(
            """{"file":"/etc/pigsty/pigsty.yml","cluster":"pg-test","changes":[{"member":"pg-test-1","key":"pg_role","from":"primary","to":"replica"},{"member":"pg-test-2","key":"pg_role","from":"replica","to":"primary"}]}""",
            request.Parameters.GetRawText());
        var note = host.Notes.Single();
        Assert.Equal(SkillRecordKinds.Patch, note.Kind);
        Assert.Contains("pg-test-1 pg_role primary -> replica; pg-test-2 pg_role replica -> primary", note.Text, StringComparison.Ordinal);
        Assert.Contains("/var/lib/pgra/patches/pg-test-1.patch", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InventoryDrift_OnlyOtherDrift_RecordsItWithoutAPatch()
    {
        var snapshot = SnapshotBuilder.Healthy().Set("drift", new JsonArray(
            new JsonObject { ["code"] = "patroni-member-not-in-inventory", ["member"] = "pg-test-4", ["message"] = "Patroni lists pg-test-4, which the inventory does not describe" }));
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("inventory-drift"), host, SkillTestKit.Trigger("inventory-drift", null));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("Patroni lists pg-test-4", host.Notes.Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InventoryDrift_DuringFailover_WaitsForAStableLeader()
    {
        var host = new ScriptedSkillHost(AfterFence().Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("inventory-drift"), host, SkillTestKit.Trigger("inventory-drift", null));

        Assert.Equal(SkillRunStatus.Stopped, run.Status);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task DeposedPrimary_EtcdGivesTheKeyToAnother_FencesTheWritableExLeader()
    {
        var snapshot = SnapshotBuilder.Healthy().FailedOverTo("pg-test-2")
            .MemberSet("pg-test-1", "in_recovery", false).MemberSet("pg-test-1", "postgres_reachable", true)
            .Set("patroni.dcs", new JsonObject { ["read"] = true, ["holder"] = "pg-test-2", ["key"] = "/pg/pg-test/leader" });
        var host = new ScriptedSkillHost(snapshot.Build());
        host.Answer = r => new SkillActionOutcome(SkillActionStatus.Succeeded, "j-9", "fenced");

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("deposed-primary"), host, SkillTestKit.Trigger("deposed-primary", "pg-test-1"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var request = host.Requests.Single();
        Assert.Equal("member.fence", request.ActionClass);
        Assert.Contains("pg-test-1", request.Parameters.GetRawText(), StringComparison.Ordinal);
        Assert.Contains("fence:Succeeded", SkillTestKit.Steps(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeposedPrimary_EtcdNotRead_FencesNothingOnAVoteOfViews()
    {
        var snapshot = SnapshotBuilder.Healthy().FailedOverTo("pg-test-2")
            .Set("patroni.dcs", new JsonObject { ["read"] = false, ["holder"] = null, ["key"] = "/pg/pg-test/leader", ["error"] = "connection refused" });
        var host = new ScriptedSkillHost(snapshot.Build());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("deposed-primary"), host, SkillTestKit.Trigger("deposed-primary", "pg-test-1"));

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        Assert.Contains("no_arbiter", SkillTestKit.Steps(run), StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ missing-index

    private const string QueryId = "-7973933697010830831";

    /// <summary>The healthy snapshot with the leader's statements_top row of the hot statement at these cumulative counters.</summary>
    private static JsonElement WithStatement(long calls, double totalMs, double? sumSquares = null) => SnapshotBuilder.Healthy().Set("postgres", new JsonArray(new JsonObject
    {
        ["member"] = "pg-test-1",
        ["reachable"] = true,
        ["probes"] = new JsonArray(new JsonObject
        {
            ["name"] = "statements_top",
            ["status"] = "ok",
            ["rows"] = new JsonArray(new JsonObject
            {
                ["queryid"] = QueryId, ["datname"] = "test", ["calls"] = calls.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["total_exec_ms"] = totalMs.ToString(System.Globalization.CultureInfo.InvariantCulture), ["query"] = "SELECT id FROM orders WHERE user_id = $1",
                ["sumsq_exec_ms2"] = sumSquares?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }),
        }),
    })).Build();

    private static JsonElement MissingIndexTrigger(string? p95 = null) => JsonSerializer.SerializeToElement(new JsonObject
    {
        ["code"] = "missing-index",
        ["cluster"] = "pg-test",
        ["member"] = "pg-test-1",
        ["facts"] = new JsonObject
        {
            ["queryid"] = QueryId, ["database"] = "test", ["schema"] = "public", ["table"] = "orders", ["columns"] = "user_id,created_at",
            ["index"] = "orders_user_id_created_at_idx", ["mean_ms"] = "50", ["calls"] = "120", ["cost_before"] = "6250.05", ["cost_after"] = "19.7",
            ["query"] = "SELECT id FROM orders WHERE user_id = $1", ["p95_ms"] = p95 ?? "",
        },
    });

    [Fact]
    public async Task MissingIndex_Kept_TheNoteGivesTheP95EstimateBeforeAndAfterFromTheSumOfSquares()
    {
        // 100 calls since the index: 200 ms in all (mean 2 ms) and 500 ms² of squares (a standard deviation of 1 ms).
        var host = new ScriptedSkillHost(WithStatement(1000, 50_000, 2_600_000)).At(TimeSpan.FromSeconds(30), WithStatement(1100, 50_200, 2_600_500));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger(p95: "95"));

        Assert.True(run.Status == SkillRunStatus.Completed, run.Message);
        var note = Assert.Single(host.Notes);
        Assert.True(note.Text.Contains("from a mean of 50 ms to 2.0 ms per call, p95 about 95 ms -> 3.64 ms", StringComparison.Ordinal), note.Text);
        Assert.Contains("Kept index public.orders_user_id_created_at_idx", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingIndex_ATransactionOpenForMinutes_DoesNotStartTheBuild_AndNamesTheHolder()
    {
        var statement = WithStatement(1000, 50_000);
        var snapshot = JsonNode.Parse(statement.GetRawText())!.AsObject();
        var leader = snapshot["postgres"]!.AsArray()[0]!.AsObject();
        leader["probes"]!.AsArray().Add(new JsonObject
        {
            ["name"] = "long_transactions",
            ["status"] = "ok",
            ["rows"] = new JsonArray(
                new JsonObject { ["pid"] = 5534, ["application_name"] = "pgra-lab-long-transaction", ["state"] = "idle in transaction", ["xact_age_seconds"] = 95.5 },
                new JsonObject { ["pid"] = 6001, ["application_name"] = "app", ["state"] = "active", ["xact_age_seconds"] = 0.2 }),
        });
        var host = new ScriptedSkillHost(JsonSerializer.SerializeToElement(snapshot));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Empty(host.Requests);
        var note = Assert.Single(host.Notes);
        Assert.StartsWith("Not building public.orders_user_id_created_at_idx yet", note.Text, StringComparison.Ordinal);
        Assert.Contains("[5534,\"pgra-lab-long-transaction\",\"idle in transaction\",95.5]", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingIndex_OnlyShortTransactionsOpen_Builds()
    {
        var snapshot = JsonNode.Parse(WithStatement(1000, 50_000).GetRawText())!.AsObject();
        snapshot["postgres"]!.AsArray()[0]!["probes"]!.AsArray().Add(new JsonObject
        {
            ["name"] = "long_transactions",
            ["status"] = "ok",
            ["rows"] = new JsonArray(new JsonObject { ["pid"] = 6001, ["application_name"] = "app", ["state"] = "active", ["xact_age_seconds"] = 12.0 }),
        });
        var host = new ScriptedSkillHost(JsonSerializer.SerializeToElement(snapshot)).At(TimeSpan.FromSeconds(30), WithStatement(1100, 50_200));

        await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal("sql.create_index", host.Requests[0].ActionClass);
    }

    [Fact]
    public async Task MissingIndex_StatementTwentyFiveTimesFaster_BuildsAnalyzesAndKeepsTheIndex()
    {
        var host = new ScriptedSkillHost(WithStatement(1000, 50_000)).At(TimeSpan.FromSeconds(30), WithStatement(1100, 50_200));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(
            """sql.create_index{"database":"test","schema":"public","table":"orders","columns":"user_id,created_at","index":"orders_user_id_created_at_idx"} """
            + """sql.analyze{"database":"test","schema":"public","table":"orders"}""", Actions(host));
        Assert.Equal(3, host.Requests[0].AutonomyCeiling);
        var note = Assert.Single(host.Notes);
        Assert.Contains("Kept index public.orders_user_id_created_at_idx", note.Text, StringComparison.Ordinal);
        Assert.Contains("from a mean of 50 ms to 2", note.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingIndex_StatementNotTwiceAsFast_DropsTheIndexAgainAndSaysWhy()
    {
        var host = new ScriptedSkillHost(WithStatement(1000, 50_000)).At(TimeSpan.FromSeconds(30), WithStatement(1100, 54_000));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal(["sql.create_index", "sql.analyze", "sql.drop_index"], host.Requests.Select(r => r.ActionClass));
        Assert.Equal("""{"database":"test","schema":"public","index":"orders_user_id_created_at_idx"}""", host.Requests[2].Parameters.GetRawText());
        Assert.Contains(host.Notes, n => n.Text.Contains("did not make statement " + QueryId + " 2 times faster (mean 50 ms before, 40", StringComparison.Ordinal));
        Assert.Contains(host.Notes, n => n.Text.StartsWith("Dropped public.orders_user_id_created_at_idx again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingIndex_TooFewCallsToMeasure_KeepsTheIndexAndAsksTheOperator()
    {
        var host = new ScriptedSkillHost(WithStatement(1000, 50_000)).At(TimeSpan.FromSeconds(30), WithStatement(1005, 50_010));

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(["sql.create_index", "sql.analyze"], host.Requests.Select(r => r.ActionClass));
        Assert.Contains("could not be measured", Assert.Single(host.Notes).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingIndex_BuildFails_NothingElseRunsAndTheFailureIsRecorded()
    {
        var host = new ScriptedSkillHost(WithStatement(1000, 50_000))
        {
            Answer = r => new SkillActionOutcome(SkillActionStatus.Failed, "j-1", "CREATE INDEX CONCURRENTLY failed: 55P03: canceling statement due to lock timeout"),
        };

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("missing-index"), host, MissingIndexTrigger());

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal(["sql.create_index"], host.Requests.Select(r => r.ActionClass));
        Assert.Contains("lock timeout", Assert.Single(host.Notes).Text, StringComparison.Ordinal);
    }
}
