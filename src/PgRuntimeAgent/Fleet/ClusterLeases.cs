using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Dcs;

namespace PgRuntimeAgent.Fleet;

/// <summary>
/// The agents share the clusters through etcd (docs/fleet.md). Each agent keeps one lease of ttl seconds, renewed every
/// third of it, with <c>PREFIX/agents/ID</c> attached; each cluster has at most one owner key
/// <c>PREFIX/owners/CLUSTER</c> (value: the agent's id) attached to its owner's lease, so a dead or frozen agent's
/// clusters are free again within ttl. A free cluster is taken by the live agent rendezvous hashing prefers, or by any
/// agent once it has been free for a whole ttl (the preferred one may not watch it). The owner key's create revision is
/// the fencing token: before every action intent the pipeline asks <see cref="ConfirmAsync"/>, a transaction in etcd
/// that succeeds only while the key still names this agent with that token. An agent that cannot confirm does not act.
/// </summary>
public sealed partial class ClusterLeases : IClusterOwnership, IOwnershipFence
{
    private readonly FleetSettings _settings;
    private readonly EtcdGateway _etcd;
    private readonly IReadOnlyList<string> _clusters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _instance = Guid.NewGuid().ToString("n");
    private readonly Dictionary<string, long> _owned = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _freeSince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ClusterOwner> _lastOther = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _agentSince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OwnershipChange> _changes = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long? _lease;
    private long _renewedAt;
    private TimeSpan _granted;

    /// <param name="clusters">The clusters this agent may take (its <c>agent.clusters</c>, or every cluster of the inventory).</param>
    public ClusterLeases(FleetSettings settings, IReadOnlyList<Uri> endpoints, IReadOnlyList<string> clusters, TimeProvider time, ILogger? logger = null, SensingHttp? http = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!settings.Enabled)
        {
            throw new ArgumentException("fleet.agent_id is not set", nameof(settings));
        }

