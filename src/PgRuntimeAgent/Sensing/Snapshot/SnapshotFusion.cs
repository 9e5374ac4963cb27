using System.Globalization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.Sensing.Snapshot;

/// <summary>
/// Fuses the sensors' observations into member states and records drift. Pure: same inputs, same output, so replay
/// of journaled observations gives the same snapshot.
/// </summary>
public static class SnapshotFusion
{
    /// <summary>
    /// Adds what a failover decision needs to a fused snapshot: <see cref="ClusterSnapshot.LastWritable"/> (this
    /// snapshot's leader when it takes writes, else <paramref name="previous"/>), each member's
    /// <see cref="MemberState.UnreceivedBytes"/> and <see cref="MemberState.FailoverLagBytes"/>.
    /// </summary>
    public static ClusterSnapshot WithFailoverFacts(ClusterSnapshot snapshot, WritablePosition? previous)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var leader = snapshot.Leader is null ? null : snapshot.FindMember(snapshot.Leader);
        var lastWritable = leader is { PostgresReachable: true, InRecovery: false, WalLsn: { } lsn }
            ? new WritablePosition(leader.Name, lsn, leader.Timeline ?? snapshot.Timeline, snapshot.TakenAt)
            : previous;
        var withLast = snapshot with
        {
            LastWritable = lastWritable,
            Members = snapshot.Members.Select(m => m with { UnreceivedBytes = Unreceived(lastWritable, m) }).ToList(),
        };
        return withLast with { Members = withLast.Members.Select(m => m with { FailoverLagBytes = FailoverLag(withLast, m) }).ToList() };
    }

    /// <summary>
    /// The lag a failover or switchover to <paramref name="member"/> is judged by. With a leader that takes writes:
    /// the larger of Patroni's lag (its /cluster view; else <see cref="MemberState.LagBytes"/> when the snapshot holds no
    /// view) and the leader's WAL position minus the member's replay position (a replica whose replay is paused must
    /// replay everything before it can take writes). With no writable leader (it is dead, frozen, crash-looping or out
    /// of disk): the WAL of the last writable leader the member has not received, when known - Patroni's own lag is
    /// then measured from an optime that a crash-looping leader keeps moving with WAL of its failed recoveries, which
    /// holds no acknowledged write. Null when unknown; 0 for a writable leader.
    /// </summary>
    public static long? FailoverLag(ClusterSnapshot snapshot, MemberState member)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(member);
        var leader = snapshot.Leader is null ? null : snapshot.FindMember(snapshot.Leader);
        var leaderWritable = leader is { PostgresReachable: true, InRecovery: false };
        if (leader is not null && string.Equals(member.Name, leader.Name, StringComparison.Ordinal))
        {
            return leaderWritable ? 0 : null;
        }

        if (!leaderWritable && member.UnreceivedBytes is { } unreceived)
        {
            return unreceived;
        }

        var leaderWal = Lsn.Parse(leader?.WalLsn);
        var replay = Lsn.Parse(member.ReplayLsn);
        long? replayLag = leaderWal is { } w && replay is { } r ? Math.Max(0, w - r) : null;
        var patroniLag = PatroniLag(snapshot, member);
        return (patroniLag, replayLag) switch
        {
            (null, null) => null,
            ({ } p, null) => p,
            (null, { } q) => q,
            ({ } p, { } q) => Math.Max(p, q),
        };
    }

    /// <summary>
    /// Patroni's own lag of the member (from the received position), as the leader's /cluster view (else any view)
    /// reports it; <see cref="MemberState.LagBytes"/> when no view lists the member. Null when unknown.
    /// </summary>
    private static long? PatroniLag(ClusterSnapshot snapshot, MemberState member)
    {
        var inView = ReferenceView(snapshot.Patroni, snapshot.Leader)?.Members.FirstOrDefault(m => string.Equals(m.Name, member.Name, StringComparison.Ordinal));
        if (inView is not null)
        {
            return inView.LagUnknown ? null : inView.LagBytes;
        }

        return member.LagUnknown ? null : member.LagBytes;
    }

    /// <summary>The leader's /cluster view, else the first view that answered.</summary>
    private static PatroniClusterView? ReferenceView(PatroniObservation? patroni, string? leader)
    {
        var views = patroni?.Members ?? [];
        return views.FirstOrDefault(v => string.Equals(v.Member, leader, StringComparison.Ordinal) && v.Cluster is not null)?.Cluster
            ?? views.Select(v => v.Cluster).FirstOrDefault(c => c is not null);
    }

    private static long? Unreceived(WritablePosition? lastWritable, MemberState member)
    {
        if (lastWritable is null || string.Equals(lastWritable.Member, member.Name, StringComparison.Ordinal) || Lsn.Parse(lastWritable.Lsn) is not { } last)
        {
            return null;
        }

        // WAL received but not replayed yet is not lost: a promotion replays it first.
        var received = (Lsn.Parse(member.ReceiveLsn), Lsn.Parse(member.ReplayLsn)) switch
        {
            ({ } r, { } p) => Math.Max(r, p),
            ({ } r, null) => r,
            (null, var p) => p,
        };
        return received is { } got ? Math.Max(0, last - got) : null;
    }

    /// <summary>
    /// Puts etcd's answer into the Patroni observation: when the key was read, its holder is the leader (or nobody),
    /// whatever the members' views vote; the views that name another leader are reported as stale (a frozen or
    /// partitioned member's Patroni answers from its cache). When it was not read, the vote stands.
    /// </summary>
    public static PatroniObservation WithDcs(PatroniObservation patroni, Dcs.DcsLeaderObservation dcs)
    {
        ArgumentNullException.ThrowIfNull(patroni);
        ArgumentNullException.ThrowIfNull(dcs);
        if (!dcs.Read)
        {
            return patroni with { Dcs = dcs };
        }

        dcs = dcs with { RenewalOverdue = dcs.Holder is null ? null : dcs.Overdue(patroni.Config?.LoopWaitSeconds) };

        var stale = patroni.LeaderByView.Where(kv => !string.Equals(kv.Value.Length == 0 ? null : kv.Value, dcs.Holder, StringComparison.Ordinal))
            .Select(kv => $"{kv.Key} sees {(kv.Value.Length == 0 ? "no leader" : kv.Value)}").ToList();
        var claimants = patroni.Members.Where(v => v.Node is { Role: PatroniRole.Leader } && !string.Equals(v.Member, dcs.Holder, StringComparison.Ordinal))
            .Select(v => $"{v.Member} reports role {v.Node!.RawRole}").ToList();
        var disagreements = patroni.Disagreements.Where(d => !d.Contains("leader", StringComparison.Ordinal)).ToList();
        if (stale.Count > 0 || claimants.Count > 0)
        {
            disagreements.Add($"etcd {dcs.Endpoint} says the leader key is {(dcs.Holder is null ? "not held" : $"held by {dcs.Holder}")}; stale views (not the arbiter): "
                + string.Join(", ", stale.Concat(claimants)));
        }

        return patroni with { Leader = dcs.Holder, Dcs = dcs, Disagreements = disagreements };
    }

    public static (IReadOnlyList<MemberState> Members, string? Leader, string? LeaderSource, long? Timeline) FuseMembers(
        PgCluster cluster, PatroniObservation? patroni, MetricsObservation? metrics, IReadOnlyList<PostgresMemberObservation> postgres)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(postgres);
        var leader = patroni?.Leader;
        string? leaderSource = leader is null ? null : patroni!.LeaderFromDcs ? "dcs" : "patroni";
        if (leader is null && patroni?.LeaderFromDcs != true)
        {
            var primaries = postgres.Where(p => p.InRecovery == false).Select(p => p.Member).ToList();
            if (primaries.Count == 1)
            {
                leader = primaries[0];
                leaderSource = "postgres";
            }
        }

        var views = patroni?.Members ?? [];
        var referenceView = ReferenceView(patroni, leader);
        var leaderNode = views.FirstOrDefault(v => string.Equals(v.Member, leader, StringComparison.Ordinal))?.Node;
        var leaderPg = postgres.FirstOrDefault(p => string.Equals(p.Member, leader, StringComparison.Ordinal));
        long? leaderWal = leaderNode?.WalPosition ?? Lsn.Parse(leaderPg?.CurrentLsn);

        var names = cluster.Members.Select(m => m.Name).ToList();
        if (referenceView is not null)
        {
            names.AddRange(referenceView.Members.Select(m => m.Name).Where(n => !names.Contains(n, StringComparer.Ordinal)));
        }

        var members = new List<MemberState>();
        foreach (var name in names)
        {
            var inv = cluster.FindMember(name);
            var view = views.FirstOrDefault(v => string.Equals(v.Member, name, StringComparison.Ordinal));
            var node = view?.Node;
            var cm = referenceView?.Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
            var pg = postgres.FirstOrDefault(p => string.Equals(p.Member, name, StringComparison.Ordinal));
            var notes = new List<string>();
            var isLeader = string.Equals(name, leader, StringComparison.Ordinal);

            var role = cm?.Role ?? node?.Role ?? PatroniRole.Unknown;
            if (cm is null && node is not null)
            {
                notes.Add("role from the member's own /patroni (absent from the cluster view)");
            }

            var received = node?.ReceivedPosition ?? Lsn.Parse(pg?.ReceiveLsn);
            var replayed = node?.ReplayedPosition ?? Lsn.Parse(pg?.ReplayLsn);
            var wal = isLeader ? leaderWal : null;

            // Lag in bytes: the leader's WAL position minus this replica's REPLAY position (what it has not applied yet),
            // else Patroni's own number (Patroni 3 measures it from the received/written position, so a replica whose
            // replay stands still shows no lag there), else the leader's pg_stat_replication, else metrics.
            var peer = leaderPg?.Replication.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));
            long? lagBytes = null;
            if (!isLeader)
            {
                if (leaderWal is { } lw && replayed is { } rp)
                {
                    lagBytes = Math.Max(0, lw - rp);
                    var patroniSays = cm?.LagBytes is { } pl && pl != lagBytes
                        ? string.Create(CultureInfo.InvariantCulture, $"; Patroni's /cluster lag is {pl}")
                        : "";
                    notes.Add(string.Create(CultureInfo.InvariantCulture,
                        $"lag bytes {lagBytes} = leader WAL {Lsn.Format(lw)} - replay {Lsn.Format(rp)}{patroniSays}"));
                }
                else if (cm?.LagBytes is { } patroniLag)
                {
                    lagBytes = patroniLag;
                    notes.Add($"lag bytes from Patroni (no {(leaderWal is null ? "leader WAL" : "replay")} position to compute them from)");
                }

                lagBytes ??= peer?.ReplayLagBytes;
                if (lagBytes is null && metrics?.Find("lag_bytes")?.NumberFor(name) is { } mb)
                {
                    lagBytes = (long)mb;
                    notes.Add("lag bytes from metrics");
                }
            }

            double? lagSeconds = null;
            if (!isLeader)
            {
                lagSeconds = peer?.ReplayLagSeconds;
                if (lagSeconds is null && metrics?.Find("lag_seconds")?.NumberFor(name) is { } ms)
                {
                    lagSeconds = ms;
                }

                if (lagSeconds is null && peer is not null && peer.State == "streaming")
                {
                    lagSeconds = 0; // pg_stat_replication leaves replay_lag null when the replica has caught up
                }
            }

            bool? streaming = null;
            if (!isLeader && (leaderNode is not null || leaderPg is not null))
            {
                var fromPatroni = leaderNode?.Replication.FirstOrDefault(r => string.Equals(r.ApplicationName, name, StringComparison.Ordinal));
                streaming = (fromPatroni?.State ?? peer?.State) == "streaming";
            }
            else if (!isLeader && cm?.State == "streaming")
            {
                streaming = true;
            }

            var pgRunning = node is not null ? node.PostgresRunning
                : cm?.State is { } st ? st is "running" or "streaming"
                : pg?.Reachable;
            if (view is { Reachable: false })
            {
                notes.Add("Patroni API unreachable: " + string.Join("; ", view.Errors.Take(1)));
            }

            var inRecovery = pg?.InRecovery;
            // Metrics only when PostgreSQL was not probed directly: a scrape of a dead server stays in Prometheus for
            // minutes, and a stale "not in recovery" would make a dead leader look writable.
            if (inRecovery is null && pg is not { Reachable: false } && metrics?.Find("pg_in_recovery")?.NumberFor(name) is { } rec)
            {
                inRecovery = rec >= 0.5;
            }

            members.Add(new MemberState
            {
                Name = name,
                DeclaredRole = inv?.DeclaredRole,
                PatroniRole = role,
                PatroniRawRole = cm?.RawRole ?? node?.RawRole,
                PatroniState = node?.State ?? cm?.State,
                Reachable = view?.Reachable ?? false,
                PostgresRunning = pgRunning,
                PostgresReachable = pg?.Reachable,
                InRecovery = inRecovery,
                Timeline = node?.Timeline ?? cm?.Timeline,
                WalLsn = wal is { } w ? Lsn.Format(w) : null,
                ReceiveLsn = received is { } r ? Lsn.Format(r) : cm?.ReceiveLsn,
                ReplayLsn = replayed is { } p ? Lsn.Format(p) : cm?.ReplayLsn,
                LagBytes = lagBytes,
                LagUnknown = cm?.LagUnknown ?? false,
                LagSeconds = lagSeconds is { } ls ? Math.Round(ls, 3) : null,
                Streaming = streaming,
                SyncState = leaderNode?.Replication.FirstOrDefault(x => string.Equals(x.ApplicationName, name, StringComparison.Ordinal))?.SyncState ?? peer?.SyncState,
                PendingRestart = cm?.PendingRestart == true || node?.PendingRestart == true || pg?.PendingRestart == true ? true
                    : cm is null && node is null && pg?.PendingRestart is null ? null : false,
                NoFailover = cm?.NoFailover ?? false,
                Notes = notes,
            });
        }

        var timeline = patroni?.Timeline ?? members.FirstOrDefault(m => m.Name == leader)?.Timeline;
        return (members, leader, leaderSource, timeline);
    }

    /// <summary>Every disagreement between the inventory and the live sources, and between live sources.</summary>
    public static IReadOnlyList<DriftItem> Drift(PgCluster cluster, PatroniObservation? patroni, IReadOnlyList<MemberState> members,
        string? leader, MetricsObservation? metrics)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(members);
        var drift = new List<DriftItem>();
        var declared = cluster.DeclaredPrimary?.Name;
        var patroniSaw = patroni is not null && patroni.Members.Any(v => v.Cluster is not null);

        if (declared is null)
        {
            drift.Add(new("no-declared-primary", "info", "inventory", null, "a member with pg_role primary", null,
                $"the inventory declares no primary for {cluster.Name}"));
        }

        if (patroniSaw && patroni!.Leader is null)
        {
            drift.Add(new("no-leader", "critical", "patroni", null, declared, null,
                $"no member of {cluster.Name} holds the Patroni leader key"));
        }

        if (declared is not null && patroni?.Leader is { } pl && !string.Equals(declared, pl, StringComparison.Ordinal))
        {
            drift.Add(new("declared-primary-not-leader", "warning", "inventory/patroni", declared, declared, pl,
                $"the inventory says {declared} is primary (pg_role), Patroni's leader is {pl}: update pg_role in the inventory or switch over back"));
        }

        if (patroniSaw)
        {
            var known = patroni!.Members.Where(v => v.Cluster is not null).SelectMany(v => v.Cluster!.Members.Select(m => m.Name)).ToHashSet(StringComparer.Ordinal);
            foreach (var m in cluster.Members.Where(m => !known.Contains(m.Name)))
            {
                drift.Add(new("member-not-in-patroni", "warning", "inventory/patroni", m.Name, "registered in the DCS", "absent",
                    $"{m.Name} is in the inventory but no Patroni cluster view lists it (Patroni down for longer than ttl, or never bootstrapped)"));
            }

            foreach (var name in known.Where(n => cluster.FindMember(n) is null).Order(StringComparer.Ordinal))
            {
                drift.Add(new("patroni-member-not-in-inventory", "warning", "inventory/patroni", name, "absent", "registered in the DCS",
                    $"Patroni lists {name}, which the inventory does not describe"));
            }

            foreach (var d in patroni.Disagreements)
            {
                // With etcd read, a view naming another leader is a stale cache, not a dispute: etcd decides.
                var disputed = d.Contains("leader", StringComparison.Ordinal) && !patroni.LeaderFromDcs;
                drift.Add(new(patroni.LeaderFromDcs && d.StartsWith("etcd ", StringComparison.Ordinal) ? "patroni-view-stale" : "patroni-views-disagree",
                    disputed ? "critical" : "warning", "patroni/patroni", null, null, null, d));
            }

            if (cluster.Ha is var ha && patroni.Config is { } cfg)
            {
                void Compare(string key, long expected, long? observed)
                {
                    if (observed is not null && observed != expected)
                    {
                        drift.Add(new("ha-config-differs", "info", "inventory/patroni", null, $"{key}={expected}", $"{key}={observed}",
                            $"Patroni's {key} is {observed}, the inventory implies {expected}"));
                    }
                }

                Compare("ttl", ha.TtlSeconds, cfg.TtlSeconds);
                Compare("loop_wait", ha.LoopWaitSeconds, cfg.LoopWaitSeconds);
                Compare("maximum_lag_on_failover", ha.MaximumLagOnFailoverBytes, cfg.MaximumLagOnFailoverBytes);
            }
        }

        foreach (var m in members)
        {
            if (m.InRecovery is { } rec && m.PatroniRole != PatroniRole.Unknown && m.PostgresReachable == true)
            {
                var patroniSaysPrimary = m.PatroniRole == PatroniRole.Leader;
                if (patroniSaysPrimary == rec)
                {
                    drift.Add(new("role-mismatch-postgres", rec ? "warning" : "critical", "patroni/postgres", m.Name,
                        patroniSaysPrimary ? "not in recovery" : "in recovery", rec ? "in recovery" : "not in recovery",
                        rec ? $"Patroni calls {m.Name} {m.PatroniRawRole} but PostgreSQL is in recovery"
                            : $"Patroni calls {m.Name} {m.PatroniRawRole} but PostgreSQL is NOT in recovery: a second writable primary"));
                }
            }

            if (metrics?.Find("pg_in_recovery") is { Status: "ok", Source: not "patroni" } recMetric && recMetric.NumberFor(m.Name) is { } mv
                && m.PatroniRole is PatroniRole.Leader or PatroniRole.Replica or PatroniRole.SyncStandby)
            {
                var metricPrimary = mv < 0.5;
                if (metricPrimary != (m.PatroniRole == PatroniRole.Leader))
                {
                    drift.Add(new("role-mismatch-metrics", "info", "patroni/metrics", m.Name, m.PatroniRawRole, metricPrimary ? "primary" : "replica",
                        $"metrics ({recMetric.Source}) still show {m.Name} as {(metricPrimary ? "primary" : "replica")}, Patroni says {m.PatroniRawRole} (stale scrape?)"));
                }
            }
        }

        return drift;
    }
}
