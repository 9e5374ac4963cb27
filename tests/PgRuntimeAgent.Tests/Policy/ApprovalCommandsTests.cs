using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Acting;
using PgRuntimeAgent.Tests.Journal;

namespace PgRuntimeAgent.Tests.Policy;

public sealed class ApprovalCommandsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<PlannedAction> SeedPendingAsync(CliDeployment d, string kind = "patroni.switchover")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(d.JournalPath)!);
        await using var journal = await SqliteJournal.OpenAsync(d.JournalPath, new SecretStore(), TimeProvider.System, Ct);
        var action = ScriptedActuator.SetAction("leader", "pg-test-2", trigger: ActionTrigger.Reactive) with { Kind = kind, Summary = "switchover pg-test to pg-test-2" };
        var policy = new PolicySettings { DefaultLevel = 2 };
        var decision = await new PolicyGate(policy, journal, TimeProvider.System).EvaluateAsync(new PolicyRequest { Action = action }, Ct);
        await new ApprovalBook(journal, policy.ApprovalTtl(), TimeProvider.System).RequestAsync(action, decision, null, Ct);
        return action;
    }

    [Fact]
    public async Task Approvals_PendingOne_ListedInTableAndJson()
    {
        using var d = new CliDeployment();
        var action = await SeedPendingAsync(d);

        var table = await d.RunAsync("approvals");
        var json = await d.RunAsync("approvals", "--json");

        Assert.Equal(0, table.ExitCode);
        Assert.Contains(action.Id, table.Out, StringComparison.Ordinal);
        Assert.Contains("pending", table.Out, StringComparison.Ordinal);
        Assert.Contains("switchover pg-test to pg-test-2", table.Out, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Out);
        var first = doc.RootElement[0];
        Assert.Equal(action.Id, first.GetProperty("id").GetString());
        Assert.Equal("pending", first.GetProperty("status").GetString());
        Assert.Equal("pg-test-2", first.GetProperty("action").GetProperty("parameters").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Deny_Pending_JournaledWithNoteAndNoLongerPending()
    {
        using var d = new CliDeployment();
        var action = await SeedPendingAsync(d);

        var deny = await d.RunAsync("deny", action.Id, "--note", "not during the sale");
        var pending = await d.RunAsync("approvals");
        var all = await d.RunAsync("approvals", "--all");
        var again = await d.RunAsync("approve", action.Id);

        Assert.Equal(0, deny.ExitCode);
        Assert.Contains("denied", deny.Out, StringComparison.Ordinal);
        Assert.Contains("no pending approvals", pending.Out, StringComparison.Ordinal);
        Assert.Contains("denied", all.Out, StringComparison.Ordinal);
        Assert.Equal(2, again.ExitCode);
        var list = await d.RunAsync("journal", "list", "--kind", "approval.denied");
        Assert.Contains("not during the sale", list.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deny_NoteWithPasswords_IsJournaledRedacted()
    {
        using var d = new CliDeployment();
        var action = await SeedPendingAsync(d);

        var deny = await d.RunAsync("deny", action.Id, "--note", "use password=Hunter2.pw or admin:Other.pw@10.0.0.1, secret=Third.pw");
        var export = await d.RunAsync("journal", "export");

        Assert.Equal(0, deny.ExitCode);
        Assert.Equal(0, export.ExitCode);
        var stored = System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(d.JournalPath, Ct)) + export.Out;
        foreach (var secret in new[] { "Hunter2.pw", "Other.pw", "Third.pw" })
        {
            Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        }

        Assert.Contains("use password=****** or admin:******@10.0.0.1, secret=******", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approve_KindWithoutActuator_RefusedWithoutApproving()
    {
        using var d = new CliDeployment();
        var action = await SeedPendingAsync(d, kind: "nothing.here");

        var approve = await d.RunAsync("approve", action.Id, "--note", "go");
        var pending = await d.RunAsync("approvals");

        Assert.Equal(2, approve.ExitCode);
        Assert.Contains("no actuator", approve.Error, StringComparison.Ordinal);
        Assert.Contains(action.Id, pending.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApproveAndDeny_UnknownId_UsageError()
    {
        using var d = new CliDeployment();

        var approve = await d.RunAsync("approve", "act-000000000000");
        var deny = await d.RunAsync("deny", "act-000000000000");

        Assert.Equal(2, approve.ExitCode);
        Assert.Equal(2, deny.ExitCode);
        Assert.Contains("no approval act-000000000000", deny.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Undo_IrreversibleOrUnknownAction_UsageError()
    {
        using var d = new CliDeployment();
        Directory.CreateDirectory(Path.GetDirectoryName(d.JournalPath)!);
        var kill = ScriptedActuator.KillAction("k");
        await using (var journal = await SqliteJournal.OpenAsync(d.JournalPath, new SecretStore(), new FakeTimeProvider(), Ct))
        {
            await journal.TryAppendIntentAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent",
                new IntentPayload(kill, PrecheckResult.Pass("x", "ok"), IntentOwner.Current, null), "pg-test", null, kill.Id, kill.Kind), Ct);
            await journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, "done",
                new OutcomePayload { Status = ActionOutcomeStatus.Succeeded, Message = "ok", Action = kill }, "pg-test", null, kill.Id, kill.Kind), Ct);
        }

        var irreversible = await d.RunAsync("undo", kill.Id);
        var unknown = await d.RunAsync("undo", "act-ffffffffffff");

        Assert.Equal(2, irreversible.ExitCode);
        Assert.Contains("irreversible", irreversible.Error, StringComparison.Ordinal);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no action act-ffffffffffff", unknown.Error, StringComparison.Ordinal);
    }
}
