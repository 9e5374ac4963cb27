using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Sensing.Dcs;

/// <summary>What etcd itself says about a cluster's leader key, read by the agent (not through any member's Patroni).</summary>
/// <param name="Read">True when an etcd member answered; false: unknown (see <paramref name="Error"/>).</param>
/// <param name="Holder">The member the key names; null when no key exists (the cluster is unlocked) or it was not read.</param>
/// <param name="Key">The key read (for example <c>/pg/pg-test/leader</c>).</param>
/// <param name="Endpoint">The etcd member that answered.</param>
/// <param name="Revision">etcd's revision of the answer (key history: a new holder has a larger mod revision).</param>
/// <param name="ModRevision">The key's last modification revision; null when there is no key.</param>
/// <param name="Error">Why the key could not be read.</param>
public sealed record DcsLeaderObservation(bool Read, string? Holder, string Key, string? Endpoint, long? Revision, long? ModRevision, string? Error)
{
    /// <summary>
    /// Seconds left on the key's etcd lease (etcd's <c>lease/timetolive</c>): the holder's Patroni renews it every
    /// loop_wait, so it stays near <see cref="LeaseGrantedSeconds"/> while that Patroni runs its loop; null when the
    /// key has no lease or etcd did not say.
    /// </summary>
    public long? LeaseRemainingSeconds { get; init; }

    /// <summary>The lease's granted time to live (Patroni's ttl).</summary>
    public long? LeaseGrantedSeconds { get; init; }

    /// <summary>
    /// The holder's Patroni missed at least two renewals (the lease has at most granted minus twice loop_wait left):
    /// its loop is stuck, and the key expires unless it resumes. Set when the snapshot is fused (it needs loop_wait);
    /// null when unknown.
    /// </summary>
    public bool? RenewalOverdue { get; init; }

    /// <summary>Whether the lease shows at least two missed renewals of a <paramref name="loopWaitSeconds"/> loop.</summary>
    public bool? Overdue(int? loopWaitSeconds) =>
        LeaseRemainingSeconds is { } left && LeaseGrantedSeconds is { } granted && loopWaitSeconds is { } loop && loop > 0
            ? left <= granted - (2L * loop)
            : null;

    public static DcsLeaderObservation Unknown(string key, string error) => new(false, null, key, null, null, null, error);
}

/// <summary>
/// The Patroni leader key in etcd. <see cref="ReadAsync"/> tells the agent who holds it, from etcd itself: the DCS is
/// the arbiter of leadership when members' Patroni views disagree (a frozen ex-leader's Patroni still answers from its
/// stale cache). <see cref="ReleaseAsync"/> releases the key of a member that has just been fenced, through etcd's v3 JSON gateway: one
/// transaction that deletes <c>&lt;pg_namespace&gt;/&lt;scope&gt;/leader</c> only while its value still names that
/// member, so a leader elected meanwhile is never touched. A killed Patroni no longer renews the key, so it would
/// expire within ttl anyway; releasing it at once lets the failover start now instead of ttl seconds later. When
/// etcd cannot be reached (TLS or authentication the agent is not configured for) nothing is lost: the key expires.
/// </summary>
public sealed class DcsLeaderKey
{
    private readonly EtcdGateway _etcd;

    /// <param name="cluster">The cluster whose key this is.</param>
    /// <param name="endpoints">etcd client URLs, tried in turn.</param>
    /// <param name="http">The pooled HTTP connections to use (the snapshot service's); null: a process-wide pool.</param>
    public DcsLeaderKey(PgCluster cluster, IReadOnlyList<Uri> endpoints, SensingHttp? http = null)
        : this($"{(cluster ?? throw new ArgumentNullException(nameof(cluster))).DcsNamespace.TrimEnd('/')}/{cluster.PatroniScope}/leader", endpoints, http)
    {
    }

    /// <summary>A key named directly (for example <c>/pg/pg-test/leader</c>).</summary>
    public DcsLeaderKey(string key, IReadOnlyList<Uri> endpoints, SensingHttp? http = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(endpoints);
        Key = key;
        _etcd = new EtcdGateway(endpoints, http);
    }

    /// <summary>The leader key (for example <c>/pg/pg-test/leader</c>).</summary>
    public string Key { get; }

