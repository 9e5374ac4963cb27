using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Acting.Backup;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Tests.Acting.Patroni;
using PgRuntimeAgent.Tests.Sensing;
using static PgRuntimeAgent.Tests.Acting.Patroni.ActingSnapshots;

namespace PgRuntimeAgent.Tests.Acting.Backup;

/// <summary>Answers pgbackrest command lines from a script: <c>info</c> with the current JSON, <c>backup</c> with an exit code (and a new backup in the next info).</summary>
internal sealed class ScriptedBackupRunner : IBackupCommandRunner
{
    public ConcurrentQueue<(BackupHost Host, IReadOnlyList<string> Argv)> Calls { get; } = new();

    public string Info { get; set; } = SensingFixtures.Recorded("pgbackrest-2.45", "info.json");

    /// <summary>The info JSON after a successful backup (null: unchanged).</summary>
    public string? InfoAfterBackup { get; set; }

    public ProcessResult BackupResult { get; set; } = new(0, "", "", TimeSpan.FromSeconds(3.2), false);

    public Task<ProcessResult> RunAsync(BackupHost host, IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Calls.Enqueue((host, argv));
        if (argv.Contains("info"))
        {
            return Task.FromResult(new ProcessResult(0, Info, "", TimeSpan.FromMilliseconds(300), false));
        }

        if (BackupResult.ExitCode == 0 && InfoAfterBackup is not null)
        {
            Info = InfoAfterBackup;
        }

        return Task.FromResult(BackupResult);
    }
}

