using System.Globalization;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>
/// One randomised fault of the safety suite: which member (the leader or a replica), which processes are frozen or
/// killed, or whose WAL disk another process fills, and for how long before the frozen processes are thawed. Drawn
/// from a seed, so a failing run is replayed exactly with <c>PGRA_SAFETY_SEEDS</c>. One run in four has Patroni's
/// <c>synchronous_mode</c> on, where no acknowledged write may be lost at all.
/// </summary>
internal sealed record SafetyFault(int Seed, bool OnLeader, string Shape, double HoldSeconds, bool Synchronous = false)
{
    /// <summary>Every shape, injected by hand (signals by pid, fallocate), never through the lab's own scenarios.</summary>
    public static IReadOnlyList<string> Shapes { get; } =
    [
        "freeze-postmaster-group",      // SIGSTOP the postmaster and every child: a hung PostgreSQL, Patroni running
        "freeze-postmaster",            // SIGSTOP the postmaster only: backends keep serving their sessions
        "freeze-children",              // SIGSTOP the postmaster's children only (backends, walsender, checkpointer...)
        "freeze-patroni",               // SIGSTOP Patroni only: PostgreSQL keeps taking writes while the key expires
        "freeze-patroni-and-postmaster",// both frozen: a hung node as far as the cluster can tell
        "freeze-node",                  // Patroni, the postmaster group and pgbouncer
        "kill-postmaster",              // SIGKILL the postmaster: Patroni restarts it
        "kill-patroni",                 // SIGKILL Patroni: PostgreSQL runs on without anyone renewing the key
        "kill-patroni-and-postmaster",  // both killed: a crashed node
        "disk-full",                    // another process fills the member's WAL filesystem (fallocate)
    ];

    /// <summary>
    /// Shapes drawn after the others (one run in ten; the later draw never changes an earlier seed's shape):
    /// slow rather than stopped, the processes stopped 150 ms of every 200 ms for the hold, as a member on a failing
    /// disk whose every read and fsync stalls (the lab has no dm-delay or cgroup I/O limits; this slows the member by
    /// the same factor); and the member cut from etcd alone, its relay to etcd stopped (a loopback lab has no firewall).
    /// </summary>
    public static IReadOnlyList<string> LaterShapes { get; } =
    [
        "slow-postmaster-group",        // PostgreSQL at a quarter of its speed, Patroni running
        "slow-node",                    // Patroni and PostgreSQL both
        "cut-etcd",                     // the member's Patroni cannot reach etcd; everything else can
    ];

    /// <summary>
    /// The seeds every CI run replays: each shape on the leader once (held long enough for Patroni to fail over where
    /// it would, except seed 9's short freeze), and two freezes of a replica; seeds 7 and 40 (a crashed and a hung
    /// leader) run with synchronous_mode; seeds 35 and 24 slow the leader, 13 and 117 cut the leader and a replica
    /// from etcd. New seeds come on top on demand.
    /// </summary>
    public static IReadOnlyList<int> CiSeeds { get; } = [1, 5, 7, 9, 11, 14, 53, 20, 34, 40, 2, 8, 35, 24, 13, 117];

    /// <summary>
    /// The fault for <paramref name="seed"/>: three in four on the leader, the hold between 3 and 25 s, one in four with
    /// synchronous_mode, one in ten of the <see cref="LaterShapes"/>. The later draws never change an earlier one.
    /// </summary>
    public static SafetyFault Generate(int seed)
    {
        var rng = new Random(seed);
        var onLeader = rng.NextDouble() < 0.75;
        var shape = Shapes[rng.Next(Shapes.Count)];
        var hold = Math.Round(3 + (rng.NextDouble() * 22), 1);
        var synchronous = rng.NextDouble() < 0.25;
        if (rng.NextDouble() < 0.10)
        {
            shape = LaterShapes[rng.Next(LaterShapes.Count)];
        }

        return new SafetyFault(seed, onLeader, shape, hold, synchronous);
    }

    /// <summary>The seeds of a run: <c>PGRA_SAFETY_SEEDS</c> (comma-separated) when set, else <paramref name="fixedSeeds"/> then <paramref name="extra"/> fresh ones.</summary>
    public static IReadOnlyList<int> Seeds(IReadOnlyList<int> fixedSeeds, int extra, string? fromEnvironment)
    {
        ArgumentNullException.ThrowIfNull(fixedSeeds);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToList();
        }

        var seeds = fixedSeeds.ToList();
        for (var i = 0; i < extra; i++)
        {
            seeds.Add(Random.Shared.Next(1, int.MaxValue));
        }

        return seeds;
    }

    public bool Freezes => Shape.StartsWith("freeze-", StringComparison.Ordinal);

    public bool Slows => Shape.StartsWith("slow-", StringComparison.Ordinal);

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"seed {Seed}: {Shape} on the {(OnLeader ? "leader" : "replica")}{(Synchronous ? " (synchronous_mode)" : "")}, {(Shape == "disk-full" ? "filled" : Freezes ? "thawed" : Slows ? "back to speed" : Shape == "cut-etcd" ? "reconnected" : "healed")} after {HoldSeconds:0.0} s");
}
