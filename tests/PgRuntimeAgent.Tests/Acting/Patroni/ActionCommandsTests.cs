using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Fencing;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Journal;

namespace PgRuntimeAgent.Tests.Acting.Patroni;

/// <summary>
/// Bad input to the acting verbs, on the bundled sample inventory (its 10.10.10.x members are never contacted: every
/// case here is refused before anything is sensed).
/// </summary>
public sealed class ActionCommandsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("switchover", "pg-nope")]
    [InlineData("failover", "pg-nope", "--to", "pg-nope-1")]
    [InlineData("config", "set", "pg-nope", "work_mem=8MB")]
    [InlineData("act", "patroni.pause", "pg-nope")]
    [InlineData("reconcile", "pg-nope")]
    public async Task Verb_UnknownCluster_Exit2NamingTheClusters(params string[] args)
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no cluster 'pg-nope'", result.Error, StringComparison.Ordinal);
        Assert.Contains("pg-meta", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("switchover", "pg-test", "--to", "pg-test-9")]
    [InlineData("failover", "pg-test", "--to", "pg-test-9")]
    [InlineData("act", "patroni.restart", "pg-test", "--member", "pg-meta-1")]
    public async Task Verb_UnknownMember_Exit2NamingTheMembers(params string[] args)
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no member", result.Error, StringComparison.Ordinal);
        Assert.Contains("pg-test-1, pg-test-2, pg-test-3", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failover_WithoutTo_Exit2()
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync("failover", "pg-test");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--to", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigSet_Malformed_Exit2WithEveryProblem()
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync("config", "set", "pg-test", "work_mem", "1x=2", "ttl=");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("bad NAME=VALUE assignments", result.Error, StringComparison.Ordinal);
        Assert.Contains("'work_mem': expected NAME=VALUE", result.Error, StringComparison.Ordinal);
        Assert.Contains("'1x'", result.Error, StringComparison.Ordinal);
        Assert.Contains("'ttl=': no value", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("act", "sql.drop_everything", "pg-test")]
    [InlineData("act", "patroni.pause", "pg-test", "--param", "force=true")]
    [InlineData("act", "sql.create_index", "pg-test", "--param", "table")]
    [InlineData("act", "sql.create_index", "pg-test", "--param", "table=t", "--param", "columns=a,,b")]
    [InlineData("act", "sql.create_index", "pg-test", "--param", "table=t", "--param", "columns=a", "--param", "method=magic")]
    [InlineData("act", "sql.terminate_backend", "pg-test", "--param", "pid=-4")]
    [InlineData("act", "sql.alter_system", "pg-test", "--param", "name=work_mem")]
    [InlineData("act", "patroni.restart", "pg-test")]
    [InlineData("act", "member.fence", "pg-test")]
    public async Task Act_BadKindOrParameters_Exit2(params string[] args)
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Undo_IrreversibleAction_Exit2SaysIrreversible()
    {
        using var d = new CliDeployment();
        var action = FenceActuator.Plan("pg-test", "pg-test-1") with { Initiator = "tester" };
        Directory.CreateDirectory(Path.GetDirectoryName(d.JournalPath)!);
        await using (var journal = await SqliteJournal.OpenAsync(d.JournalPath, new SecretStore(), TimeProvider.System, Ct))
        {
            await journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionIntent, "intent: " + action.Summary,
                new IntentPayload(action, PrecheckResult.Pass("x", "y"), IntentOwner.Current, null), action.Cluster, action.Member, action.Id, action.Kind), Ct);
            await journal.AppendAsync(JournalRecord.Create(JournalKinds.ActionOutcome, "succeeded: " + action.Summary,
                new OutcomePayload { Status = ActionOutcomeStatus.Succeeded, Message = "fenced", Action = action }, action.Cluster, action.Member, action.Id, action.Kind), Ct);
        }

        var result = await d.RunAsync("undo", action.Id);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is irreversible: it has no undo", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Act_ReasonWithPasswords_IsJournaledRedacted()
    {
        // --reason is free text that goes into the journal with the action (issue #10: journaled unredacted when it
        // held password=... or user:pw@host). The sample's members never answer, so the precheck fails after the
        // decision, reason included, is journaled.
        using var d = new CliDeployment();

        var act = await d.RunAsync("act", "patroni.pause", "pg-test", "--reason", "maintenance, password=Hunter2.pw and admin:Other.pw@10.0.0.1");
        var export = await d.RunAsync("journal", "export");

        Assert.Equal(0, export.ExitCode);
        Assert.Contains("patroni.pause", act.Out, StringComparison.Ordinal);
        var stored = export.Out + act.Out + act.Error;
        foreach (var file in new[] { d.JournalPath, d.JournalPath + "-wal" }.Where(File.Exists))
        {
            stored += System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(file, Ct));
        }

        Assert.DoesNotContain("Hunter2.pw", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("Other.pw", stored, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"maintenance, password=****** and admin:******@10.0.0.1\"", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_EmptyJournal_SaysNothingOpen()
    {
        using var d = new CliDeployment();

        var result = await d.RunAsync("reconcile");
        var json = await d.RunAsync("reconcile", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("no open intents", result.Out, StringComparison.Ordinal);
        Assert.Equal("[]", json.Out.Trim());
    }

    [Fact]
    public void ParseParams_Malformed_InputError()
    {
        Assert.Equal("b=c", PgRuntimeAgent.Cli.Commands.ActionCommands.ParseParams(["a=b=c"])["a"]);
        var ex = Assert.Throws<InputException>(() => PgRuntimeAgent.Cli.Commands.ActionCommands.ParseParams(["x", "a=1", "a=2"]));
        Assert.Equal(2, ex.Problems.Count);
    }
}
