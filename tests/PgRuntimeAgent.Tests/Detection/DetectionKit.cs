using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Tests.Detection;

/// <summary>Real lab snapshots (pgra snapshot pg-test --json, trimmed) and variants crafted from them.</summary>
internal static class DetectionKit
{
    public static string Dir => Path.Combine(TestPaths.RepoRoot, "tests", "PgRuntimeAgent.Tests", "Detection", "Snapshots");

    public static ClusterSnapshot Load(string name) => SnapshotJson.Deserialize(File.ReadAllText(Path.Combine(Dir, name + ".json")));

    /// <summary>The healthy snapshot (leader pg-test-3, two streaming replicas) moved to <paramref name="at"/> seconds after its time.</summary>
    public static ClusterSnapshot Healthy(double at = 0) => Shift(Load("healthy"), at);

    public static ClusterSnapshot Shift(ClusterSnapshot s, double seconds) => s with { TakenAt = s.TakenAt.AddSeconds(seconds) };

    /// <summary>The leader's SQL connect timed out (the Postgres sensor's own message) and, optionally, its REST API too.</summary>
    public static ClusterSnapshot Frozen(ClusterSnapshot s, bool rest, bool sql = true)
    {
        var leader = s.Leader!;
        var details = s.SensorDetails.Select(d =>
            d.Target == leader && d.Sensor == SensorNames.Postgres && sql ? d with { Health = SensorHealth.Unknown, Reason = $"postgres://dbuser_monitor@127.0.0.13:5432/postgres: timed out after 2s (0 of 16 probes done)" }
            : d.Target == leader && d.Sensor == SensorNames.Patroni && rest ? d with { Health = SensorHealth.Unknown, Reason = "GET http://127.0.0.13:8008/patroni: timed out after 2s" }
            : d).ToList();
        var postgres = s.Postgres.Select(p => p.Member == leader && sql ? p with { Reachable = false, Error = "postgres://dbuser_monitor@127.0.0.13:5432/postgres: timed out after 2s (0 of 16 probes done)" } : p).ToList();
        var patroni = s.Patroni! with
        {
            Members = s.Patroni!.Members.Select(v => v.Member == leader && rest ? v with { Reachable = false, Node = null, Cluster = null, Errors = ["GET http://127.0.0.13:8008/patroni: timed out after 2s"] } : v).ToList(),
        };
        var members = s.Members.Select(m => m.Name == leader ? m with { PostgresReachable = sql ? false : m.PostgresReachable, InRecovery = sql ? null : m.InRecovery, Reachable = !rest && m.Reachable } : m).ToList();
        return s with { SensorDetails = details, Postgres = postgres, Patroni = patroni, Members = members };
    }

    /// <summary><paramref name="s"/> with the rows of probe <paramref name="probe"/> on <paramref name="member"/> replaced (the probe added when missing).</summary>
    public static ClusterSnapshot WithProbe(ClusterSnapshot s, string member, string probe, params IReadOnlyDictionary<string, string?>[] rows) => s with
    {
        Postgres = s.Postgres.Select(p => p.Member != member ? p : p with
        {
            Probes = [.. p.Probes.Where(r => r.Name != probe), new PgRuntimeAgent.Sensing.Postgres.ProbeResult { Name = probe, Status = "ok", Rows = rows }],
        }).ToList(),
    };

    /// <summary>A probe row from column/value pairs.</summary>
    public static IReadOnlyDictionary<string, string?> Row(params (string Column, string? Value)[] cells) =>
        cells.ToDictionary(c => c.Column, c => c.Value, StringComparer.Ordinal);

    public static IReadOnlyList<Finding> Run(params ClusterSnapshot[] stream) => Run(DetectionSettings.Default, stream);

    public static IReadOnlyList<Finding> Run(DetectionSettings settings, params ClusterSnapshot[] stream)
    {
        var detector = new ClusterDetector(stream[0].Cluster, settings);
        DetectionResult? last = null;
        foreach (var s in stream)
        {
            last = detector.Observe(s);
        }

        return last!.Active;
    }

    public static Finding? Find(this IReadOnlyList<Finding> findings, string code) => findings.FirstOrDefault(f => f.Code == code);
}
