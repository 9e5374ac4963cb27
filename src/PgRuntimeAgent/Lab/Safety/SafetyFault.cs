using System.Globalization;

namespace PgRuntimeAgent.Lab.Safety;

/// <summary>
/// One randomised fault of the safety suite: which member (the leader or a replica), which processes are frozen or
/// killed, or whose WAL disk another process fills, and for how long before the frozen processes are thawed. Drawn
/// from a seed, so a failing run is replayed exactly with <c>PGRA_SAFETY_SEEDS</c>.
/// </summary>
internal sealed record SafetyFault(int Seed, bool OnLeader, string Shape, double HoldSeconds)
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
    /// The seeds every CI run replays: each shape on the leader once (held long enough for Patroni to fail over where
    /// it would, except seed 9's short freeze), and two freezes of a replica. New seeds come on top on demand.
    /// </summary>
    public static IReadOnlyList<int> CiSeeds { get; } = [1, 5, 7, 9, 11, 14, 53, 20, 34, 40, 2, 8];

    /// <summary>The fault for <paramref name="seed"/>: three in four on the leader, the hold between 3 and 25 s.</summary>
    public static SafetyFault Generate(int seed)
    {
        var rng = new Random(seed);
        var onLeader = rng.NextDouble() < 0.75;
        var shape = Shapes[rng.Next(Shapes.Count)];
        var hold = Math.Round(3 + (rng.NextDouble() * 22), 1);
        return new SafetyFault(seed, onLeader, shape, hold);
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

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"seed {Seed}: {Shape} on the {(OnLeader ? "leader" : "replica")}, {(Shape == "disk-full" ? "filled" : Freezes ? "thawed" : "healed")} after {HoldSeconds:0.0} s");
}
