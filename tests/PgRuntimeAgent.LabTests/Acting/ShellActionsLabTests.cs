using System.Diagnostics;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.LabTests.Acting;

/// <summary>
/// The SSH and Ansible actuators through the real pipeline against the lab's real sshd instances (openssh-server,
/// 127.0.0.11-13:2222, key-only, pinned host keys) and real ansible-playbook with the lab's inventory
/// (inventory/lab.yml carries the connection: port, user, key, known_hosts). Each test has its own journal.
/// </summary>
public sealed class ShellActionsLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Policy(LabInfo lab) => $$"""
        ssh_commands:
          touch-marker: "touch {{lab.Dir}}/{member}/run/pgra-ssh-marker && id -un && grep -h password {{lab.Dir}}/{member}/conf/patroni.yml"
          check-marker: "test -f {{lab.Dir}}/{member}/run/pgra-ssh-marker"
          remove-marker: "rm -f {{lab.Dir}}/{member}/run/pgra-ssh-marker"
          quoting: "printf '[%s]' \"a b\" 'c;d' {member} {cluster}; echo; echo to-stderr >&2; exit 3"
        ansible_playbooks: [ playbooks/pgra-check.yml, playbooks/pgra-check-undo.yml ]
        ansible_dir: {{Path.Combine(RepoPaths.Root, "ansible")}}
        """;

    /// <summary>The acting services as <c>pgra</c> opens them (every discovered actuator, guardrails from sensing) over the test's settings.</summary>
    private static class Session
    {
        public static Task<ActingServices> OpenAsync(ActingLab acting, string? settingsPath = null) =>
            LabSsh.LoadWorkspace(acting.Lab, settingsPath ?? acting.SettingsPath).OpenActingAsync(TimeProvider.System, null, null, Ct);
    }

    private static string Marker(LabInfo lab, string member) => Path.Combine(lab.Dir, member, "run", "pgra-ssh-marker");

    private static Dictionary<string, int> SshdLogLines(LabInfo lab) => lab.Members.ToDictionary(m => m.Name, m => LabSsh.LogLines(lab, m).Count);

    private static List<string> NewLogLines(LabInfo lab, string member, Dictionary<string, int> before) =>
        LabSsh.LogLines(lab, lab.Member(member)).Skip(before[member]).ToList();

    [Fact]
    public async Task SshCommand_AllowListed_RunsOverRealSshJournalsRedactedOutputVerifiesAndUndoes()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        File.Delete(Marker(lab, "pg-test-2"));
        var before = SshdLogLines(lab);
        await using var session = await Session.OpenAsync(acting);
        var action = SshCommandActuator.Plan(lab.Cluster, "pg-test-2", "touch-marker", verifyCommand: "check-marker", undoCommand: "remove-marker", initiator: "lab-test");
        var clock = Stopwatch.StartNew();

        var result = await session.Pipeline.RunAsync(action, dryRun: false, Ct);
        var elapsed = clock.Elapsed;

        Assert.True(result.Status == ActionStatus.Succeeded, $"{result.Status}: {result.Message}\n{result.Execution?.Output}");
        Assert.Equal(VerifyStatus.Verified, result.Verification!.Status);
        Assert.True(File.Exists(Marker(lab, "pg-test-2")));
        Assert.False(File.Exists(Marker(lab, "pg-test-1")));
        Assert.StartsWith("postgres\n", result.Execution!.Output, StringComparison.Ordinal); // id -un on the member, as sensing.ssh.user
        // through pg-test-2's own sshd, and no other member's
        Assert.Contains(NewLogLines(lab, "pg-test-2", before), l => l.Contains("Accepted publickey for postgres", StringComparison.Ordinal));
        Assert.DoesNotContain(NewLogLines(lab, "pg-test-1", before), l => l.Contains("Accepted", StringComparison.Ordinal));

        // the journal keeps the output with the inventory's secrets masked (patroni.yml's passwords were printed)
        var outcome = (await acting.JournalAsync(action.Id)).Last(e => e.Kind == "action.outcome");
        Assert.Contains("postgres", outcome.Payload, StringComparison.Ordinal);
        Assert.Contains("password", outcome.Payload, StringComparison.Ordinal);
        Assert.Contains("******", outcome.Payload, StringComparison.Ordinal);
        Assert.DoesNotContain(lab.Credentials.Replication.Password, outcome.Payload, StringComparison.Ordinal);
        await acting.AssertNoSecretsInJournalAsync();

        var undo = await acting.PgraAsync("undo", action.Id);
        Assert.True(undo.ExitCode == 0, undo.ToString());
        Assert.False(File.Exists(Marker(lab, "pg-test-2")));
        LabSsh.Figure($"ssh.command over the lab's sshd: intent to verified outcome {elapsed.TotalSeconds:0.00} s (two ssh sessions)");
    }

    [Fact]
    public async Task PgraAct_SshCommand_RunsVerifiesAndUndoesFromTheCommandLine()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        var marker = Marker(lab, "pg-test-1");
        File.Delete(marker);

        var run = await acting.PgraAsync("act", "ssh.command", lab.Cluster, "--member", "pg-test-1", "--param", "command=touch-marker",
            "--param", "verify_command=check-marker", "--param", "undo_command=remove-marker", "--param", "timeout_seconds=30", "--json");
        var refused = await acting.PgraAsync("act", "ssh.command", lab.Cluster, "--member", "pg-test-1", "--param", "command=reboot", "--json");
        var noMember = await acting.PgraAsync("act", "ssh.command", lab.Cluster, "--param", "command=touch-marker");

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        Assert.Equal("succeeded", json.GetProperty("status").GetString());
        Assert.Equal("verified", json.GetProperty("verification").GetProperty("status").GetString());
        Assert.Equal("30", json.GetProperty("action").GetProperty("parameters").GetProperty("timeout_seconds").GetString());
        Assert.True(File.Exists(marker));
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal("precheck-failed", refused.Json().GetProperty("status").GetString());
        Assert.Equal(2, noMember.ExitCode);
        Assert.Contains("needs a member", noMember.Error, StringComparison.Ordinal);

        var undo = await acting.PgraAsync("undo", json.GetProperty("action").GetProperty("id").GetString()!, "--json");
        Assert.True(undo.ExitCode == 0, undo.ToString());
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task SshCommand_NotAllowListed_RefusedAtPrecheckWithoutConnecting()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        var before = SshdLogLines(lab);
        await using var session = await Session.OpenAsync(acting);

        var result = await session.Pipeline.RunAsync(
            SshCommandActuator.Plan(lab.Cluster, "pg-test-1", "rm -rf /", verifyCommand: "cat /etc/shadow", initiator: "lab-test"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        var failed = result.Precheck!.Checks.Where(c => !c.Passed).Select(c => c.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["command-allowed", "verify_command-allowed"], failed);
        Assert.Contains("'rm -rf /' is not on policy.ssh_commands (allowed: check-marker, quoting, remove-marker, touch-marker)",
            result.Precheck.Checks.First(c => c.Name == "command-allowed").Detail, StringComparison.Ordinal);
        Assert.Null(result.Execution);
        Assert.All(lab.Members, m => Assert.DoesNotContain(NewLogLines(lab, m.Name, before), l => l.Contains("Accepted", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task SshCommand_QuotingStderrAndExitCode_ComeBackFromTheRemoteShellIntact()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        await using var session = await Session.OpenAsync(acting);

        var result = await session.Pipeline.RunAsync(SshCommandActuator.Plan(lab.Cluster, "pg-test-3", "quoting", initiator: "lab-test"), dryRun: false, Ct);

        Assert.NotEqual(ActionStatus.Succeeded, result.Status);
        Assert.False(result.Execution!.Succeeded);
        Assert.Equal("3", result.Execution.Details["exit_code"]);
        Assert.StartsWith("'quoting' exited 3", result.Execution.Message, StringComparison.Ordinal);
        Assert.Equal("[a b][c;d][pg-test-3][pg-test]\nto-stderr\n", result.Execution.Output);
    }

    [Fact]
    public async Task SshCommand_HostKeyNotPinned_DoesNotRunAndSaysSshRefused()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        File.Delete(Marker(lab, "pg-test-1"));
        var settings = await File.ReadAllTextAsync(acting.SettingsPath, Ct);
        var knownHosts = Path.Combine(acting.Dir, "known_hosts");
        // pg-test-2's key listed for pg-test-1: pg-test-1 answers with a key that is not pinned
        var pinned = (await File.ReadAllLinesAsync(LabSsh.Settings(lab).KnownHostsPath!, Ct)).Single(l => l.StartsWith("[127.0.0.12]:2222 ", StringComparison.Ordinal));
        await File.WriteAllTextAsync(knownHosts, pinned.Replace("[127.0.0.12]", "[127.0.0.11]", StringComparison.Ordinal) + "\n", Ct);
        var wrongSettings = Path.Combine(acting.Dir, "wrong-host-key.pgra.yml");
        var replaced = System.Text.RegularExpressions.Regex.Replace(settings, @"known_hosts_path: .*", "known_hosts_path: " + knownHosts);
        Assert.NotEqual(settings, replaced);
        await File.WriteAllTextAsync(wrongSettings, replaced, Ct);
        await using var session = await Session.OpenAsync(acting, wrongSettings);

        var result = await session.Pipeline.RunAsync(
            SshCommandActuator.Plan(lab.Cluster, "pg-test-1", "touch-marker", verifyCommand: "check-marker", initiator: "lab-test"), dryRun: false, Ct);

        Assert.NotEqual(ActionStatus.Succeeded, result.Status);
        Assert.False(File.Exists(Marker(lab, "pg-test-1")));
        Assert.Equal("255", result.Execution!.Details["exit_code"]);
        Assert.Contains("did not run: ssh could not connect to postgres@127.0.0.11:2222", result.Execution.Message, StringComparison.Ordinal);
        Assert.Contains("Host key verification failed", result.Execution.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnsiblePlaybook_CheckDiffThenApplyOnOneMember_VerifiedByACleanCheckAndUndone()
    {
        await using var acting = await ActingLab.StartAsync(Policy(await LabSsh.RequireAsync()));
        var lab = acting.Lab;
        var markers = lab.Members.ToDictionary(m => m.Name, m => Path.Combine(lab.Dir, "ansible-check", m.Ip + ".txt"));
        foreach (var path in markers.Values.Where(File.Exists))
        {
            File.Delete(path);
        }

        var before = SshdLogLines(lab);
        await using var session = await Session.OpenAsync(acting);
        var action = AnsiblePlaybookActuator.Plan(lab.Cluster, "playbooks/pgra-check.yml", checkFirst: true,
            undoPlaybook: "playbooks/pgra-check-undo.yml", initiator: "lab-test") with { Member = "pg-test-3" };
        var clock = Stopwatch.StartNew();

        var result = await session.Pipeline.RunAsync(action, dryRun: false, Ct);
        var elapsed = clock.Elapsed;

        var output = result.Execution?.Output ?? "";
        Assert.True(result.Status == ActionStatus.Succeeded, $"{result.Status}: {result.Message}\n{output}\n{result.Verification?.Message}");
        // --check --diff first: it showed the file it would write, then the apply wrote it
        var check = output[..output.IndexOf("$ ansible-playbook\n", StringComparison.Ordinal)];
        Assert.StartsWith("$ ansible-playbook --check --diff\n", check, StringComparison.Ordinal);
        Assert.Contains("+host 127.0.0.13 (user root)", check, StringComparison.Ordinal);
        Assert.Matches(@"127\.0\.0\.13\s*: ok=\d+\s+changed=[1-9]", check);
        Assert.True(int.Parse(result.Execution!.Details["changed"], System.Globalization.CultureInfo.InvariantCulture) >= 1, output);
        Assert.Equal("0", result.Execution.Details["failed"]);
        Assert.Equal(VerifyStatus.Verified, result.Verification!.Status);
        Assert.Contains("changed=0", result.Verification.Message, StringComparison.Ordinal);
        // only the member it was limited to (by its inventory host, 127.0.0.13), through its own sshd as root
        Assert.Contains("checked by pgra-check.yml", await File.ReadAllTextAsync(markers["pg-test-3"], Ct), StringComparison.Ordinal);
        Assert.False(File.Exists(markers["pg-test-1"]));
        Assert.False(File.Exists(markers["pg-test-2"]));
        Assert.Contains(NewLogLines(lab, "pg-test-3", before), l => l.Contains("Accepted publickey for root", StringComparison.Ordinal));
        Assert.DoesNotContain(NewLogLines(lab, "pg-test-1", before), l => l.Contains("Accepted", StringComparison.Ordinal));
        Assert.True(result.Undo is not null, "the undo playbook makes it reversible");

        var clockUndo = Stopwatch.StartNew();
        var undo = await session.Pipeline.UndoAsync(action.Id, "lab-test", dryRun: false, Ct);
        Assert.True(undo.Status == ActionStatus.Succeeded, $"{undo.Status}: {undo.Message}\n{undo.Execution?.Output}");
        Assert.False(File.Exists(markers["pg-test-3"]));
        LabSsh.Figure($"ansible.playbook pgra-check.yml on pg-test-3 (check, apply, verifying check): {elapsed.TotalSeconds:0.0} s; undo {clockUndo.Elapsed.TotalSeconds:0.0} s");
    }
}
