using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Sensing.Patroni;

/// <summary>What one member's Patroni answered (or why it did not).</summary>
public sealed record PatroniMemberView
{
    public required string Member { get; init; }
    public required string ApiUrl { get; init; }

    /// <summary>True when the member's REST API answered /patroni (even with 503).</summary>
    public bool Reachable { get; init; }

    public PatroniNodeStatus? Node { get; init; }
    public PatroniClusterView? Cluster { get; init; }

    /// <summary>Why something is missing (first failing endpoint), null when every endpoint answered.</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];
}

/// <summary>The Patroni sensor's result for a cluster: every member's answers and their cross-check.</summary>
public sealed record PatroniObservation
{
    public IReadOnlyList<PatroniMemberView> Members { get; init; } = [];

    /// <summary>The leader-key holder most members' /cluster views agree on; null when none or no view answered.</summary>
    public string? Leader { get; init; }

    /// <summary>Member -> the leader its /cluster view shows ("" when its view shows no leader).</summary>
    public IReadOnlyDictionary<string, string> LeaderByView { get; init; } = new Dictionary<string, string>();

    /// <summary>The leader's timeline (from its own /patroni, else from the views).</summary>
    public long? Timeline { get; init; }

    public IReadOnlyList<PatroniHistoryEntry> History { get; init; } = [];
    public PatroniDynamicConfig? Config { get; init; }
    public bool Paused { get; init; }

    /// <summary>Where members' views disagree (leader, timeline, lag, config), in words.</summary>
    public IReadOnlyList<string> Disagreements { get; init; } = [];

    /// <summary>
    /// The leader key as etcd itself holds it, read by the agent; null when not read. When read, it decides
    /// <see cref="Leader"/> (the DCS is the arbiter) and a member's view that names another leader is a stale cache.
    /// </summary>
    public Dcs.DcsLeaderObservation? Dcs { get; init; }

    /// <summary>The leader comes from etcd itself (<see cref="Dcs"/> was read), not from a vote of the members' views.</summary>
    public bool LeaderFromDcs => Dcs is { Read: true };
}

/// <summary>Reads /patroni, /cluster, /history and /config from every member concurrently and cross-checks them.</summary>
internal sealed class PatroniSensor(SensingHttp http, SecretStore secrets, TimeProvider time, TimeSpan timeout)
{
    /// <summary>Builds the base URL of a member's REST API; replaceable for tests and the fleet benchmark.</summary>
    public Func<PgMember, Uri> ApiUrlOf { get; init; } = m => m.PatroniUrl;

    /// <summary>The deadline for one member's calls (a member that hung on the last snapshot gets a shorter one); null: the sensor's timeout.</summary>
    public Func<PgMember, TimeSpan>? TimeoutOf { get; init; }

    public async Task<(PatroniObservation Observation, IReadOnlyList<SensorStatus> Health)> ObserveAsync(PgCluster cluster, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var tasks = cluster.Members.Select(m => ObserveMemberAsync(cluster, m, cancellationToken)).ToList();
        var results = await Task.WhenAll(tasks).ConfigureAwait(false);
        var views = results.Select(r => r.View).ToList();
        var health = results.Select(r => r.Health).ToList();
        return (CrossCheck(views, results), health);
    }

    private async Task<(PatroniMemberView View, SensorStatus Health, IReadOnlyList<PatroniHistoryEntry>? History, PatroniDynamicConfig? Config)> ObserveMemberAsync(
        PgCluster cluster, PgMember member, CancellationToken cancellationToken)
    {
        var sw = SensorStopwatch.Start(time);
        var url = ApiUrlOf(member);
        var deadline = TimeoutOf?.Invoke(member) ?? timeout;
        using var httpClient = http.CreateClient(url, cluster.Credentials.PatroniUsername, cluster.Credentials.PatroniPassword, secrets);
        var client = new PatroniClient(httpClient);
        var node = SensorCall.RunAsync($"GET {url}patroni", deadline, time, client.GetNodeAsync, cancellationToken);
        var view = SensorCall.RunAsync($"GET {url}cluster", deadline, time, client.GetClusterAsync, cancellationToken);
        var history = SensorCall.RunAsync($"GET {url}history", deadline, time, client.GetHistoryAsync, cancellationToken);
        var config = SensorCall.RunAsync($"GET {url}config", deadline, time, client.GetConfigAsync, cancellationToken);
        await Task.WhenAll(node, view, history, config).ConfigureAwait(false);

        var errors = new[] { node.Result.Reason, view.Result.Reason, history.Result.Reason, config.Result.Reason }.OfType<string>().ToList();
        var parts = new[] { node.Result.Health, view.Result.Health, history.Result.Health, config.Result.Health };
        var memberHealth = SensorStatus.Combine(parts);
        var status = new SensorStatus(SensorNames.Patroni, member.Name, memberHealth, errors.Count == 0 ? null : string.Join("; ", errors), sw.ElapsedMs);
        var memberView = new PatroniMemberView
        {
            Member = member.Name,
            ApiUrl = url.ToString(),
            Reachable = node.Result.Value is not null || view.Result.Value is not null,
            Node = node.Result.Value,
            Cluster = view.Result.Value,
            Errors = errors,
        };
        return (memberView, status, history.Result.Value, config.Result.Value);
    }