    /// <summary>The etcd members of the inventory as client URLs (http, the etcd group's client port).</summary>
    public static IReadOnlyList<Uri> Endpoints(Topology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology.Etcd.Select(e => new Uri($"http://{(e.Ip.Contains(':', StringComparison.Ordinal) ? $"[{e.Ip}]" : e.Ip)}:{e.ClientPort.ToString(CultureInfo.InvariantCulture)}/")).ToList();
    }

    /// <summary>
    /// Reads the leader key from the first etcd member that answers (linearizable range read through the v3 JSON
    /// gateway), each under <paramref name="timeout"/>. Never throws for etcd's answers or an unreachable etcd: the
    /// result says "unknown" with the reason.
    /// </summary>
    public async Task<DcsLeaderObservation> ReadAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (endpoint, root, errors) = await _etcd.PostAsync("v3/kv/range", new JsonObject { ["key"] = B64(Key) }, timeout, cancellationToken).ConfigureAwait(false);
        if (root is not { } r)
        {
            return DcsLeaderObservation.Unknown(Key, _etcd.Endpoints.Count == 0 ? "no etcd member in the inventory" : $"could not read {Key} from etcd: {errors}");
        }

        long? revision = r.TryGetProperty("header", out var h) && h.TryGetProperty("revision", out var rev) ? Number(rev) : null;
        if (!r.TryGetProperty("kvs", out var kvs) || kvs.ValueKind != JsonValueKind.Array || kvs.GetArrayLength() == 0)
        {
            return new DcsLeaderObservation(true, null, Key, endpoint, revision, null, null);
        }

        var kv = kvs[0];
        var holder = kv.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String && TryBase64(v.GetString()!) is { } text ? text : null;
        long? mod = kv.TryGetProperty("mod_revision", out var m) ? Number(m) : null;
        var observed = new DcsLeaderObservation(true, string.IsNullOrEmpty(holder) ? null : holder, Key, endpoint, revision, mod, null);
        return kv.TryGetProperty("lease", out var l) && Number(l) is { } lease and not 0
            ? await WithLeaseAsync(observed, lease, timeout, cancellationToken).ConfigureAwait(false)
            : observed;
    }

    /// <summary>The key's lease, from etcd (<c>v3/lease/timetolive</c>); an answer without it leaves the lease unknown.</summary>
    private async Task<DcsLeaderObservation> WithLeaseAsync(DcsLeaderObservation observed, long lease, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (_, root, _) = await _etcd.PostAsync("v3/lease/timetolive", new JsonObject { ["ID"] = lease.ToString(CultureInfo.InvariantCulture) }, timeout, cancellationToken).ConfigureAwait(false);
        if (root is not { } r)
        {
            return observed;
        }

        // etcd answers TTL -1 for a lease that has expired or been revoked meanwhile.
        long? left = r.TryGetProperty("TTL", out var ttl) ? Number(ttl) : null;
        long? granted = r.TryGetProperty("grantedTTL", out var g) ? Number(g) : null;
        return observed with { LeaseRemainingSeconds = left is >= 0 ? left : null, LeaseGrantedSeconds = granted is > 0 ? granted : null };
    }

    /// <summary>Deletes the key if it names <paramref name="member"/>; says what happened (never throws for etcd's answers).</summary>
    public async Task<(bool Released, string Detail)> ReleaseAsync(string member, CancellationToken cancellationToken)
    {
        if (_etcd.Endpoints.Count == 0)
        {
            return (false, "no etcd member in the inventory: the leader key expires by itself within ttl");
        }

        var key = B64(Key);
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(new JsonObject { ["key"] = key, ["result"] = "EQUAL", ["target"] = "VALUE", ["value"] = B64(member) }),
            ["success"] = new JsonArray(new JsonObject { ["requestDeleteRange"] = new JsonObject { ["key"] = key } }),
        };
        var (endpoint, root, errors) = await _etcd.PostAsync("v3/kv/txn", body, TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        if (root is not { } r)
        {
            return (false, $"could not release {Key} ({errors}): it expires by itself within ttl");
        }

        return r.TryGetProperty("succeeded", out var s) && s.ValueKind == JsonValueKind.True
            ? (true, $"released {Key} (it named {member}) in etcd {endpoint}: the failover need not wait for its ttl")
            : (false, $"{Key} no longer names {member} in etcd {endpoint}: left alone");
    }

    private static string? TryBase64(string text) => EtcdGateway.TryBase64(text);

    private static string B64(string text) => EtcdGateway.B64(text);

    private static long? Number(JsonElement e) => EtcdGateway.Number(e);
}
