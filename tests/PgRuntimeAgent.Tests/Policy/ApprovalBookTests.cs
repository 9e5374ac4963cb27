using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Tests.Acting;

namespace PgRuntimeAgent.Tests.Policy;

public sealed class ApprovalBookTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(ActingHarness H, Approval Approval)> RequestedAsync(double ttlMinutes = 30)
    {
        var h = await ActingHarness.CreateAsync(new PolicySettings { DefaultLevel = 2, ApprovalTtlMinutes = ttlMinutes });
        var action = ScriptedActuator.SetAction("k", "v", trigger: ActionTrigger.Reactive);
        var decision = await h.Gate().EvaluateAsync(new PolicyRequest { Action = action, State = h.HealthyState() }, Ct);
        var approval = await h.Approvals().RequestAsync(action, decision, new JsonObject { ["leader"] = "pg-test-1" }, Ct);
        return (h, approval);
    }

    [Fact]
    public async Task Request_ThenList_ShowsPendingWithActionAndEvidence()
    {
        var (h, requested) = await RequestedAsync();
        await using var _ = h;

        var pending = await h.Approvals().ListAsync(includeClosed: false, Ct);
        var entry = (await h.Journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.ApprovalRequested] }, Ct)).Single();

        var approval = Assert.Single(pending);
        Assert.Equal(requested.Id, approval.Id);
        Assert.Equal(ApprovalStatus.Pending, approval.Status);
        Assert.Equal("v", approval.Action.Parameters["value"]);
        Assert.Equal("pg-test-1", approval.Evidence?["leader"]?.GetValue<string>());
        Assert.Equal(h.Time.GetUtcNow().AddMinutes(30), approval.ExpiresAt);
        Assert.Equal(requested.Id, entry.CorrelationId);
        Assert.Contains("autonomy-level", entry.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approve_Pending_RecordsWhoAndNote()
    {
        var (h, requested) = await RequestedAsync();
        await using var _ = h;

        var approved = await h.Approvals().ApproveAsync(requested.Id, "alice", "checked the lag", Ct);
        var reread = await h.Approvals().GetAsync(requested.Id, Ct);
        var pending = await h.Approvals().ListAsync(includeClosed: false, Ct);

        Assert.Equal(ApprovalStatus.Approved, approved.Status);
        Assert.Equal(ApprovalStatus.Approved, reread!.Status);
        Assert.Equal("alice", reread.DecidedBy);
        Assert.Equal("checked the lag", reread.Note);
        Assert.Empty(pending);
    }

    [Fact]
    public async Task Deny_Pending_IsDeniedAndCannotBeApprovedAfter()
    {
        var (h, requested) = await RequestedAsync();
        await using var _ = h;

        await h.Approvals().DenyAsync(requested.Id, "bob", "not during business hours", Ct);
        var ex = await Assert.ThrowsAsync<InputException>(() => h.Approvals().ApproveAsync(requested.Id, "alice", null, Ct));
        var all = await h.Approvals().ListAsync(includeClosed: true, Ct);

        Assert.Contains("denied by bob", ex.Message, StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Denied, Assert.Single(all).Status);
    }

    [Fact]
    public async Task Approve_AfterExpiry_RefusedAsExpired()
    {
        var (h, requested) = await RequestedAsync(ttlMinutes: 10);
        await using var _ = h;

        h.Time.Advance(TimeSpan.FromMinutes(10));
        var ex = await Assert.ThrowsAsync<InputException>(() => h.Approvals().ApproveAsync(requested.Id, "alice", null, Ct));
        var all = await h.Approvals().ListAsync(includeClosed: true, Ct);

        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Expired, Assert.Single(all).Status);
        Assert.Empty(await h.Approvals().ListAsync(includeClosed: false, Ct));
    }

    [Fact]
    public async Task Approve_UnknownId_IsInputError()
    {
        await using var h = await ActingHarness.CreateAsync();

        var ex = await Assert.ThrowsAsync<InputException>(() => h.Approvals().ApproveAsync("act-nope", "alice", null, Ct));

        Assert.Contains("no approval act-nope", ex.Message, StringComparison.Ordinal);
    }
}
