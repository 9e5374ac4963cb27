using System.Text.Json;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>
/// The shipped skills read the snapshot as <see cref="SnapshotJson"/> writes it: every field listed in
/// src/PgRuntimeAgent/Skills/SNAPSHOT-FIELDS.md exists under that name in a real serialised ClusterSnapshot.
/// </summary>
public sealed class SnapshotSchemaTests
{
    private static MemberState Member(string name, DeclaredRole declared, PatroniRole role, string state, bool? inRecovery, long? lag, bool? sql = true) => new()
    {
        Name = name,
        DeclaredRole = declared,
        PatroniRole = role,
        PatroniRawRole = role == PatroniRole.Leader ? "leader" : "replica",
        PatroniState = state,
        Reachable = true,
        PostgresRunning = true,
        PostgresReachable = sql,
        InRecovery = inRecovery,
        Timeline = 1,
        LagBytes = lag,
        LagSeconds = lag is null ? null : 0,
    };

    /// <summary>pg-test with a frozen leader: Patroni still calls pg-test-1 leader, SQL to it times out.</summary>
    private static ClusterSnapshot FrozenLeader() => new()
    {
        Cluster = "pg-test",
        TakenAt = new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero),
        Inventory = new InventoryView
        {
            SourcePath = "/etc/pigsty/pigsty.yml",
            DeclaredPrimary = "pg-test-1",
            TtlSeconds = 30,
            LoopWaitSeconds = 5,
            MaximumLagOnFailoverBytes = 1048576,
            BackupStanza = "pg-test",
        },
        Leader = "pg-test-1",
        LeaderSource = "patroni",
        Timeline = 1,
        Members =
        [
            Member("pg-test-1", DeclaredRole.Primary, PatroniRole.Leader, "running", null, null, sql: false),
            Member("pg-test-2", DeclaredRole.Replica, PatroniRole.Replica, "running", true, 8192),
            Member("pg-test-3", DeclaredRole.Replica, PatroniRole.Replica, "streaming", true, 16),
        ],
        Patroni = new PatroniObservation
        {
            Leader = "pg-test-1",
            Config = new PatroniDynamicConfig { TtlSeconds = 30, LoopWaitSeconds = 5, MaximumLagOnFailoverBytes = 1048576 },
        },
        Backup = new BackupObservation
        {
            Stanza = "pg-test",
            LastFull = new BackupSummary("20261122-010000F", "full", new DateTimeOffset(2026, 11, 22, 1, 0, 0, TimeSpan.Zero), 100, 20),
            LastBackupAgeSeconds = 32400,
        },
        Postgres = [new PostgresMemberObservation { Member = "pg-test-1", Reachable = false, ArchiverFailedCount = 0 }],
        Metrics = new MetricsObservation
        {
            Readings = [new MetricReading { Name = "fs_free_ratio", Status = "ok", Values = new Dictionary<string, string> { ["pg-test-1"] = "0.5" } }],
        },
        Sensors = [SensorStatus.Ok("patroni", null, 3)],
        Drift = [new DriftItem("declared-primary-not-leader", "warning", "inventory/patroni", "pg-test-1", "pg-test-1", "pg-test-2", "x")],
    };

    private static JsonElement Serialised() => JsonSerializer.Deserialize<JsonElement>(SnapshotJson.Serialize(FrozenLeader()));

    [Theory]
    [InlineData("", "cluster,leader,timeline,inventory,patroni,members,postgres,backup,metrics,drift,sensors")]
    [InlineData("inventory", "declared_primary,maximum_lag_on_failover_bytes,source_path,backup_stanza")]
    [InlineData("patroni", "config,paused")]
    [InlineData("patroni.config", "maximum_lag_on_failover_bytes")]
    [InlineData("members[0]", "name,declared_role,patroni_state,reachable,in_recovery,lag_bytes,lag_unknown,lag_seconds,no_failover")]
    [InlineData("postgres[0]", "member,archiver_failed_count,lock_heads,connection_use,xmin_holders,probes")]
    [InlineData("backup", "last_backup_age_seconds,last_full,backup_running,stanza")]
    [InlineData("metrics.readings[0]", "name,values")]
    [InlineData("drift[0]", "code,member,message")]
    [InlineData("sensors[0]", "sensor,health")]
    public async Task SerialisedClusterSnapshot_HasTheFieldsSkillsRead(string path, string fields)
    {
        var expression = path.Length == 0 ? "keys(@)" : $"keys({path})";
        var skill = SkillTestKit.Parse($"""
            ---
            name: schema-probe
            description: Lists keys.
            ---
            ```yaml steps
            - id: keys
              check: "{expression}"
            ```
            """, "schema-probe.md");

        var run = await SkillTestKit.RunAsync(skill, new ScriptedSkillHost(Serialised()));

        var keys = run.Steps[0].Inputs[0].Value.EnumerateArray().Select(k => k.GetString()).ToHashSet();
        Assert.All(fields.Split(','), f => Assert.True(keys.Contains(f), $"{path}.{f} missing; the snapshot has: {string.Join(", ", keys)}"));
    }

    [Fact]
    public async Task PrimaryFailure_OnASerialisedClusterSnapshot_PlansFenceAndFailover()
    {
        var host = new ScriptedSkillHost(Serialised());

        var run = await SkillTestKit.RunAsync(SkillTestKit.LoadShipped("primary-failure"), host, SkillTestKit.Trigger("primary-frozen"), dryRun: true);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(
            ["""{"member":"pg-test-1"}""", """{"candidate":"pg-test-3","leader":"pg-test-1"}"""],
            host.Requests.Select(r => r.Parameters.GetRawText()));
    }
}