        _settings = settings;
        _etcd = new EtcdGateway(endpoints, http);
        _clusters = clusters;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
    }

    public string AgentId => _settings.AgentId!;

    public TimeSpan Ttl => TimeSpan.FromSeconds(_settings.LeaseTtlSeconds);

    /// <summary>Called on every change of ownership (the agent journals and logs them).</summary>
    public Action<OwnershipChange>? Changed { get; set; }

    /// <summary>
    /// Rebalancing: whether a cluster this agent owns may be handed to the live agent rendezvous hashing prefers (one that
    /// joined after this agent took it). The agent answers true only for a quiet cluster: no open incident, no skill or
    /// approval under way, no open intent. Null: never hand over (a cluster then moves only when its owner goes away).
    /// </summary>
    public Func<string, CancellationToken, Task<bool>>? CanHandOff { get; set; }

    /// <summary>The owners etcd named at the last round, by cluster (every agent's, not only this one's).</summary>
    public IReadOnlyDictionary<string, ClusterOwner> Owners { get; private set; } = new Dictionary<string, ClusterOwner>(StringComparer.Ordinal);

    /// <summary>The agents whose lease was alive at the last round (this one included once registered).</summary>
    public IReadOnlyList<string> Agents { get; private set; } = [];

    /// <summary>Why the last round could not reach etcd or register; null when it did.</summary>
    public string? Problem { get; private set; }

    /// <summary>A test seam: while true, rounds do nothing (the agent looks frozen to etcd; its own clock still runs).</summary>
    internal bool Frozen { get; set; }

    public bool Owns(string cluster)
    {
        lock (_gate)
        {
            return _owned.ContainsKey(cluster) && LeaseAliveLocked();
        }
    }

    public OwnershipChange? LastChange(string cluster)
    {
        lock (_gate)
        {
            return _changes.GetValueOrDefault(cluster);
        }
    }

    /// <summary>The fencing token this agent holds for <paramref name="cluster"/>; null when it does not own it.</summary>
    public long? TokenOf(string cluster)
    {
        lock (_gate)
        {
            return _owned.TryGetValue(cluster, out var token) && LeaseAliveLocked() ? token : null;
        }
    }

    /// <summary>The clusters this agent owns now.</summary>
    public IReadOnlyList<string> Owned()
    {
        lock (_gate)
        {
            return LeaseAliveLocked() ? _owned.Keys.Order(StringComparer.Ordinal).ToList() : [];
        }
    }

    // A safety margin below the lease's ttl: the local view ends a second before etcd's could.
    private bool LeaseAliveLocked() => _lease is not null && _time.GetElapsedTime(_renewedAt) < _granted - TimeSpan.FromSeconds(1);

    /// <summary>Rounds every third of the ttl until <paramref name="stop"/>; then gives the clusters back and revokes the lease.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var every = TimeSpan.FromSeconds(Math.Max(1, _settings.LeaseTtlSeconds / 3.0));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await RoundAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(every, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        await ReleaseAllAsync(limit.Token).ConfigureAwait(false);
    }

    /// <summary>One round: renew (or take) the lease, read the owners and the live agents, drop what is lost, take what is free.</summary>
    public async Task RoundAsync(CancellationToken cancellationToken)
    {
        if (Frozen)
        {
            return;
        }

        if (!await RenewAsync(cancellationToken).ConfigureAwait(false))
        {
            DropIfExpired();
            return;
        }

        var agents = await RangeAsync("agents/", cancellationToken).ConfigureAwait(false);
        if (agents is not null && !agents.Any(a => a.Key == AgentId))
        {
            // Not registered yet, or an earlier run of this agent held the name until its lease ran out.
            await RegisterAsync(cancellationToken).ConfigureAwait(false);
            agents = await RangeAsync("agents/", cancellationToken).ConfigureAwait(false);
        }

        var owners = await RangeAsync("owners/", cancellationToken).ConfigureAwait(false);
        if (owners is null || agents is null)
        {
            DropIfExpired();
            return;
        }

        Owners = owners.Select(kv => new ClusterOwner(kv.Key, kv.Value, kv.CreateRevision, kv.Lease)).ToDictionary(o => o.Cluster, StringComparer.Ordinal);
        foreach (var other in Owners.Values.Where(o => o.Agent != AgentId))
        {
            _lastOther[other.Cluster] = other;
        }

        Agents = agents.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        var seenAt = _time.GetTimestamp();
        foreach (var gone in _agentSince.Keys.Except(Agents, StringComparer.Ordinal).ToList())
        {
            _agentSince.Remove(gone);
        }

        foreach (var agent in Agents)
        {
            _agentSince.TryAdd(agent, seenAt);
        }

        if (!agents.Any(a => a.Key == AgentId && a.Value.Contains(_instance, StringComparison.Ordinal)))
        {
            Problem = $"another live agent is registered as '{AgentId}' in etcd ({_settings.Prefix}agents/{AgentId}): this one takes no cluster until the name is free";
            Log.DuplicateAgent(_logger, AgentId);
            DropAll("another agent registered under the same name");
            return;
        }

        Problem = null;
        foreach (var stray in Owners.Values.Where(o => o.Agent == AgentId && o.Lease == _lease && TokenOf(o.Cluster) != o.Token).ToList())
        {
            await DeleteOwnerKeyAsync(stray.Cluster, stray.Token, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (cluster, token) in OwnedSnapshot())
        {
            if (!Owners.TryGetValue(cluster, out var owner) || owner.Agent != AgentId || owner.Token != token)
            {
                Lose(cluster, owner is null ? "its owner key is gone from etcd" : $"etcd names {owner.Agent} (token {owner.Token}) as its owner");
            }
        }

        await HandOffAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetTimestamp();
        foreach (var cluster in _clusters)
        {
            if (Owners.ContainsKey(cluster))
            {
                _freeSince.Remove(cluster);
                continue;
            }

            var since = _freeSince.TryGetValue(cluster, out var s) ? s : _freeSince[cluster] = now;
            var preferred = Preferred(Agents, cluster);
            if (preferred == AgentId || _time.GetElapsedTime(since) >= Ttl)
            {
                await ClaimAsync(cluster, preferred, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Whether etcd still names this agent as <paramref name="cluster"/>'s owner with the token it took: a transaction that
    /// compares the owner key's value and create revision. Checked before every action intent; false when etcd cannot say.
    /// </summary>
    public async Task<OwnershipFenceResult> ConfirmAsync(string cluster, CancellationToken cancellationToken)
    {
        var key = OwnerKey(cluster);
        var token = TokenOf(cluster);
        if (token is null)
        {
            var owner = Owners.TryGetValue(cluster, out var o) ? $"etcd last named {o.Agent} (token {o.Token})" : "etcd last named no owner";
            return new OwnershipFenceResult(false, $"agent {AgentId} does not own {cluster} (its lease on {key} is not held or ran out); {owner}", null);
        }

        var b64 = EtcdGateway.B64(key);
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(
                new JsonObject { ["key"] = b64, ["result"] = "EQUAL", ["target"] = "VALUE", ["value"] = EtcdGateway.B64(AgentId) },
                new JsonObject { ["key"] = b64, ["result"] = "EQUAL", ["target"] = "CREATE", ["create_revision"] = token.Value.ToString(CultureInfo.InvariantCulture) }),
            ["failure"] = new JsonArray(new JsonObject { ["requestRange"] = new JsonObject { ["key"] = b64 } }),
        };
        var (endpoint, root, errors) = await _etcd.PostAsync("v3/kv/txn", body, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        if (root is not { } r)
        {
            return new OwnershipFenceResult(false, $"agent {AgentId} cannot confirm it still owns {cluster} (etcd: {errors}); it does not act on a guess", token);
        }

        if (r.TryGetProperty("succeeded", out var ok) && ok.ValueKind == JsonValueKind.True && TokenOf(cluster) == token)
        {
            return new OwnershipFenceResult(true, $"agent {AgentId} owns {cluster}: {key} holds its token {token} in etcd {endpoint}", token);
        }

        var now = FleetView.Kvs(r.TryGetProperty("responses", out var rs) && rs.ValueKind == JsonValueKind.Array && rs.GetArrayLength() > 0
            && rs[0].TryGetProperty("response_range", out var range) ? range : default, key).FirstOrDefault();
        var who = now is null ? "no agent holds it now" : $"{now.Value} holds it now (token {now.CreateRevision})";
        Lose(cluster, who);
        return new OwnershipFenceResult(false, $"agent {AgentId} no longer owns {cluster} (its token was {token}; {who}): it does not act there", token);
    }

    /// <summary>
    /// Hands each quiet cluster this agent owns to the agent rendezvous hashing prefers, once that agent has been alive
    /// for a whole ttl (a rolling restart does not move clusters back and forth): the owner key is deleted (compared on
    /// this agent's value and token) and the preferred agent takes it at its next round. At most a quarter of the owned
    /// clusters per round, so a joining agent takes its share over a few rounds, not in one burst.
    /// </summary>
    private async Task HandOffAsync(CancellationToken cancellationToken)
    {
        if (CanHandOff is not { } canHandOff)
        {
            return;
        }

        var owned = OwnedSnapshot();
        var budget = Math.Max(1, owned.Count / 4);
        foreach (var (cluster, token) in owned)
        {
            var preferred = Preferred(Agents, cluster);
            if (budget == 0 || preferred is null || preferred == AgentId
                || !_agentSince.TryGetValue(preferred, out var since) || _time.GetElapsedTime(since) < Ttl
                || !await QuietAsync(canHandOff, cluster, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            // Locally first (the loop stops acting and the owner precheck refuses), then in etcd; a key left behind
            // when the delete fails is removed at the next round (an owner key of this agent it no longer tracks).
            budget--;
            Lose(cluster, $"handed over to {preferred}, which rendezvous hashing prefers (rebalancing: the cluster was quiet)");
            await DeleteOwnerKeyAsync(cluster, token, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Asks whether a cluster is quiet within a bound of a sixth of the ttl (at most a second): the round that renews the
    /// lease must never wait on a slow journal; no answer in time is "not quiet".
    /// </summary>
    private async Task<bool> QuietAsync(Func<string, CancellationToken, Task<bool>> canHandOff, string cluster, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(1.0, _settings.LeaseTtlSeconds / 6.0)), _time);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await canHandOff(cluster, bound.Token).WaitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Deletes the owner key if it still holds this agent's value and <paramref name="token"/>; true when deleted.</summary>
    private async Task<bool> DeleteOwnerKeyAsync(string cluster, long token, CancellationToken cancellationToken)
    {
        var b64 = EtcdGateway.B64(OwnerKey(cluster));
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(
                new JsonObject { ["key"] = b64, ["result"] = "EQUAL", ["target"] = "VALUE", ["value"] = EtcdGateway.B64(AgentId) },
                new JsonObject { ["key"] = b64, ["result"] = "EQUAL", ["target"] = "CREATE", ["create_revision"] = token.ToString(CultureInfo.InvariantCulture) }),
            ["success"] = new JsonArray(new JsonObject { ["requestDeleteRange"] = new JsonObject { ["key"] = b64 } }),
        };
        var (_, root, _) = await _etcd.PostAsync("v3/kv/txn", body, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        return root is { } r && r.TryGetProperty("succeeded", out var ok) && ok.ValueKind == JsonValueKind.True;
    }

    /// <summary>Gives every owned cluster back and revokes the lease (a clean stop: the others need not wait for the ttl).</summary>
    public async Task ReleaseAllAsync(CancellationToken cancellationToken)
    {
        foreach (var (cluster, token) in OwnedSnapshot())
        {
            await DeleteOwnerKeyAsync(cluster, token, cancellationToken).ConfigureAwait(false);
            Lose(cluster, "the agent stopped and gave it back");
        }

        if (_lease is { } lease)
        {
            await _etcd.PostAsync("v3/lease/revoke", new JsonObject { ["ID"] = lease.ToString(CultureInfo.InvariantCulture) }, TimeSpan.FromSeconds(2), cancellationToken)
                .ConfigureAwait(false);
            lock (_gate)
            {
                _lease = null;
            }
        }
    }

    /// <summary>The live agent rendezvous (highest random weight) hashing prefers for <paramref name="cluster"/>: stable, and
    /// when an agent joins or leaves only the clusters it wins or held move.</summary>
    public static string? Preferred(IEnumerable<string> agents, string cluster)
    {
        ArgumentNullException.ThrowIfNull(agents);
        return agents.OrderByDescending(a => Weight(a, cluster)).ThenBy(a => a, StringComparer.Ordinal).FirstOrDefault();
    }

    private static ulong Weight(string agent, string cluster)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(agent + "\n" + cluster), hash);
        return BitConverter.ToUInt64(hash[..8]);
    }

    private string OwnerKey(string cluster) => $"{_settings.Prefix}owners/{cluster}";

    private List<KeyValuePair<string, long>> OwnedSnapshot()
    {
        lock (_gate)
        {
            return _owned.ToList();
        }
    }

    /// <summary>Keeps the lease alive (or takes a new one and registers the agent); false when etcd could not be reached.</summary>
    private async Task<bool> RenewAsync(CancellationToken cancellationToken)
    {
        var sent = _time.GetTimestamp();
        if (_lease is { } lease)
        {
            var (_, root, errors) = await _etcd.PostAsync("v3/lease/keepalive", new JsonObject { ["ID"] = lease.ToString(CultureInfo.InvariantCulture) },
                TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            if (root is not { } r)
            {
                Problem = $"cannot renew the lease in etcd: {errors}";
                return false;
            }

            var ttl = r.TryGetProperty("result", out var result) ? EtcdGateway.Number(result, "TTL") : null;
            if (ttl is > 0)
            {
                lock (_gate)
                {
                    _renewedAt = sent;
                    _granted = TimeSpan.FromSeconds(ttl.Value);
                }

                return true;
            }

            // The lease ran out while the agent could not renew it (frozen, cut off): everything it held is gone.
            DropAll("its lease ran out in etcd before it was renewed");
            lock (_gate)
            {
                _lease = null;
            }
        }

        sent = _time.GetTimestamp();
        var (_, grant, grantErrors) = await _etcd.PostAsync("v3/lease/grant", new JsonObject { ["TTL"] = _settings.LeaseTtlSeconds }, TimeSpan.FromSeconds(2), cancellationToken)
            .ConfigureAwait(false);
        if (grant is not { } g || EtcdGateway.Number(g, "ID") is not { } id || EtcdGateway.Number(g, "TTL") is not { } granted || granted <= 0)
        {
            Problem = $"cannot take a lease in etcd: {(grant is null ? grantErrors : "no lease in its answer")}";
            return false;
        }

        lock (_gate)
        {
            _lease = id;
            _renewedAt = sent;
            _granted = TimeSpan.FromSeconds(granted);
        }

        Log.LeaseTaken(_logger, AgentId, id, granted);
        return true;
    }

    /// <summary>Puts <c>PREFIX/agents/ID</c> on the lease unless a live agent holds the name (its key is still there).</summary>
    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        if (_lease is not { } lease)
        {
            return;
        }

        var registration = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["agent"] = AgentId,
            ["instance"] = _instance,
            ["host"] = Environment.MachineName,
            ["pid"] = Environment.ProcessId,
            ["since"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        });
        var agentKey = EtcdGateway.B64($"{_settings.Prefix}agents/{AgentId}");
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(new JsonObject { ["key"] = agentKey, ["result"] = "EQUAL", ["target"] = "CREATE", ["create_revision"] = "0" }),
            ["success"] = new JsonArray(new JsonObject
            {
                ["requestPut"] = new JsonObject { ["key"] = agentKey, ["value"] = EtcdGateway.B64(registration), ["lease"] = lease.ToString(CultureInfo.InvariantCulture) },
            }),
        };
        await _etcd.PostAsync("v3/kv/txn", body, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
    }

    private async Task ClaimAsync(string cluster, string? preferred, CancellationToken cancellationToken)
    {
        if (_lease is not { } lease)
        {
            return;
        }

        var b64 = EtcdGateway.B64(OwnerKey(cluster));
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(new JsonObject { ["key"] = b64, ["result"] = "EQUAL", ["target"] = "CREATE", ["create_revision"] = "0" }),
            ["success"] = new JsonArray(new JsonObject
            {
                ["requestPut"] = new JsonObject { ["key"] = b64, ["value"] = EtcdGateway.B64(AgentId), ["lease"] = lease.ToString(CultureInfo.InvariantCulture) },
            }),
        };
        var (endpoint, root, _) = await _etcd.PostAsync("v3/kv/txn", body, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        if (root is not { } r || !r.TryGetProperty("succeeded", out var ok) || ok.ValueKind != JsonValueKind.True
            || !r.TryGetProperty("header", out var header) || EtcdGateway.Number(header, "revision") is not { } token)
        {
            return;
        }

        _freeSince.Remove(cluster);
        var why = preferred == AgentId ? "it is the agent rendezvous hashing prefers" : $"it was free for a whole ttl ({preferred ?? "no agent"} is preferred)";
        var previous = _lastOther.GetValueOrDefault(cluster);
        var from = previous is null ? "" : $" over from {previous.Agent} (token {previous.Token}, whose key is gone)";
        var change = new OwnershipChange(cluster, AgentId, true, token, $"agent {AgentId} took {cluster}{from} (token {token}, etcd {endpoint}): {why}") { Previous = previous };
        lock (_gate)
        {
            // Together: the loop, which may look right now, sees the gain and its reason at once.
            _owned[cluster] = token;
            _changes[cluster] = change;
        }

        Log.Gained(_logger, AgentId, cluster, token);
        Changed?.Invoke(change);
    }

    private void DropIfExpired()
    {
        bool expired;
        lock (_gate)
        {
            expired = _owned.Count > 0 && !LeaseAliveLocked();
        }

        if (expired)
        {
            DropAll("its lease could not be renewed within the ttl");
        }
    }

    private void DropAll(string why)
    {
        foreach (var (cluster, _) in OwnedSnapshot())
        {
            Lose(cluster, why);
        }
    }

    private void Lose(string cluster, string why)
    {
        OwnershipChange change;
        lock (_gate)
        {
            if (!_owned.Remove(cluster, out var token))
            {
                return;
            }

            change = new OwnershipChange(cluster, AgentId, false, token, $"agent {AgentId} lost {cluster} (token {token}): {why}");
            _changes[cluster] = change;
        }

        Log.Lost(_logger, AgentId, cluster, change.Token ?? 0, why);
        Changed?.Invoke(change);
    }

    /// <summary>Every key under PREFIX/<paramref name="under"/>, with the prefix cut off; null when etcd could not be read.</summary>
    private async Task<List<EtcdKv>?> RangeAsync(string under, CancellationToken cancellationToken)
    {
        var (kvs, error) = await FleetView.RangeAsync(_etcd, _settings.Prefix + under, cancellationToken).ConfigureAwait(false);
        Problem = error ?? Problem;
        return error is null ? kvs : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7400, Level = LogLevel.Information, Message = "Agent {Agent} holds etcd lease {Lease} (ttl {Ttl} s)")]
        public static partial void LeaseTaken(ILogger logger, string agent, long lease, long ttl);

        [LoggerMessage(EventId = 7401, Level = LogLevel.Warning, Message = "Agent {Agent} owns {Cluster} now (fencing token {Token})")]
        public static partial void Gained(ILogger logger, string agent, string cluster, long token);

        [LoggerMessage(EventId = 7402, Level = LogLevel.Warning, Message = "Agent {Agent} lost {Cluster} (token {Token}): {Why}")]
        public static partial void Lost(ILogger logger, string agent, string cluster, long token, string why);

        [LoggerMessage(EventId = 7403, Level = LogLevel.Error, Message = "Another agent is registered as {Agent} in etcd: this one takes no cluster until agent ids are unique")]
        public static partial void DuplicateAgent(ILogger logger, string agent);
    }
}
