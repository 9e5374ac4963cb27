using System.Runtime.CompilerServices;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// How actuators and the policy's state provider look at a cluster: a <see cref="ClusterSnapshot"/> taken through
/// the sensing layer. Prechecks, verification and reconciliation read it; they never trust an API call's answer.
/// </summary>
internal interface IClusterSensing
{
    Topology Topology { get; }

    /// <summary>A fresh snapshot of <paramref name="cluster"/>. Sensors that cannot see report it; this does not throw for that.</summary>
    Task<ClusterSnapshot> SenseAsync(string cluster, CancellationToken cancellationToken);

    /// <summary>
    /// A snapshot finished at most <paramref name="maxAge"/> ago (the one the policy gate just decided on), else a
    /// fresh one. For prechecks only, where a second of staleness costs less than a second snapshot of a hung member;
    /// never for verification.
    /// </summary>
    Task<ClusterSnapshot> SenseRecentAsync(string cluster, TimeSpan maxAge, CancellationToken cancellationToken) => SenseAsync(cluster, cancellationToken);
}

/// <summary>
/// The snapshot actions decide on: the Patroni and Postgres sensors only (roles, leader key, timelines, WAL
/// positions, replication), the Postgres sensor limited to the probes that say who is primary and how far each
/// replica is. Metrics, logs, backup and host are left out: they are slower, and a risky action never rests on them.
/// One instance per deployment context is shared by every actuator and the state provider.
/// </summary>
internal sealed class ActionSensing : IClusterSensing, IDisposable
{
    /// <summary>The Postgres probes an action needs; the others are skipped.</summary>
    public static IReadOnlyList<string> Probes { get; } = ["server", "wal_position", "replication", "wal_receiver", "settings"];

    private static readonly ConditionalWeakTable<ActuatorContext, ActionSensing> Shared = new();

    private readonly SnapshotService _snapshots;
    private readonly TimeProvider _time;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (ClusterSnapshot Snapshot, long FinishedAt)> _recent = new(StringComparer.Ordinal);

    public ActionSensing(Topology topology, SensingSettings sensing, EndpointSettings endpoints, SecretStore secrets, TimeProvider time,
        SensingOverrides? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(sensing);
        Topology = topology;
        _time = time;
        var narrowed = sensing with
        {
            Disabled = [SensorNames.Metrics, SensorNames.Logs, SensorNames.Backup, SensorNames.Host],
            Postgres = sensing.Postgres with
            {
                Skip = PostgresProbeCatalogue.All.Select(p => p.Name).Where(n => !Probes.Contains(n, StringComparer.Ordinal)).ToList(),
            },
        };
        _snapshots = new SnapshotService(topology, narrowed, endpoints, secrets, time, overrides);
    }

    public Topology Topology { get; }

    /// <summary>The shared instance for a deployment context (actuator factories and the state provider use the same one).</summary>
    public static ActionSensing For(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Shared.GetValue(context, c => new ActionSensing(c.Topology, c.Sensing, c.Endpoints, c.Secrets, c.Time));
    }

    public async Task<ClusterSnapshot> SenseAsync(string cluster, CancellationToken cancellationToken)
    {
        var snapshot = await _snapshots.TakeAsync(cluster, cancellationToken).ConfigureAwait(false);
        _recent[cluster] = (snapshot, _time.GetTimestamp());
        return snapshot;
    }

    /// <summary>
    /// Keeps a snapshot somebody else just took (the agent's loop) as this cluster's most recent, unless a newer one is
    /// kept already: the policy gate and a fence's precheck then decide on what the finding was detected on instead of
    /// sensing again (on a loaded host a snapshot costs seconds, and a frozen member can thaw meanwhile).
    /// </summary>
    public void Offer(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var now = _time.GetTimestamp();
        _recent.AddOrUpdate(snapshot.Cluster, (snapshot, now), (_, kept) => kept.Snapshot.TakenAt > snapshot.TakenAt ? kept : (snapshot, now));
    }

    public Task<ClusterSnapshot> SenseRecentAsync(string cluster, TimeSpan maxAge, CancellationToken cancellationToken) =>
        _recent.TryGetValue(cluster, out var last) && _time.GetElapsedTime(last.FinishedAt) <= maxAge
            ? Task.FromResult(last.Snapshot)
            : SenseAsync(cluster, cancellationToken);

    public void Dispose() => _snapshots.Dispose();
}
