using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Backup;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using PgRuntimeAgent.Tests.Skills;
using PgRuntimeAgent.Workspaces;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Backup;

/// <summary>The shipped backup-stale skill end to end: its <c>with:</c> through the planner, the pipeline (policy, precheck, journal) and the backup actuator.</summary>
public sealed class BackupStaleSkillTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-backup-skill-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task BackupStaleSkill_AtLevel3_RunsTheBackupThroughThePipelineAndVerifiesTheNewLabel()
    {
        var time = TimeProvider.System;
        var secrets = new SecretStore();
        var topology = SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets));
        var sensing = new ScriptedSensing(topology, Healthy());
        await using var journal = await SqliteJournal.OpenAsync(Path.Combine(_dir, "journal.db"), secrets, time, Ct);
        using var control = new PatroniControl(secrets, time);
        var runner = new ScriptedBackupRunner();
        var label = $"20261122-180033F_{time.GetUtcNow().AddSeconds(1):yyyyMMdd-HHmmss}D";
        runner.InfoAfterBackup = runner.Info.Replace("""[{"archive":{"start":"0000000B000000000000000E""",
            $$$"""[{"archive":{"start":"0000000B0000000000000010","stop":"0000000B0000000000000010"},"error":false,"info":{"size":1,"repository":{"size":1}},"label":"{{{label}}}","type":"diff","timestamp":{"start":{{{time.GetUtcNow().ToUnixTimeSeconds() + 1}}},"stop":{{{time.GetUtcNow().ToUnixTimeSeconds() + 2}}}}},{"archive":{"start":"0000000B000000000000000E""",
            StringComparison.Ordinal);
        Assert.NotEqual(runner.Info, runner.InfoAfterBackup);
        var actuator = new BackupRunActuator(sensing, new SqlConnector(secrets, "postgres") { AddressOf = _ => ("127.0.0.1", 9) },
            new PgBackRestSettings { RunAs = "postgres" }, runner, secrets, time) { IsLocal = _ => true, RunningAsRoot = false };
        var policy = new PolicySettings { Classes = new Dictionary<string, int> { [BackupRunActuator.Kind] = 3 } };
        var state = new StaticClusterState
        {
            State = new ClusterGuardState { Cluster = "pg-test", ObservedAt = time.GetUtcNow(), LeaderKnown = true, Leader = "pg-test-1" },
        };
        var acting = new ActingServices(journal, policy, new ActuatorRegistry([actuator]), state, new ActionPlanner(topology, sensing, control, time, "postgres"), time);
        var pipelineHost = new PipelineSkillHost(acting, new IncidentManager(journal, DetectionSettings.Default), (_, _) => throw new InvalidOperationException("no sensing"),
            _ => { }, NullLogger.Instance);
        var host = new ScriptedSkillHost(SnapshotBuilder.Healthy().Set("backup.last_backup_age_seconds", 100000.0).Build())
            .AfterAction(SnapshotBuilder.Healthy().Set("backup.last_backup_age_seconds", 40.0).Build());
        host.Answer = r => pipelineHost.ExecuteActionAsync(r, Ct).GetAwaiter().GetResult();

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("backup-stale"), host, SkillTestKit.Trigger("backup-stale", null));

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var result = Assert.Single(pipelineHost.Actions);
        Assert.True(result.Status == ActionStatus.Succeeded, result.Message);
        Assert.Equal("pg-test-1", result.Action.Member);
        Assert.Equal("diff", result.Action.Parameter("type"));
        Assert.Equal(label, result.Verification!.Evidence["label"]);
        Assert.Equal(["pgbackrest", "--stanza=pg-test", "--type=diff", "backup"], runner.Calls.Select(c => c.Argv).Single(a => a.Contains("backup")));
        var kinds = (await journal.QueryAsync(new JournalQuery { CorrelationId = result.Action.Id }, Ct)).Select(e => e.Kind).ToList();
        Assert.Equal([JournalKinds.Decision, JournalKinds.ActionPrecheck, JournalKinds.ActionIntent, JournalKinds.ActionOutcome], kinds);
    }
}
