using System.Diagnostics;
using Microsoft.Data.Sqlite;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Acting;

/// <summary>
/// A real pgra process is killed (SIGKILL, whole process tree) in the middle of an action; the next pgra process
/// finds the open intent, asks the actuator whether the action happened, records the outcome, and only then runs
/// its own action. The action is an allow-listed <c>ssh.command</c> against loopback addresses, with a stand-in
/// <c>ssh</c> first on PATH that runs the command locally.
/// </summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-crash-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Inventory => Path.Combine(_dir, "pigsty.yml");

    private string JournalPath => Path.Combine(_dir, "journal.db");

    private void WriteDeployment()
    {
        File.WriteAllText(Inventory, """
            all:
              children:
                pg-test:
                  hosts:
                    127.0.0.91: { pg_seq: 1, pg_role: primary }
                    127.0.0.92: { pg_seq: 2, pg_role: replica }
                  vars:
                    pg_cluster: pg-test
              vars:
                version: v4.0.0
                admin_ip: 127.0.0.90
            """);
        // the stand-in ssh never checks host keys, but the agent refuses a host with none pinned before ssh starts
        File.WriteAllText(Path.Combine(_dir, "known_hosts"),
            "127.0.0.91 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOw0mY2lSvl3AEvQUebEGcSBcmJ/GbsPMXnmiV1wSDbQ\n"
            + "127.0.0.92 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOw0mY2lSvl3AEvQUebEGcSBcmJ/GbsPMXnmiV1wSDbQ\n");
        File.WriteAllText(Path.Combine(_dir, "pigsty.pgra.yml"), $"""
            journal:
              path: journal.db
            sensing:
              ssh:
                known_hosts_path: {_dir}/known_hosts
            policy:
              default_level: 2
              default_cooldown_seconds: 0
              ssh_commands:
                slow-flag: "echo run >> {_dir}/runs; sleep 1; touch {_dir}/flag; sleep 60"
                check-flag: "test -f {_dir}/flag"
                quick: "touch {_dir}/quick"
            """);
        var bin = Directory.CreateDirectory(Path.Combine(_dir, "bin")).FullName;
        var ssh = Path.Combine(bin, "ssh");
        File.WriteAllText(ssh, "#!/bin/sh\nwhile [ \"$1\" != \"--\" ]; do shift; done\nshift\nexec sh -c \"$*\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(ssh, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private async Task<PlannedAction> SeedApprovalAsync(string member, string command, string? verify)
    {
        await using var journal = await SqliteJournal.OpenAsync(JournalPath, new SecretStore(), TimeProvider.System, Ct);
        var action = SshCommandActuator.Plan("pg-test", member, command, verifyCommand: verify, trigger: ActionTrigger.Reactive) with { Risk = ActionRisk.Medium };
        var policy = new PolicySettings { DefaultLevel = 2 };
        var decision = await new PolicyGate(policy, journal, TimeProvider.System).EvaluateAsync(new PolicyRequest { Action = action }, Ct);
        await new ApprovalBook(journal, policy.ApprovalTtl(), TimeProvider.System).RequestAsync(action, decision, null, Ct);
        return action;
    }

    private Process StartPgra(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", ["exec", Path.Combine(AppContext.BaseDirectory, "pgra.dll"), "-i", Inventory, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PATH"] = Path.Combine(_dir, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["PGRA_OPERATOR"] = "tester";
        return Process.Start(start)!;
    }

    private async Task<IReadOnlyList<JournalEntry>> EntriesAsync()
    {
        await using var journal = await SqliteJournal.OpenAsync(JournalPath, new SecretStore(), TimeProvider.System, Ct);
        return await journal.QueryAsync(new JournalQuery(), Ct);
    }

    [Fact]
    public async Task Approve_ProcessKilledMidAction_NextRunReconcilesFirstAndNeverRepeatsIt()
    {
        WriteDeployment();
        var slow = await SeedApprovalAsync("pg-test-1", "slow-flag", "check-flag");
        var quick = await SeedApprovalAsync("pg-test-2", "quick", null);

        using (var first = StartPgra("approve", slow.Id))
        {
            var flag = Path.Combine(_dir, "flag");
            var started = Stopwatch.StartNew();
            while (!File.Exists(flag) && !first.HasExited && started.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100, Ct);
            }

            Assert.True(File.Exists(flag), "the first pgra never got to run the command: " + (first.HasExited ? await first.StandardError.ReadToEndAsync(Ct) : "still running"));
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync(Ct);
        }

        var afterKill = await EntriesAsync();
        var intent = Assert.Single(afterKill, e => e.Kind == JournalKinds.ActionIntent);
        Assert.Equal(slow.Id, intent.CorrelationId);
        Assert.DoesNotContain(afterKill, e => e.Kind == JournalKinds.ActionOutcome);

        string output;
        int exitCode;
        using (var second = StartPgra("approve", quick.Id))
        {
            output = await second.StandardOutput.ReadToEndAsync(Ct) + await second.StandardError.ReadToEndAsync(Ct);
            await second.WaitForExitAsync(Ct);
            exitCode = second.ExitCode;
        }

        Assert.True(exitCode == 0, output);
        var entries = await EntriesAsync();
        var reconciled = Assert.Single(entries, e => e.Kind == JournalKinds.ActionOutcome && e.CorrelationId == slow.Id);
        var payload = reconciled.PayloadAs<OutcomePayload>()!;
        Assert.True(payload.Reconciled);
        Assert.Equal(ActionOutcomeStatus.Succeeded, payload.Status);
        var quickDecision = entries.First(e => e.Kind == JournalKinds.Decision && e.CorrelationId == quick.Id);
        Assert.True(reconciled.Seq < quickDecision.Seq, "the interrupted action's outcome is recorded before the next action is decided");
        Assert.Single(entries, e => e.Kind == JournalKinds.ActionIntent && e.CorrelationId == slow.Id);
        Assert.Equal(ActionOutcomeStatus.Succeeded, entries.Single(e => e.Kind == JournalKinds.ActionOutcome && e.CorrelationId == quick.Id).PayloadAs<OutcomePayload>()!.Status);
        Assert.Single(File.ReadAllLines(Path.Combine(_dir, "runs")));
        Assert.True(File.Exists(Path.Combine(_dir, "quick")));
        await using var journal = await SqliteJournal.OpenAsync(JournalPath, new SecretStore(), TimeProvider.System, Ct);
        Assert.True((await journal.VerifyAsync(Ct)).Ok);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left in the temp directory
        }
    }
}
