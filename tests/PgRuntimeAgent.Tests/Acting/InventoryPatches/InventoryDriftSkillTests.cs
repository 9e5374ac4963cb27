using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.InventoryPatches;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Acting.Planning;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Skills;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Tests.Acting.InventoryPatches;

/// <summary>The shipped inventory-drift skill end to end: its <c>with:</c> through the planner, the pipeline and the real actuator.</summary>
public sealed class InventoryDriftSkillTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-drift-skill-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task InventoryDriftSkill_AfterFailover_ProposalPathReachesTheRecordedNote()
    {
        var inventory = Path.Combine(_dir, "lab.yml");
        File.Copy(Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml"), inventory);
        var before = await File.ReadAllBytesAsync(inventory, Ct);
        var topology = InventoryLoader.Load(inventory, new SecretStore(), InventoryOverrides.None);
        var time = TimeProvider.System;
        await using var journal = await SqliteJournal.OpenAsync(Path.Combine(_dir, "journal.db"), new SecretStore(), time, Ct);
        using var control = new PatroniControl(new SecretStore(), time);
        var planner = new ActionPlanner(topology, new NoSensing(topology), control, time, "postgres");
        var policy = new PolicySettings { Classes = new Dictionary<string, int> { [InventoryPatchActuator.Kind] = 3 } };
        var acting = new ActingServices(journal, policy, new ActuatorRegistry([new InventoryPatchActuator(Path.Combine(_dir, "inventory-patches"), time)]),
            new StaticClusterState(), planner, time);
        var pipelineHost = new PipelineSkillHost(acting, new IncidentManager(journal, DetectionSettings.Default), (_, _) => throw new InvalidOperationException("no sensing"),
            _ => { }, NullLogger.Instance);
        var snapshot = SnapshotBuilder.Healthy().FailedOverTo("pg-test-2").Set("inventory.source_path", inventory).Set("drift", new JsonArray(
            new JsonObject { ["code"] = "declared-primary-not-leader", ["member"] = "pg-test-1", ["message"] = "the inventory says pg-test-1 is primary" }));
        var host = new ScriptedSkillHost(snapshot.Build());
        host.Answer = r => pipelineHost.ExecuteActionAsync(r, Ct).GetAwaiter().GetResult();

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("inventory-drift"), host, SkillTestKit.Trigger("inventory-drift", "pg-test-1"));

        Assert.True(run.Status == SkillRunStatus.Completed, $"{run.Status}: {run.Message} {string.Join(" | ", pipelineHost.Actions.Select(a => a.Message))}");
        var result = Assert.Single(pipelineHost.Actions);
        Assert.Equal(ActionStatus.Succeeded, result.Status);
        var path = result.Execution!.Details["path"];
        Assert.True(File.Exists(path));
        var note = Assert.Single(host.Notes);
        Assert.Equal(SkillRecordKinds.Patch, note.Kind);
        Assert.Contains($"Review and apply the patch {path};", note.Text, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(inventory, Ct));
        var patched = await InventoryPatcherTests.ApplyWithPatchAsync(inventory, await File.ReadAllTextAsync(path, Ct));
        Assert.Equal("pg-test-2", InventoryLoader.Parse(patched, inventory, new SecretStore(), InventoryOverrides.None).Topology!.FindCluster("pg-test")!.DeclaredPrimary!.Name);
    }

    [Fact]
    public void Judge_LeaderAgainstDeclaredPrimary_SaysAgreementDriftOrUnknownWithTheChanges()
    {
        var topology = InventoryLoader.Load(Path.Combine(TestPaths.RepoRoot, "inventory", "lab.yml"), new SecretStore(), InventoryOverrides.None);
        var cluster = topology.FindCluster("pg-test")!;
        var declared = cluster.DeclaredPrimary!.Name;
        var other = cluster.Members.First(m => m.Name != declared).Name;
        var snapshot = PgRuntimeAgent.Tests.Detection.DetectionKit.Load("healthy");

        var agree = InventoryDrift.Judge(cluster, snapshot with { Leader = declared });
        var drift = InventoryDrift.Judge(cluster, snapshot with { Leader = other });
        var unknown = InventoryDrift.Judge(cluster, snapshot with { Leader = null });

        Assert.Equal((InventoryDriftStatus.InAgreement, 0), (agree.Status, agree.Changes.Count));
        Assert.Equal(InventoryDriftStatus.Drift, drift.Status);
        Assert.Equal($"the inventory names {declared} as the primary of pg-test; Patroni's leader is {other}", drift.Message);
        Assert.Contains(drift.Changes, c => c.Member == other && c.Key == "pg_role" && c.To == "primary");
        Assert.Contains(drift.Changes, c => c.Member == declared && c.Key == "pg_role" && c.To == "replica");
        Assert.Equal((InventoryDriftStatus.LeaderUnknown, null, 0), (unknown.Status, unknown.Leader, unknown.Changes.Count));
    }

    private sealed class NoSensing(Topology topology) : IClusterSensing
    {
        public Topology Topology => topology;

        public Task<ClusterSnapshot> SenseAsync(string cluster, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("inventory.propose_patch plans without sensing");
    }
}
