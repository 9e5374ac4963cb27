using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;

namespace PgRuntimeAgent.Tests.Acting;

/// <summary>
/// The SSH and Ansible actuators through the real pipeline, with stand-in <c>ssh</c> and <c>ansible-playbook</c>
/// scripts (the ssh stand-in runs the command locally; the ansible one records its arguments and prints a recap).
/// </summary>
public sealed class ShellActuatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-shell-actuators-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Topology Topology() => new()
    {
        SourcePath = Path.Combine(_dir, "pigsty.yml"),
        Generation = PigstyGeneration.V4,
        Infra = new InfraEndpoints(),
        Clusters =
        [
            new PgCluster
            {
                Name = "pg-test",
                Ha = new HaSettings(),
                Backup = new BackupSettings(),
                Credentials = new ClusterCredentials(),
                Members = new[] { 1, 2 }.Select(i => new PgMember
                {
                    Name = $"pg-test-{i}",
                    Cluster = "pg-test",
                    Seq = i,
                    Ip = $"127.0.0.{10 + i}",
                    DeclaredRole = i == 1 ? DeclaredRole.Primary : DeclaredRole.Replica,
                    Ports = new MemberPorts(),
                }).ToList(),
            },
        ],
    };

    private string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    /// <summary>A host key in known_hosts' base64 form (any bytes: the stand-in ssh never checks it).</summary>
    private const string HostKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOw0mY2lSvl3AEvQUebEGcSBcmJ/GbsPMXnmiV1wSDbQ";

    /// <summary><c>sensing.ssh</c> with both members' host keys pinned (port 22) in the test's own known_hosts.</summary>
    private PgRuntimeAgent.Sensing.SshSettings PinnedSsh()
    {
        var path = Path.Combine(_dir, "pinned_known_hosts");
        File.WriteAllText(path, $"127.0.0.11 ssh-ed25519 {HostKey}\n127.0.0.12 ssh-ed25519 {HostKey}\n");
        return new PgRuntimeAgent.Sensing.SshSettings { KnownHostsPath = path };
    }

    /// <summary>A stand-in ssh: logs the host, then runs everything after "--" locally.</summary>
    private string FakeSsh() => Script("ssh", $"""
        while [ "$1" != "--" ]; do last="$1"; shift; done
        shift
        echo "$last" >> "{_dir}/ssh-hosts"
        exec sh -c "$*"
        """);

    private async Task<(ActingHarness H, ActionPipeline Pipeline)> PipelineAsync(IActuator actuator, PolicySettings policy)
    {
        var h = await ActingHarness.CreateAsync(policy);
        var pipeline = new ActionPipeline(h.Journal, new PolicyGate(policy, h.Journal, h.Time), new ApprovalBook(h.Journal, policy.ApprovalTtl(), h.Time),
            new ActuatorRegistry([actuator]), h.State, h.Time);
        return (h, pipeline);
    }

    private PolicySettings SshPolicy() => new()
    {
        SshCommands = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["make-flag"] = $"touch {_dir}/flag-{{member}} && echo made {{member}} of {{cluster}}",
            ["check-flag"] = $"test -f {_dir}/flag-{{member}}",
            ["remove-flag"] = $"rm -f {_dir}/flag-{{member}}",
            ["fail"] = "echo boom >&2; exit 3",
        },
    };

    [Fact]
    public async Task Ssh_AllowListedCommand_RunsOnTheMemberVerifiesAndUndoes()
    {
        var policy = SshPolicy();
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, FakeSsh(), PinnedSsh()), policy);
        await using var _ = h;
        var action = SshCommandActuator.Plan("pg-test", "pg-test-2", "make-flag", verifyCommand: "check-flag", undoCommand: "remove-flag");

        var result = await pipeline.RunAsync(action, dryRun: false, Ct);
        var flagAfterRun = File.Exists(Path.Combine(_dir, "flag-pg-test-2"));
        var undo = await pipeline.UndoAsync(action.Id, "alice", dryRun: false, Ct);

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.True(flagAfterRun);
        Assert.Equal("127.0.0.12", File.ReadAllLines(Path.Combine(_dir, "ssh-hosts"))[0]);
        Assert.Contains("made pg-test-2 of pg-test", result.Execution!.Output, StringComparison.Ordinal);
        Assert.Equal(ActionStatus.Succeeded, undo.Status);
        Assert.False(File.Exists(Path.Combine(_dir, "flag-pg-test-2")));
        var outcome = (await h.Journal.GetAsync(result.OutcomeSeq!.Value, Ct))!;
        Assert.Contains("made pg-test-2 of pg-test", outcome.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ssh_CommandNotOnAllowList_FailsPrecheckAndNothingRuns()
    {
        var policy = SshPolicy();
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, FakeSsh(), PinnedSsh()), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-1", "rm -rf /"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        Assert.Contains("not on policy.ssh_commands", result.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-hosts")));
    }

    [Fact]
    public async Task Ssh_CommandFails_RecordsExecuteFailedWithOutput()
    {
        var policy = SshPolicy();
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, FakeSsh(), PinnedSsh()), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-1", "fail"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Unknown, result.Status);
        Assert.Contains("exited 3", result.Message, StringComparison.Ordinal);
        Assert.Contains("boom", result.Execution!.Output, StringComparison.Ordinal);
    }

    private string FakeAnsible(int checkChanged) => Script("ansible-playbook", $$"""
        echo "$@" >> "{{_dir}}/ansible-calls"
        case "$*" in
          *--check*) echo "PLAY RECAP"; echo "127.0.0.11 : ok=3    changed=$(cat {{_dir}}/check-changed 2>/dev/null || echo {{checkChanged}})    unreachable=0    failed=0    skipped=0";;
          *) echo "TASK [reload] changed"; echo "PLAY RECAP"; echo "127.0.0.11 : ok=3    changed=1    unreachable=0    failed=0    skipped=0"; echo 0 > {{_dir}}/check-changed;;
        esac
        """);

    private PolicySettings AnsiblePolicy()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "ansible"));
        File.WriteAllText(Path.Combine(_dir, "ansible", "pgsql-reload.yml"), "- hosts: all\n");
        File.WriteAllText(Path.Combine(_dir, "pigsty.yml"), "all: {}\n");
        return new PolicySettings { AnsiblePlaybooks = ["pgsql-reload.yml"], AnsibleDir = Path.Combine(_dir, "ansible") };
    }

    [Fact]
    public async Task Ansible_CheckFirstThenApply_VerifiedByACleanCheckRun()
    {
        var policy = AnsiblePolicy();
        var (h, pipeline) = await PipelineAsync(new AnsiblePlaybookActuator(Topology(), policy.AnsiblePlaybooks, policy.AnsibleDir, FakeAnsible(checkChanged: 1)), policy);
        await using var _ = h;
        var action = AnsiblePlaybookActuator.Plan("pg-test", "pgsql-reload.yml", limit: "pg-test", tags: "pg_reload", checkFirst: true);

        var result = await pipeline.RunAsync(action, dryRun: false, Ct);
        var calls = File.ReadAllLines(Path.Combine(_dir, "ansible-calls"));

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.Equal(3, calls.Length);
        Assert.Contains("--check --diff", calls[0], StringComparison.Ordinal);
        Assert.Contains("--limit pg-test --tags pg_reload", calls[1], StringComparison.Ordinal);
        Assert.DoesNotContain("--check", calls[1], StringComparison.Ordinal);
        Assert.Contains("--check", calls[2], StringComparison.Ordinal);
        Assert.Contains("TASK [reload] changed", result.Execution!.Output, StringComparison.Ordinal);
        Assert.Equal("1", result.Execution.Details["changed"]);
        Assert.Contains("nothing left to change", result.Verification!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ansible_PlaybookNotAllowListed_FailsPrecheck()
    {
        var policy = AnsiblePolicy();
        var (h, pipeline) = await PipelineAsync(new AnsiblePlaybookActuator(Topology(), policy.AnsiblePlaybooks, policy.AnsibleDir, FakeAnsible(0)), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(AnsiblePlaybookActuator.Plan("pg-test", "../../etc/evil.yml"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        Assert.Contains("not on policy.ansible_playbooks", result.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "ansible-calls")));
    }

    /// <summary>A stand-in ssh that records its arguments (one per line) and answers like ssh does when it cannot connect.</summary>
    private string RecordingSsh(int exitCode, string stderr) => Script("ssh", $"""
        for a in "$@"; do echo "$a"; done > "{_dir}/ssh-args"
        echo "{stderr}" >&2
        exit {exitCode}
        """);

    [Fact]
    public async Task Ssh_SshSettings_PassesPortUserKeyAndPinnedKnownHostsAndTheCommandAsOneArgument()
    {
        var policy = SshPolicy();
        File.WriteAllText(Path.Combine(_dir, "id_ed25519"), "key");
        File.WriteAllText(Path.Combine(_dir, "known_hosts"), $"[127.0.0.12]:2222 ssh-ed25519 {HostKey}\n");
        var ssh = new PgRuntimeAgent.Sensing.SshSettings
        {
            User = "postgres",
            Port = 2222,
            PrivateKeyPath = Path.Combine(_dir, "id_ed25519"),
            KnownHostsPath = Path.Combine(_dir, "known_hosts"),
        };
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, RecordingSsh(0, ""), ssh), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-2", "make-flag"), dryRun: false, Ct);
        var args = File.ReadAllLines(Path.Combine(_dir, "ssh-args"));

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        var text = string.Join(' ', args);
        Assert.Contains("-o BatchMode=yes", text, StringComparison.Ordinal);
        Assert.Contains("-o StrictHostKeyChecking=yes", text, StringComparison.Ordinal);
        Assert.Contains($"-p 2222 -l postgres -i {_dir}/id_ed25519 -o IdentitiesOnly=yes", text, StringComparison.Ordinal);
        Assert.Contains($"-o UserKnownHostsFile={_dir}/known_hosts -o GlobalKnownHostsFile=/dev/null", text, StringComparison.Ordinal);
        Assert.Equal(["127.0.0.12", "--", $"touch {_dir}/flag-pg-test-2 && echo made pg-test-2 of pg-test"], args[^3..]);
    }

    [Fact]
    public async Task Ssh_CannotConnect_SaysTheCommandDidNotRunAndReconcilesAsUnknown()
    {
        var policy = SshPolicy();
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, RecordingSsh(255, "ssh: connect to host 127.0.0.11 port 22: Connection refused"), PinnedSsh()), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-1", "make-flag", verifyCommand: "check-flag"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.Unknown, result.Status);
        Assert.Contains("'make-flag' did not run: ssh could not connect to root@127.0.0.11:22 or was refused (exit 255): ssh: connect to host 127.0.0.11 port 22: Connection refused",
            result.Execution!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ssh_KeyFileMissing_FailsPrecheckWithoutRunningSsh()
    {
        var policy = SshPolicy();
        var ssh = new PgRuntimeAgent.Sensing.SshSettings { PrivateKeyPath = Path.Combine(_dir, "no-such-key") };
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, RecordingSsh(0, ""), ssh), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-1", "make-flag"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        Assert.Contains(result.Precheck!.Checks, c => c.Name == "ssh-key" && !c.Passed && c.Detail.Contains("no-such-key", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-args")));
    }

    [Fact]
    public async Task Ssh_HostKeyNotPinned_FailsPrecheckWithoutRunningSsh()
    {
        var policy = SshPolicy();
        var known = Path.Combine(_dir, "known_hosts");
        File.WriteAllText(known, $"127.0.0.12 ssh-ed25519 {HostKey}\n");
        var ssh = new PgRuntimeAgent.Sensing.SshSettings { KnownHostsPath = known };
        var (h, pipeline) = await PipelineAsync(new SshCommandActuator(Topology(), policy.SshCommands, RecordingSsh(0, ""), ssh), policy);
        await using var _ = h;

        var result = await pipeline.RunAsync(SshCommandActuator.Plan("pg-test", "pg-test-1", "make-flag"), dryRun: false, Ct);

        Assert.Equal(ActionStatus.PrecheckFailed, result.Status);
        Assert.Contains(result.Precheck!.Checks, c => c.Name == "ssh-host-key" && !c.Passed
            && c.Detail.Contains($"the host key of 127.0.0.11:22 is not pinned in {known}", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-args")));
    }

    [Fact]
    public async Task Ansible_MemberTarget_LimitsToTheMembersInventoryHost()
    {
        var policy = AnsiblePolicy();
        var (h, pipeline) = await PipelineAsync(new AnsiblePlaybookActuator(Topology(), policy.AnsiblePlaybooks, policy.AnsibleDir, FakeAnsible(0)), policy);
        await using var _ = h;
        var action = AnsiblePlaybookActuator.Plan("pg-test", "pgsql-reload.yml", checkFirst: false) with { Member = "pg-test-2" };

        var result = await pipeline.RunAsync(action, dryRun: false, Ct);
        var calls = File.ReadAllLines(Path.Combine(_dir, "ansible-calls"));

        Assert.Equal(ActionStatus.Succeeded, result.Status);
        Assert.All(calls, c => Assert.Contains("--limit 127.0.0.12", c, StringComparison.Ordinal));
    }

    [Fact]
    public void Recap_AnsibleOutput_SumsHosts()
    {
        var recap = AnsiblePlaybookActuator.Recap.Parse("""
            PLAY RECAP *********************************************************************
            10.10.10.11                : ok=12   changed=2    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
            10.10.10.12                : ok=10   changed=0    unreachable=1    failed=1    skipped=3    rescued=0    ignored=0
            """);

        Assert.Equal(new AnsiblePlaybookActuator.Recap(2, 22, 2, 1, 1), recap);
    }

    public void Dispose()
    {
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