public sealed class BackupRunActuatorTests
{
    private static readonly DateTimeOffset PlannedAt = new(2026, 11, 22, 19, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly PgBackRestSettings LabSettings = new() { Config = "/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", RunAs = "postgres" };

    private static (BackupRunActuator Actuator, ScriptedBackupRunner Runner) Create(bool local = true, bool root = true, params PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot[] snapshots)
    {
        var secrets = new SecretStore();
        var sensing = new ScriptedSensing(SensingFixtures.Topology(SensingFixtures.Cluster(secrets: secrets)), snapshots.Length == 0 ? [Healthy()] : snapshots);

        // Never the lab's addresses: a closed local port refuses at once, so pg1 comes from the configuration.
        var sql = new SqlConnector(secrets, "postgres") { AddressOf = _ => ("127.0.0.1", 9) };
        var runner = new ScriptedBackupRunner();
        var actuator = new BackupRunActuator(sensing, sql, LabSettings, runner, secrets, TimeProvider.System) { IsLocal = _ => local, RunningAsRoot = root };
        return (actuator, runner);
    }

    private static PlannedAction Diff(string? member = "pg-test-1") => BackupRunActuator.Plan("pg-test", member, "pg-test", "diff", PlannedAt);

    /// <summary>The recorded info with one more backup (and optionally the stanza lock held).</summary>
    private static string InfoWith(string? label = null, string type = "diff", DateTimeOffset? start = null, bool lockHeld = false, int code = 0)
    {
        var root = JsonNode.Parse(SensingFixtures.Recorded("pgbackrest-2.45", "info.json"))!.AsArray();
        var stanza = root[0]!.AsObject();
        if (label is not null)
        {
            var copy = stanza["backup"]!.AsArray()[^1]!.DeepClone().AsObject();
            var s = (start ?? PlannedAt.AddSeconds(2)).ToUnixTimeSeconds();
            copy["label"] = label;
            copy["type"] = type;
            copy["timestamp"] = new JsonObject { ["start"] = s, ["stop"] = s + 3 };
            stanza["backup"]!.AsArray().Add(copy);
        }

        stanza["status"] = new JsonObject
        {
            ["code"] = code,
            ["message"] = code == 0 ? "ok" : "missing stanza path",
            ["lock"] = new JsonObject { ["backup"] = new JsonObject { ["held"] = lockHeld } },
        };
        return root.ToJsonString();
    }

    private static string Checks(PrecheckResult p) => string.Join("; ", p.Checks.Select(c => $"{c.Name}={c.Passed}: {c.Detail}"));

    [Fact]
    public void Plan_MediumRiskIrreversibleLossBounded()
    {
        var action = Diff();

        Assert.Equal("backup.run", action.Kind);
        Assert.Equal(ActionRisk.Medium, action.Risk);
        Assert.False(action.Reversible);
        Assert.True(action.LossBounded);
        Assert.Equal("diff", action.Parameter("type"));
        Assert.Equal("pg-test", action.Parameter("stanza"));
        Assert.Equal("pgBackRest diff backup of stanza pg-test on pg-test-1 of pg-test", action.Summary);
        Assert.Equal(AutonomyLevel.ActProactively, PolicyGate.RequiredLevel(action with { Trigger = ActionTrigger.Proactive }));
    }

    [Theory]
    [InlineData("weekly", "pg-test", "backup type must be one of full, diff, incr")]
    [InlineData("full", "pg test;rm", "stanza must be a plain name")]
    public void Plan_BadInput_InputError(string type, string stanza, string expected)
    {
        var ex = Assert.Throws<InputException>(() => BackupRunActuator.Plan("pg-test", null, stanza, type, PlannedAt));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlanFor_Defaults_InventoryStanzaAndIncr_RefusedWithoutPgBackRest()
    {
        var cluster = SensingFixtures.Cluster() with { Backup = new BackupSettings { Stanza = "pg-test-repo" } };

        var action = BackupRunActuator.PlanFor(cluster, null, null, null, null, PlannedAt);

        Assert.Equal("pg-test-repo", action.Parameter("stanza"));
        Assert.Equal("incr", action.Parameter("type"));
        Assert.Throws<InputException>(() => BackupRunActuator.PlanFor(cluster with { Backup = new BackupSettings { Enabled = false } }, null, null, "full", null, PlannedAt));
    }

    [Fact]
    public async Task Precheck_Leader_PassesWithStanzaAndRunsInfoAsPostgres()
    {
        var (actuator, runner) = Create();

        var precheck = await actuator.PrecheckAsync(Diff(), Ct);

        Assert.True(precheck.Passed, Checks(precheck));
        Assert.Contains(precheck.Checks, c => c.Name == "stanza-exists" && c.Detail.Contains("2 backups, newest 20261122-180033F", StringComparison.Ordinal));
        Assert.Contains(precheck.Checks, c => c.Name == "pg1" && c.Detail.Contains("as the pgBackRest configuration says", StringComparison.Ordinal));
        var (host, argv) = Assert.Single(runner.Calls);
        Assert.True(host.Local);
        Assert.Equal(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", "--stanza=pg-test", "info", "--output=json"], argv);
    }

    [Fact]
    public async Task Precheck_Replica_RefusedWithoutRunningPgBackRest()
    {
        var (actuator, runner) = Create();

        var precheck = await actuator.PrecheckAsync(Diff("pg-test-2"), Ct);

        Assert.False(precheck.Passed);
        Assert.Contains("pg-test-2 is not the leader (pg-test-1 is)", Assert.Single(precheck.Checks).Detail, StringComparison.Ordinal);
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public async Task Precheck_NoLeader_Refused()
    {
        var (actuator, _) = Create(snapshots: Snapshot(null, [Replica("pg-test-1"), Replica("pg-test-2"), Replica("pg-test-3")]));

        var precheck = await actuator.PrecheckAsync(Diff(null), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "leader", Passed: false });
    }

    [Fact]
    public async Task Precheck_BackupRunning_Refused()
    {
        var (actuator, runner) = Create();
        runner.Info = InfoWith(lockHeld: true);

        var precheck = await actuator.PrecheckAsync(Diff(), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "no-backup-running", Passed: false });
    }

    [Fact]
    public async Task Precheck_StanzaMissing_Refused()
    {
        var (actuator, runner) = Create();
        runner.Info = InfoWith(code: 1);

        var precheck = await actuator.PrecheckAsync(Diff(), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "stanza-exists", Passed: false } && c.Detail.Contains("stanza-create", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Precheck_OtherStanzaOnly_Refused()
    {
        var (actuator, _) = Create();

        var precheck = await actuator.PrecheckAsync(BackupRunActuator.Plan("pg-test", null, "pg-meta", "full", PlannedAt), Ct);

        Assert.Contains(precheck.Checks, c => c is { Name: "stanza-exists", Passed: false } && c.Detail.Contains("no stanza pg-meta (stanzas: pg-test)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExecuteThenVerify_NewDiffLabel_Verified()
    {
        var (actuator, runner) = Create();
        runner.InfoAfterBackup = InfoWith("20261122-180033F_20261122-190002D");
        runner.BackupResult = new ProcessResult(0, "", "P00   WARN: a warning\n", TimeSpan.FromSeconds(3.2), false);

        var execution = await actuator.ExecuteAsync(Diff(), Ct);
        var verify = await actuator.VerifyAsync(Diff(), execution, Ct);

        Assert.True(execution.Succeeded, execution.Message);
        Assert.Equal("pgbackrest diff backup of pg-test finished on pg-test-1 in 3.2 s", execution.Message);
        Assert.Equal("20261122-180029F,20261122-180033F", execution.Details["labels_before"]);
        Assert.Contains("WARN: a warning", execution.Output, StringComparison.Ordinal);
        var backup = runner.Calls.Select(c => c.Argv).Single(a => a.Contains("backup"));
        Assert.Equal(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", "--stanza=pg-test", "--type=diff", "backup"], backup);
        Assert.Equal(VerifyStatus.Verified, verify.Status);
        Assert.Equal("20261122-180033F_20261122-190002D", verify.Evidence["label"]);
        Assert.Contains("diff backup 20261122-180033F_20261122-190002D", verify.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_NoNewLabel_Pending()
    {
        var (actuator, _) = Create();
        var execution = ExecuteResult.Ok("ok") with { Details = new Dictionary<string, string> { ["member"] = "pg-test-1", ["labels_before"] = "20261122-180029F,20261122-180033F" } };

        var verify = await actuator.VerifyAsync(Diff(), execution, Ct);

        Assert.Equal(VerifyStatus.Pending, verify.Status);
        Assert.Contains("no new diff backup", verify.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_NonZeroExit_FailedWithTheLastLine()
    {
        var (actuator, runner) = Create();
        runner.BackupResult = new ProcessResult(56, "", "P00  ERROR: [056]: unable to find primary cluster - cannot proceed\n", TimeSpan.FromSeconds(1), false);

        var execution = await actuator.ExecuteAsync(Diff(), Ct);

        Assert.False(execution.Succeeded);
        Assert.Equal("pgbackrest backup exited 56: P00  ERROR: [056]: unable to find primary cluster - cannot proceed", execution.Message);
        Assert.Equal("56", execution.Details["exit_code"]);
    }

    [Fact]
    public async Task Execute_Remote_SudoAsRunAsOverSsh()
    {
        var (actuator, runner) = Create(local: false);
        runner.InfoAfterBackup = InfoWith("20261122-190002F", "full");

        var execution = await actuator.ExecuteAsync(BackupRunActuator.Plan("pg-test", null, "pg-test", "full", PlannedAt), Ct);

        Assert.True(execution.Succeeded);
        var (host, argv) = runner.Calls.Single(c => c.Argv.Contains("backup"));
        Assert.False(host.Local);
        Assert.Equal("127.0.0.11", host.Address);
        Assert.Equal(["sudo", "-n", "-u", "postgres", "--", "pgbackrest"], argv.Take(6));
        Assert.Contains("over SSH on 127.0.0.11", execution.Details["host"], StringComparison.Ordinal);
    }

    [Fact]
    public void SshArguments_CommandIsOneQuotedArgumentAfterTheHost()
    {
        var args = BackupCommandRunner.SshArguments(new SshSettings { User = "admin", Port = 2222, KnownHostsPath = "/etc/pgra/known_hosts" }, "10.10.10.11",
            ["pgbackrest", "--stanza=pg-test", "--type=full", "backup"]);

        Assert.Equal(["10.10.10.11", "--", "'pgbackrest' '--stanza=pg-test' '--type=full' 'backup'"], args.TakeLast(3));
        Assert.Contains("StrictHostKeyChecking=yes", args);
        Assert.Contains("UserKnownHostsFile=/etc/pgra/known_hosts", args);
        Assert.Equal("2222", args[args.ToList().IndexOf("-p") + 1]);
    }

    [Fact]
    public void Command_NotRoot_NoRunuser()
    {
        var (actuator, _) = Create(root: false);

        Assert.Equal(["pgbackrest", "--config=/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", "--stanza=s", "info"], actuator.Command("s", ["info"]));
    }

    [Fact]
    public void NewBackup_OlderThanPlannedOrKnown_Ignored()
    {
        var info = PgBackRestInfoParser.Parse(InfoWith("20261122-180033F_20261122-185900D", start: PlannedAt.AddMinutes(-1)), "test").Single();

        Assert.Null(BackupRunActuator.NewBackup(info, "diff", PlannedAt, new HashSet<string>()));
        Assert.NotNull(BackupRunActuator.NewBackup(info, "diff", PlannedAt.AddMinutes(-2), new HashSet<string>()));
        Assert.Null(BackupRunActuator.NewBackup(info, "diff", PlannedAt.AddMinutes(-2), new HashSet<string> { "20261122-180029F", "20261122-180033F", "20261122-180033F_20261122-185900D" }));
    }

    [Theory]
    [InlineData(true, false, "Happened")]
    [InlineData(false, false, "NotHappened")]
    [InlineData(false, true, "Unknown")]
    public async Task Reconcile_ByPgBackRestInfo(bool newBackup, bool running, string expected)
    {
        var (actuator, runner) = Create();
        runner.Info = InfoWith(newBackup ? "20261122-180033F_20261122-190002D" : null, lockHeld: running);

        var result = await actuator.ReconcileAsync(Diff(), Ct);

        Assert.Equal(Enum.Parse<ReconcileStatus>(expected), result.Status);
    }
}