    internal static PatroniObservation CrossCheck(
        IReadOnlyList<PatroniMemberView> views,
        IReadOnlyList<(PatroniMemberView View, SensorStatus Health, IReadOnlyList<PatroniHistoryEntry>? History, PatroniDynamicConfig? Config)> results)
    {
        var disagreements = new List<string>();
        var leaderByView = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in views.Where(v => v.Cluster is not null))
        {
            leaderByView[v.Member] = v.Cluster!.Leader ?? "";
        }

        var votes = leaderByView.Values.Where(l => l.Length > 0).GroupBy(l => l, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var leader = votes.FirstOrDefault()?.Key;
        if (leaderByView.Values.Distinct(StringComparer.Ordinal).Count() > 1)
        {
            disagreements.Add("members disagree on the leader: " + string.Join(", ",
                leaderByView.Select(kv => $"{kv.Key} sees {(kv.Value.Length == 0 ? "no leader" : kv.Value)}")));
        }

        // A member that calls itself the leader while the views give the key to another is a split-brain risk.
        foreach (var v in views.Where(v => v.Node is { Role: PatroniRole.Leader }))
        {
            if (leader is not null && !string.Equals(v.Member, leader, StringComparison.Ordinal))
            {
                disagreements.Add($"{v.Member} reports role {v.Node!.RawRole} but the leader key is held by {leader}");
            }
        }

        leader ??= views.Where(v => v.Node is { Role: PatroniRole.Leader or PatroniRole.StandbyLeader }).Select(v => v.Member).SingleOrDefaultSafe();

        var leaderView = views.FirstOrDefault(v => string.Equals(v.Member, leader, StringComparison.Ordinal));
        var timeline = leaderView?.Node?.Timeline
            ?? views.Select(v => v.Cluster?.Members.FirstOrDefault(m => string.Equals(m.Name, leader, StringComparison.Ordinal))?.Timeline).FirstOrDefault(t => t is not null);
        if (timeline is not null)
        {
            foreach (var v in views.Where(v => v.Node?.Timeline is not null && v.Node.Timeline != timeline && v.Node.PostgresRunning))
            {
                disagreements.Add($"{v.Member} is on timeline {v.Node!.Timeline}, the leader on {timeline}");
            }
        }

        // Lag: views come from the same DCS; a large spread between them means someone reads a stale DCS.
        var lagByMember = views.Where(v => v.Cluster is not null)
            .SelectMany(v => v.Cluster!.Members.Where(m => m.LagBytes is not null).Select(m => (Viewer: v.Member, m.Name, Lag: m.LagBytes!.Value)))
            .GroupBy(x => x.Name, StringComparer.Ordinal);
        foreach (var g in lagByMember)
        {
            var min = g.Min(x => x.Lag);
            var max = g.Max(x => x.Lag);
            if (max - min > 16 * 1024 * 1024)
            {
                disagreements.Add($"views disagree on {g.Key}'s lag: {min} to {max} bytes");
            }
        }

        var byLeaderFirst = results.OrderByDescending(r => string.Equals(r.View.Member, leader, StringComparison.Ordinal)).ToList();
        var history = byLeaderFirst.Select(r => r.History).FirstOrDefault(h => h is not null) ?? [];
        var configs = byLeaderFirst.Select(r => r.Config).OfType<PatroniDynamicConfig>().ToList();
        var config = configs.FirstOrDefault();
        if (configs.Select(c => (c.TtlSeconds, c.LoopWaitSeconds, c.MaximumLagOnFailoverBytes, c.SynchronousMode)).Distinct().Count() > 1)
        {
            disagreements.Add("members return different /config (ttl, loop_wait, maximum_lag_on_failover or synchronous_mode)");
        }

        return new PatroniObservation
        {
            Members = views,
            Leader = leader,
            LeaderByView = leaderByView,
            Timeline = timeline,
            History = history,
            Config = config,
            Paused = views.Any(v => v.Cluster?.Paused == true || v.Node?.Paused == true) || config?.Paused == true,
            Disagreements = disagreements,
        };
    }
}

internal static class EnumerableExtensions
{
    /// <summary>The only element, or null when there are none or several.</summary>
    public static T? SingleOrDefaultSafe<T>(this IEnumerable<T> source)
        where T : class
    {
        T? found = null;
        foreach (var item in source)
        {
            if (found is not null)
            {
                return null;
            }

            found = item;
        }

        return found;
    }
}
