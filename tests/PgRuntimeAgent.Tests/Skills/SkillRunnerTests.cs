using System.Text.Json;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

public sealed class SkillRunnerTests
{
    private static Skill Skill(string steps, string actions = "[patroni.failover, member.fence, patroni.switchover]", string extra = "", SkillVocabulary? vocabulary = null) =>
        SkillTestKit.Parse($"""
        ---
        name: test-skill
        description: Runner test.
        actions: {actions}
        {extra}
        ---
        # Test

        ```yaml steps
        {steps}
        ```
        """, vocabulary: vocabulary);

    private static ScriptedSkillHost Host(SnapshotBuilder? snapshot = null) => new((snapshot ?? SnapshotBuilder.Healthy()).Build());

    [Fact]
    public async Task Run_CheckThenElse_FollowsTheBranch()
    {
        var skill = Skill("""
            - id: has_leader
              check: "leader"
              then: yes_branch
              else: no_branch
            - id: no_branch
              record: "no leader"
              next: end
            - id: yes_branch
              record: "leader is {{ leader }}"
            """);

        var withLeader = await SkillTestKit.RunAsync(skill, Host());
        var without = await SkillTestKit.RunAsync(skill, Host(SnapshotBuilder.Healthy().Leader(null)));

        Assert.Equal(SkillRunStatus.Completed, withLeader.Status);
        Assert.Equal("has_leader:Passed yes_branch:Recorded", SkillTestKit.Steps(withLeader));
        Assert.Equal("pg-test-1", withLeader.Steps[0].Inputs[0].Value.GetString());
        Assert.Equal("has_leader:Failed no_branch:Recorded", SkillTestKit.Steps(without));
        Assert.Equal(SkillRunStatus.Completed, without.Status);
    }

