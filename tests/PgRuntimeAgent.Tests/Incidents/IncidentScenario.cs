using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Detection;

namespace PgRuntimeAgent.Tests.Incidents;

/// <summary>
/// A primary failure built from the real healthy lab snapshot: pg-test-3 (timeline 12, WAL at 0/3000100) is healthy at
/// +0, +2, +4 s; the cluster is unlocked at +6, +8, +10; pg-test-2 leads and accepts writes from +12 (promoted at
/// +11.0 s per Patroni /history, timeline 13 switching at 0/3000000); +14 and +16 are healthy again.
/// Expected: outage 11.0 - 5.0 = 6.0 s (start: middle of the 4-6 s gap), data-loss bound 0x100 = 256 bytes.
/// </summary>
internal static class IncidentScenario
{
    public const long OldWal = 0x3000100;
    public const long Switch = 0x3000000;

    public static DateTimeOffset T0 => DetectionKit.Load("healthy").TakenAt;

    public static IReadOnlyList<ClusterSnapshot> Stream()
    {
        var h = DetectionKit.Load("healthy") with { Logs = null };
        ClusterSnapshot Healthy(double at) => DetectionKit.Shift(h, at) with
        {
            Members = h.Members.Select(m => m.Name == "pg-test-3" ? m with { WalLsn = PgRuntimeAgent.Sensing.Lsn.Format(OldWal) } : m).ToList(),
        };

        ClusterSnapshot Unlocked(double at) => DetectionKit.Shift(h, at) with
        {
            Leader = null,
            LeaderSource = null,
            Patroni = h.Patroni! with { Leader = null, LeaderByView = h.Patroni.LeaderByView.ToDictionary(kv => kv.Key, _ => ""), Members = Gone(h) },
            Members = h.Members.Select(m => m.Name == "pg-test-3" ? m with { PostgresReachable = false, InRecovery = null, Reachable = false, WalLsn = null } : m).ToList(),
        };

        ClusterSnapshot NewLeader(double at) => DetectionKit.Shift(h, at) with
        {
            Leader = "pg-test-2",
            Timeline = 13,
            Patroni = h.Patroni! with
            {
                Leader = "pg-test-2",
                LeaderByView = h.Patroni.LeaderByView.ToDictionary(kv => kv.Key, _ => "pg-test-2"),
                Members = Gone(h),
                History = [.. h.Patroni.History, new PatroniHistoryEntry(12, Switch, "no recovery target specified", T0.AddSeconds(11).ToString("o"), "pg-test-2")],
            },
            Members = h.Members.Select(m => m.Name switch
            {
                "pg-test-2" => m with { InRecovery = false, PostgresReachable = true, Timeline = 13, WalLsn = "0/3000200", PatroniRole = PatroniRole.Leader },
                "pg-test-3" => m with { PostgresReachable = false, InRecovery = null, Reachable = false, WalLsn = null },
                _ => m with { Timeline = 13 },
            }).ToList(),
        };

        return [Healthy(0), Healthy(2), Healthy(4), Unlocked(6), Unlocked(8), Unlocked(10), NewLeader(12), NewLeader(14), NewLeader(16)];
    }

    private static IReadOnlyList<PatroniMemberView> Gone(ClusterSnapshot h) =>
        h.Patroni!.Members.Select(v => v.Member == "pg-test-3" ? v with { Reachable = false, Node = null, Cluster = null, Errors = ["GET http://127.0.0.13:8008/patroni: Connection refused"] } : v).ToList();

    /// <summary>Feeds the stream through detection and the incident manager; runs primary-failure (recorded) when the incident opens.</summary>
    public static async Task<(IncidentManager Manager, string IncidentId, SkillRun? Run)> RunAsync(IJournal journal, bool runSkill, CancellationToken ct)
    {
        var snapshots = Stream();
        var detector = new ClusterDetector("pg-test");
        var manager = new IncidentManager(journal);
        string? id = null;
        SkillRun? run = null;
        for (var i = 0; i < snapshots.Count; i++)
        {
            var history = detector.History.ToList();
            var result = detector.Observe(snapshots[i]);
            var update = await manager.ObserveAsync(result, history, ct);
            id ??= update.Incident?.Id;
            if (runSkill && update.Opened && update.Triggers.FirstOrDefault(f => f.Code == FindingCodes.LeaderMissing) is { } trigger)
            {
                var host = new RecordingSkillHost(new StreamHost(snapshots.Skip(i + 1).ToList(), snapshots[i].TakenAt), manager);
                var skill = SkillCatalog.Load(Path.Combine(TestPaths.RepoRoot, "skills")).Find("primary-failure")!;
                var request = new SkillRunRequest("pg-test") { Snapshot = await host.ServeAsync(snapshots[i], ct), Trigger = trigger.ToTrigger() };
                run = await new SkillRunner().RunAsync(skill, request, host, ct);
                await manager.RecordSkillRunAsync(run, host.Served, ct);
            }
        }

        return (manager, id!, run);
    }

    /// <summary>A live-like host: each fetch is the next snapshot of the stream; the clock moves with them.</summary>
    private sealed class StreamHost(IReadOnlyList<ClusterSnapshot> next, DateTimeOffset start) : ISkillHost
    {
        private readonly FakeTimeProvider _time = new(start);
        private int _i;

        public TimeProvider Time => _time;

        public Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken)
        {
            var s = next[Math.Min(_i++, next.Count - 1)];
            if (s.TakenAt > _time.GetUtcNow())
            {
                _time.SetUtcNow(s.TakenAt);
            }

            return Task.FromResult(SnapshotRecorder.ToElement(s));
        }

        public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken) =>
            Task.FromResult(new SkillActionOutcome(SkillActionStatus.Succeeded, "act-000000000001"));

        public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
        {
            _time.Advance(delay);
            return Task.CompletedTask;
        }

        public Task RecordAsync(SkillNote note, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
