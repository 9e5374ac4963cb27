using System.Security.Cryptography;
using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.InventoryPatches;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Acting.InventoryPatches;

public sealed class InventoryPatchActuatorTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-inventory-patch-").FullName;
    private ActingHarness? _harness;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Inventory => Path.Combine(_dir, "pigsty.yml");

    private string Proposals => Path.Combine(_dir, "inventory-patches");

    public async ValueTask DisposeAsync()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Run_FailoverSwap_WritesVerifiedPatchAndLeavesInventoryUntouched()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var before = await File.ReadAllBytesAsync(Inventory, Ct);
        var (pipeline, topology) = await PipelineAsync();
        var action = InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-1 pg_role primary->replica, pg-test-2 pg_role replica->primary",
            ActionTrigger.Operator, "alice", "after the failover");

        var result = await pipeline.RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.Equal(ActionRisk.Low, action.Risk);
        Assert.Equal("inventory.propose_patch", action.PolicyClass);
        Assert.Equal(before, await File.ReadAllBytesAsync(Inventory, Ct));
        var details = result.Execution!.Details;
        var path = details["path"];
        Assert.Equal(Proposals, Path.GetDirectoryName(path));
        Assert.Matches(@"^pg-test-20260301T120000Z-act-[0-9a-f]{12}\.patch$", Path.GetFileName(path));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(before)), details["sha256"]);
        var diff = await File.ReadAllTextAsync(path, Ct);
        Assert.Equal(diff, details["diff"]);
        Assert.Equal(diff, result.Execution.Output);
        Assert.Contains("+        10.10.10.12: { pg_seq: 2, pg_role: primary }", diff, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        Assert.Equal("patch -p1 applied it to a copy; the result is the planned inventory", result.Verification!.Evidence["patch_check"]);
        var patched = await InventoryPatcherTests.ApplyWithPatchAsync(Inventory, diff);
        var report = InventoryLoader.Parse(patched, Inventory, new SecretStore(), InventoryOverrides.None);
        Assert.Equal("pg-test-2", report.Topology!.FindCluster("pg-test")!.DeclaredPrimary!.Name);

        var undo = await pipeline.UndoAsync(action.Id, "alice", dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, undo.Status);
        Assert.False(File.Exists(path));
        Assert.Equal(before, await File.ReadAllBytesAsync(Inventory, Ct));
    }

    [Fact]
    public async Task Execute_Utf8BomAndCrlf_PatchAppliesWithPatchAndKeepsBothBytes()
    {
        var text = "pg-test:\r\n  hosts:\r\n    10.0.0.1: { pg_seq: 1, pg_role: primary }\r\n"
            + "    10.0.0.2: { pg_seq: 2, pg_role: replica }\r\n  vars: { pg_cluster: pg-test }\r\n";
        byte[] bom = [0xEF, 0xBB, 0xBF];
        await File.WriteAllBytesAsync(Inventory, [.. bom, .. System.Text.Encoding.UTF8.GetBytes(text)], Ct);
        var topology = InventoryLoader.Load(Inventory, new SecretStore(), InventoryOverrides.None);
        var actuator = new InventoryPatchActuator(Proposals, TimeProvider.System);
        var action = InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-1 primary->replica, pg-test-2 replica->primary", ActionTrigger.Operator, null, null);

        var execution = await actuator.ExecuteAsync(action, Ct);
        var verify = await actuator.VerifyAsync(action, execution, Ct);

        Assert.True(execution.Succeeded, execution.Message);
        Assert.Equal(VerifyStatus.Verified, verify.Status);
        Assert.Equal("patch -p1 applied it to a copy; the result is the planned inventory", verify.Evidence["patch_check"]);
        Assert.StartsWith("--- a/pigsty.yml\n+++ b/pigsty.yml\n@@ -1,5 +1,5 @@\n \uFEFFpg-test:\r\n", execution.Details["diff"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_FromDoesNotMatch_PrecheckFailsWithFileAndLineAndWritesNothing()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var (pipeline, topology) = await PipelineAsync();
        var action = InventoryPatchActuator.PlanRequest(topology, "pg-test", Inventory, "pg-test-3 pg_role primary->replica", ActionTrigger.Operator, null, null);

        var result = await pipeline.RunAsync(action, dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        var failed = Assert.Single(result.Precheck!.Checks, c => !c.Passed);
        Assert.Equal("changes-located", failed.Name);
        Assert.Contains("pigsty.yml:71: pg-test-3 pg_role: the inventory says 'replica', not 'primary'", failed.Detail, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Proposals) && Directory.EnumerateFiles(Proposals).Any());
    }

    [Fact]
    public async Task Verify_InventoryEditedAfterTheProposal_Fails()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var (_, topology) = await PipelineAsync();
        var actuator = new InventoryPatchActuator(Proposals, TimeProvider.System);
        var action = InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-1 primary->replica, pg-test-2 replica->primary", ActionTrigger.Operator, null, null);
        var execution = await actuator.ExecuteAsync(action, Ct);
        await File.AppendAllTextAsync(Inventory, "# edited\n", Ct);

        var verify = await actuator.VerifyAsync(action, execution, Ct);

        Assert.Equal(VerifyStatus.Failed, verify.Status);
        Assert.Contains("changed while the proposal was made", verify.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_AfterCrash_FindsTheProposalByActionId()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var (_, topology) = await PipelineAsync();
        var actuator = new InventoryPatchActuator(Proposals, TimeProvider.System);
        var written = InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-1 primary->replica, pg-test-2 replica->primary", ActionTrigger.Operator, null, null);
        var never = InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-1 primary->replica, pg-test-2 replica->primary", ActionTrigger.Operator, null, null);
        await actuator.ExecuteAsync(written, Ct);

        var happened = await actuator.ReconcileAsync(written, Ct);
        var not = await actuator.ReconcileAsync(never, Ct);

        Assert.Equal(ReconcileStatus.Happened, happened.Status);
        Assert.Equal(InventoryPatchActuator.WithdrawKind, happened.Undo!.Kind);
        Assert.Equal(ReconcileStatus.NotHappened, not.Status);
    }

    [Fact]
    public async Task Withdraw_FileOutsideTheProposalDirectory_Refused()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var actuator = new InventoryPatchActuator(Proposals, TimeProvider.System);
        var action = new PlannedAction
        {
            Id = PlannedAction.NewId(),
            Kind = InventoryPatchActuator.WithdrawKind,
            Cluster = "pg-test",
            Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["path"] = Inventory },
            Summary = "withdraw",
        };

        var precheck = await actuator.PrecheckAsync(action, Ct);
        var execution = await actuator.ExecuteAsync(action, Ct);

        Assert.False(precheck.Passed);
        Assert.False(execution.Succeeded);
        Assert.True(File.Exists(Inventory));
    }

    [Fact]
    public async Task PlanRequest_BadInput_InputException()
    {
        File.Copy(TestPaths.Fixture("pigsty", "v4.5.0", "ha-full.yml"), Inventory);
        var (_, topology) = await PipelineAsync();

        var other = Assert.Throws<InputException>(() => InventoryPatchActuator.PlanRequest(topology, "pg-test", "/etc/passwd", "pg-test-1 primary->replica", ActionTrigger.Operator, null, null));
        var member = Assert.Throws<InputException>(() => InventoryPatchActuator.PlanRequest(topology, "pg-test", null, "pg-test-7 primary->replica", ActionTrigger.Operator, null, null));
        var missing = Assert.Throws<InputException>(() => InventoryPatchActuator.PlanRequest(topology, "pg-test", null, null, ActionTrigger.Operator, null, null));

        Assert.Contains("not to '/etc/passwd'", other.Message, StringComparison.Ordinal);
        Assert.Contains("no member 'pg-test-7' in cluster pg-test", member.Message, StringComparison.Ordinal);
        Assert.Contains("needs 'changes'", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SkillWithList_ArrivesAsJsonTextTheActionReads()
    {
        using var with = JsonDocument.Parse("""{"file":"/etc/pigsty/pigsty.yml","cluster":"pg-test","changes":[{"member":"pg-test-1","key":"pg_role","from":"primary","to":"replica"},{"member":"pg-test-2","key":"pg_role","from":"replica","to":"primary"}]}""");
        var request = new SkillActionRequest("pg-test", InventoryPatchActuator.Kind, with.RootElement.Clone(), "inventory-drift", "propose", null, false, null, null, null, "d");

        var (member, parameters) = PipelineSkillHost.Parameters(request);

        Assert.Null(member);
        Assert.Equal(
            [new InventoryChange("pg-test-1", "pg_role", "primary", "replica"), new InventoryChange("pg-test-2", "pg_role", "replica", "primary")],
            InventoryChange.ParseList(parameters["changes"]));
    }

    private async Task<(ActionPipeline Pipeline, Topology Topology)> PipelineAsync()
    {
        _harness ??= await ActingHarness.CreateAsync();
        var topology = InventoryLoader.Load(Inventory, new SecretStore(), InventoryOverrides.None);
        var time = _harness.Time;
        var pipeline = new ActionPipeline(_harness.Journal, new PolicyGate(_harness.Policy, _harness.Journal, time), new ApprovalBook(_harness.Journal, _harness.Policy.ApprovalTtl(), time),
            new ActuatorRegistry([new InventoryPatchActuator(Proposals, time)]), _harness.State, time, _harness.Options);
        return (pipeline, topology);
    }
}