    [Fact]
    public async Task Run_FalseCheckWithoutHandler_StopsTheRun()
    {
        var skill = Skill("""
            - id: paused
              check: "patroni.paused"
            - id: never
              record: "unreachable"
            """);

        var run = await SkillTestKit.RunAsync(skill, Host());

        Assert.Equal(SkillRunStatus.Stopped, run.Status);
        Assert.Single(run.Steps);
        Assert.Null(run.Steps[0].Next);
        Assert.Contains("patroni.paused", run.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Wait_PollsFreshSnapshotsUntilTheConditionHolds()
    {
        var skill = Skill("""
            - id: new_leader
              wait: "leader == 'pg-test-2'"
              timeout: 30s
              interval: 2s
            """);
        var host = Host().At(TimeSpan.FromSeconds(7), SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Build());

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var step = run.Steps[0];
        Assert.Equal(SkillStepStatus.Passed, step.Status);
        Assert.Equal(5, step.Polls);
        Assert.Equal(8000, step.ElapsedMs);
        Assert.All(host.Delays, d => Assert.Equal(TimeSpan.FromSeconds(2), d));
        Assert.Equal(5, host.SnapshotFetches); // the run's first snapshot, then one per poll after a delay
    }

    [Fact]
    public async Task Run_WaitTimesOut_TakesOnFail()
    {
        var skill = Skill("""
            - id: new_leader
              wait: "leader == 'pg-test-2'"
              timeout: 5s
              interval: 2s
              on_fail: give_up
            - id: unreachable
              record: "x"
            - id: give_up
              record: "waited {{ $steps.new_leader.seconds }} s, {{ $steps.new_leader.polls }} polls"
              next: fail
            """);
        var host = Host();

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(SkillRunStatus.Failed, run.Status);
        Assert.Equal("new_leader:Failed give_up:Recorded", SkillTestKit.Steps(run));
        Assert.Equal([TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)], host.Delays);
        Assert.Equal("waited 5 s, 4 polls", host.Notes.Single().Text);
    }

    [Fact]
    public async Task Run_Action_SendsEvaluatedParametersAndRefreshesTheSnapshot()
    {
        var skill = Skill("""
            - id: candidate
              check: "members[?patroni_role == 'replica'] | sort_by(@, &lag_bytes) | [0].name"
            - id: failover
              action: patroni.failover
              with:
                candidate: "{{ $steps.candidate.value }}"
                leader: "{{ leader }}"
                lag: "{{ members[?name == $steps.candidate.value] | [0].lag_bytes }}"
                note: "from {{ leader }} to {{ $steps.candidate.value }}"
                playbook: pgsql.yml
                check_first: true
                tags: [a, "{{ $cluster }}"]
              reason: "{{ $trigger.code }} on {{ $trigger.member }}"
              timeout: 45s
            - id: verify
              verify: "leader == $steps.candidate.value"
              timeout: 10s
            """, extra: "autonomy:\n  patroni.failover: 2", vocabulary: SkillTestKit.AnyParameters);
        var host = Host(SnapshotBuilder.Healthy().FrozenLeader()).AfterAction(SnapshotBuilder.Healthy().FailedOverTo("pg-test-3").Build());

        var run = await SkillTestKit.RunAsync(skill, host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var request = host.Requests.Single();
        Assert.Equal("patroni.failover", request.ActionClass);
        Assert.Equal("""{"candidate":"pg-test-3","leader":"pg-test-1","lag":0,"note":"from pg-test-1 to pg-test-3","playbook":"pgsql.yml","check_first":true,"tags":["a","pg-test"]}""",
            request.Parameters.GetRawText());
        Assert.Equal("primary-frozen on pg-test-1", request.Reason);
        Assert.Equal(2, request.AutonomyCeiling);
        Assert.Equal(TimeSpan.FromSeconds(45), request.Timeout);
        Assert.False(request.DryRun);
        Assert.Equal(("test-skill", "failover", "pg-test"), (request.Skill, request.StepId, request.Cluster));
        Assert.StartsWith("sha256:", request.SnapshotDigest, StringComparison.Ordinal);
        Assert.Equal("j-failover", run.Steps[1].JournalId);
        Assert.Equal(SkillStepStatus.Passed, run.Steps[2].Status);
        Assert.Equal(1, run.Steps[2].Polls);
        Assert.NotEqual(run.Steps[0].Snapshot, run.Steps[2].Snapshot);
    }

    [Theory]
    [InlineData(SkillActionStatus.PendingApproval, SkillRunStatus.AwaitingApproval)]
    [InlineData(SkillActionStatus.Refused, SkillRunStatus.Refused)]
    [InlineData(SkillActionStatus.Failed, SkillRunStatus.Failed)]
    public async Task Run_ActionNotDone_EndsTheRunWithoutTheNextAction(SkillActionStatus answer, SkillRunStatus expected)
    {
        var skill = Skill("""
            - id: fence
              action: member.fence
              with:
                member: pg-test-1
            - id: failover
              action: patroni.failover
              with:
                candidate: pg-test-2
            """);
        var host = Host();
        host.Answer = _ => new SkillActionOutcome(answer, "j-1", "policy says so");

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(expected, run.Status);
        Assert.Equal("member.fence", host.Requests.Single().ActionClass);
        Assert.Contains("policy says so", run.Message, StringComparison.Ordinal);
        Assert.Contains("j-1", run.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_FailedActionWithOnFail_ContinuesThereWithTheOutcomeInSteps()
    {
        var skill = Skill("""
            - id: fence
              action: member.fence
              with:
                member: pg-test-1
              on_fail: report
            - id: unreachable
              record: "x"
            - id: report
              record: "fence {{ $steps.fence.status }}: {{ $steps.fence.message }} ({{ $steps.fence.parameters.member }})"
            """);
        var host = Host();
        host.Answer = _ => new SkillActionOutcome(SkillActionStatus.Failed, null, "ssh: connection refused");

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal("fence failed: ssh: connection refused (pg-test-1)", host.Notes.Single().Text);
    }

    [Fact]
    public async Task Run_WhenGuardFalse_SkipsTheStep()
    {
        var skill = Skill("""
            - id: fence
              when: "$trigger.code != 'leader-missing'"
              action: member.fence
              with:
                member: "{{ $trigger.member }}"
            - id: done
              record: "fence skipped: {{ $steps.fence.skipped }}"
            """);
        var host = Host();

        var missing = await SkillTestKit.RunAsync(skill, host, SkillTestKit.Trigger("leader-missing"));
        var frozen = await SkillTestKit.RunAsync(skill, host, SkillTestKit.Trigger("primary-frozen"));

        Assert.Equal("fence:Skipped done:Recorded", SkillTestKit.Steps(missing));
        Assert.Equal("fence:Succeeded done:Recorded", SkillTestKit.Steps(frozen));
        Assert.Single(host.Requests);
        Assert.Equal("fence skipped: true", host.Notes[0].Text);
    }

    [Fact]
    public async Task Run_DryRun_PlansActionsAssumesVerificationAndRecordsNothing()
    {
        var skill = Skill("""
            - id: failover
              action: patroni.failover
              with:
                candidate: pg-test-2
            - id: verify
              verify: "leader == 'pg-test-2'"
              timeout: 1m
              on_fail: bad
            - id: done
              record: "done"
              next: end
            - id: bad
              record: "bad"
              next: fail
            """);
        var host = Host();

        var run = await SkillTestKit.RunAsync(skill, host, dryRun: true);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.True(run.DryRun);
        Assert.Equal("failover:Planned verify:Assumed done:Recorded", SkillTestKit.Steps(run));
        Assert.True(host.Requests.Single().DryRun);
        Assert.Empty(host.Notes);
        Assert.Empty(host.Delays);
    }

    [Fact]
    public async Task Run_DryRunWaitBeforeAnyAction_IsEvaluatedOnceOnTheGivenSnapshot()
    {
        var skill = Skill("""
            - id: patroni_elects
              wait: "leader == 'pg-test-2'"
              timeout: 30s
              on_fail: act
            - id: done
              record: "Patroni did it"
              next: end
            - id: act
              action: patroni.failover
              with:
                candidate: pg-test-2
            """);
        var host = Host();

        var run = await SkillTestKit.RunAsync(skill, host, dryRun: true);

        Assert.Equal("patroni_elects:Failed act:Planned", SkillTestKit.Steps(run));
        Assert.Equal(1, run.Steps[0].Polls);
        Assert.Empty(host.Delays);
    }

    [Fact]
    public async Task Run_Variables_AreBound()
    {
        var skill = Skill("""
            - id: a
              check: "[$cluster, $trigger.code, $params.to, length(members)]"
            - id: b
              check: "$steps.a.value[3]"
            """, extra: "parameters:\n  to: target member");
        var parameters = SkillTestKit.Json("""{"to":"pg-test-3"}""");

        var run = await SkillTestKit.RunAsync(skill, Host(), SkillTestKit.Trigger("replication-lag"), parameters: parameters);

        Assert.Equal("""["pg-test","replication-lag","pg-test-3",3]""", run.Steps[0].Inputs[0].Value.GetRawText());
        Assert.Equal(3, run.Steps[1].Inputs[0].Value.GetInt32());
        Assert.Equal(SkillRunStatus.Completed, run.Status);
    }

    [Fact]
    public async Task Run_RootReferenceInsideFilter_SeesTheSnapshot()
    {
        var skill = Skill("""
            - id: leader_writable
              check: "(members[?name == $.leader] | [0].in_recovery) == `false`"
            """);

        var run = await SkillTestKit.RunAsync(skill, Host());

        Assert.Equal(SkillRunStatus.Completed, run.Status);
    }

    [Fact]
    public async Task Run_DatesStayStrings()
    {
        var skill = Skill("""
            - id: taken
              check: "taken_at"
            """);

        var run = await SkillTestKit.RunAsync(skill, Host());

        Assert.Equal("2026-11-22T10:00:00+00:00", run.Steps[0].Inputs[0].Value.GetString());
    }

    [Fact]
    public async Task Run_EvaluationError_EndsAsErrorWithoutActing()
    {
        var skill = Skill("""
            - id: bad
              check: "length(leader_count)"
            - id: act
              action: patroni.failover
            """);
        var host = Host();

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(SkillRunStatus.Error, run.Status);
        Assert.Equal(SkillStepStatus.Error, run.Steps.Single().Status);
        Assert.Contains("length(leader_count)", run.Message, StringComparison.Ordinal);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task Run_JumpLoop_IsStoppedByTheStepBudget()
    {
        var skill = Skill("""
            - id: a
              check: "leader"
              then: b
            - id: b
              check: "leader"
              then: a
            """);

        var run = await new SkillRunner(options: new SkillRunnerOptions { MaxStepExecutions = 10 })
            .RunAsync(skill, new SkillRunRequest("pg-test"), Host(), TestContext.Current.CancellationToken);

        Assert.Equal(SkillRunStatus.Error, run.Status);
        Assert.Equal(10, run.Steps.Count);
        Assert.Contains("loop", run.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SnapshotNotAnObject_IsAnError()
    {
        var skill = Skill("- id: a\n  check: \"leader\"");
        var host = new ScriptedSkillHost(SkillTestKit.Json("[1,2]"));

        var run = await SkillTestKit.RunAsync(skill, host);

        Assert.Equal(SkillRunStatus.Error, run.Status);
        Assert.Empty(run.Steps);
    }

    [Fact]
    public async Task Run_TwiceOnTheSameSnapshots_MakesTheSameDecisions()
    {
        var skill = SkillTestKit.LoadShipped("primary-failure");
        async Task<SkillRun> Once()
        {
            var host = Host(SnapshotBuilder.Healthy().FrozenLeader()).AfterAction(SnapshotBuilder.Healthy().FailedOverTo("pg-test-3").Build());
            return await SkillTestKit.RunAsync(skill, host, SkillTestKit.Trigger("primary-frozen"));
        }

        var first = await Once();
        var second = await Once();

        Assert.Equal(first.Decisions, second.Decisions);
        Assert.Equal(JsonSerializer.Serialize(first.Steps.Select(s => s.Inputs)), JsonSerializer.Serialize(second.Steps.Select(s => s.Inputs)));
    }

    [Fact]
    public async Task Run_Result_SerialisesForTheJournal()
    {
        var skill = Skill("- id: a\n  check: \"leader\"");

        var run = await SkillTestKit.RunAsync(skill, Host());
        var json = JsonSerializer.Serialize(run);

        using var doc = JsonDocument.Parse(json);
        Assert.Equal("test-skill", doc.RootElement.GetProperty("Skill").GetString());
        Assert.Equal("pg-test-1", doc.RootElement.GetProperty("Steps")[0].GetProperty("Inputs")[0].GetProperty("Value").GetString());
        Assert.False(doc.RootElement.TryGetProperty("Decisions", out _));
    }
}
