namespace PgRuntimeAgent.Lab;

/// <summary>The real faults the lab can inject (<c>pgra lab inject NAME</c>).</summary>
internal enum LabScenario
{
    PrimaryCrash,
    PrimaryFreeze,
    DiskFull,
    ArchiveBroken,
    ReplicationStop,
    LockPileup,
    ConnectionStorm,
    MissingIndex,
    LongTransaction,
    BadConfig,
}

/// <summary>Which member a scenario hits when none is named.</summary>
internal enum LabTargetKind
{
    /// <summary>Must be the current leader.</summary>
    Leader,

    /// <summary>Must be a replica (default: the first replica).</summary>
    Replica,

    /// <summary>Any member (default: the first replica).</summary>
    AnyDefaultReplica,
}

internal sealed record LabScenarioInfo(LabScenario Scenario, string Name, LabTargetKind Target, string Description);

internal static class LabScenarios
{
    public static IReadOnlyList<LabScenarioInfo> All { get; } =
    [
        new(LabScenario.PrimaryCrash, "primary-crash", LabTargetKind.Leader, "kill -9 the leader's Patroni and PostgreSQL (postmaster and its children): Patroni fails over after the TTL"),
        new(LabScenario.PrimaryFreeze, "primary-freeze", LabTargetKind.Leader, "SIGSTOP the leader's Patroni and PostgreSQL (postmaster and its children): a hung node"),
        new(LabScenario.DiskFull, "disk-full", LabTargetKind.Leader, "fill the leader's pg_wal filesystem: PostgreSQL PANICs with No space left on device and Patroni crash-loops"),
        new(LabScenario.ArchiveBroken, "archive-broken", LabTargetKind.Leader, "make the pgBackRest archive unwritable: archive_command fails, WAL piles up"),
        new(LabScenario.ReplicationStop, "replication-stop", LabTargetKind.Replica, "stop WAL replay on a replica (its startup process is frozen; Patroni would resume pg_wal_replay_pause): its lag grows"),
        new(LabScenario.LockPileup, "lock-pileup", LabTargetKind.Leader, "a session idle in transaction holds a row lock; 6 writers queue behind it"),
        new(LabScenario.ConnectionStorm, "connection-storm", LabTargetKind.Leader, "open connections to the leader until max_connections is exhausted and hold them"),
        new(LabScenario.MissingIndex, "missing-index", LabTargetKind.Leader, "load orders (2 million rows, no index on user_id) and run a hot query filtering on user_id ordered by created_at"),
        new(LabScenario.LongTransaction, "long-transaction", LabTargetKind.Leader, "a REPEATABLE READ transaction left open: its old xmin holds back vacuum"),
        new(LabScenario.BadConfig, "bad-config", LabTargetKind.AnyDefaultReplica, "set shared_preload_libraries to a library that does not exist and restart a member: it cannot start"),
    ];

    public static LabScenarioInfo Parse(string name)
    {
        var found = All.FirstOrDefault(s => string.Equals(s.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase));
        return found ?? throw new InputException($"unknown scenario '{name}'", [$"scenarios: {string.Join(", ", All.Select(s => s.Name))}"]);
    }

    public static LabScenarioInfo Info(LabScenario scenario) => All.First(s => s.Scenario == scenario);

    /// <summary>
    /// The member a scenario targets: <paramref name="requested"/> when it exists and suits the scenario, else the
    /// default (leader, or the first replica). Throws <see cref="InputException"/> for a member that does not exist
    /// or does not suit.
    /// </summary>
    public static string ResolveTarget(LabScenarioInfo scenario, string? requested, string? leader, IReadOnlyList<string> members)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(members);
        if (requested is not null && !members.Contains(requested, StringComparer.Ordinal))
        {
            throw new InputException($"unknown member '{requested}'", [$"members of the lab: {string.Join(", ", members)}"]);
        }

        if (leader is null)
        {
            throw new InputException($"cannot inject {scenario.Name}: the cluster has no leader now",
                ["heal what is injected (`pgra lab heal`) or wait for Patroni, then retry; `pgra lab status` shows the cluster"]);
        }

        var firstReplica = members.FirstOrDefault(m => m != leader);
        switch (scenario.Target)
        {
            case LabTargetKind.Leader:
                if (requested is not null && requested != leader)
                {
                    throw new InputException($"{scenario.Name} targets the leader, and {requested} is not the leader",
                        [$"the leader is {leader}: omit --member or pass --member {leader}"]);
                }

                return leader;
            case LabTargetKind.Replica:
                if (requested == leader)
                {
                    throw new InputException($"{scenario.Name} targets a replica, and {requested} is the leader",
                        [$"replicas: {string.Join(", ", members.Where(m => m != leader))}"]);
                }

                return requested ?? firstReplica ?? throw new InputException($"{scenario.Name} needs a replica and the cluster has none");
            default:
                return requested ?? firstReplica ?? leader;
        }
    }
}
