using System.Text.Json;

namespace PgRuntimeAgent.Sensing.Patroni;

/// <summary>
/// Parses Patroni REST bodies of every version seen in the field (2.x "master", 3.0 "master"/"leader", 3.x+
/// "primary", 4.x quorum and receive/replay lag). Missing fields are null; malformed bodies throw
/// <see cref="SensorResponseException"/> naming the endpoint.
/// </summary>
public static class PatroniParser
{
    public static PatroniRole ParseRole(string? raw) => raw?.Trim().ToLowerInvariant() switch
    {
        "master" or "primary" or "leader" => PatroniRole.Leader,
        "replica" or "standby" => PatroniRole.Replica,
        "sync_standby" or "sync standby" => PatroniRole.SyncStandby,
        "quorum_standby" or "quorum standby" => PatroniRole.QuorumStandby,
        "standby_leader" or "standby leader" => PatroniRole.StandbyLeader,
        "uninitialized" => PatroniRole.Uninitialized,
        _ => PatroniRole.Unknown,
    };

    public static PatroniClusterView ParseCluster(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || root.Prop("members") is not { ValueKind: JsonValueKind.Array } members)
        {
            throw new SensorResponseException(endpoint, $"expected an object with a \"members\" array; got: {JsonRead.Excerpt(body)}");
        }

        var list = new List<PatroniClusterMember>();
        foreach (var m in members.EnumerateArray())
        {
            if (m.Str("name") is not { } name)
            {
                continue;
            }

            var rawRole = m.Str("role");
            var lag = m.Prop("lag");
            long? lagBytes = lag is { } l ? JsonRead.AsLong(l) : null;
            var tags = m.StringMap("tags");
            list.Add(new PatroniClusterMember
            {
                Name = name,
                RawRole = rawRole,
                Role = ParseRole(rawRole),
                State = m.Str("state"),
                ApiUrl = m.Str("api_url"),
                Host = m.Str("host"),
                Port = (int?)m.Long("port"),
                Timeline = m.Long("timeline"),
                LagBytes = lagBytes,
                LagUnknown = lag is not null && lagBytes is null,
                ReceiveLagBytes = m.Long("receive_lag"),
                ReplayLagBytes = m.Long("replay_lag"),
                ReceiveLsn = m.Str("receive_lsn"),
                ReplayLsn = m.Str("replay_lsn"),
                PendingRestart = m.Bool("pending_restart") ?? false,
                NoFailover = tags.TryGetValue("nofailover", out var nf) && nf is "true" or "True",
                Tags = tags,
            });
        }

        var leader = list.FirstOrDefault(x => x.Role is PatroniRole.Leader or PatroniRole.StandbyLeader)?.Name;
        return new PatroniClusterView
        {
            Members = list,
            Leader = leader,
            Paused = root.Bool("pause") ?? false,
            ScheduledSwitchover = root.Prop("scheduled_switchover") is { } s ? s.GetRawText() : null,
        };
    }

    /// <summary>/patroni, /health, /primary, /replica...: same JSON; the HTTP status is kept as data.</summary>
    public static PatroniNodeStatus ParseNode(string body, string endpoint, int httpStatus)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new SensorResponseException(endpoint, $"expected a JSON object; got: {JsonRead.Excerpt(body)}");
        }

        var xlog = root.Prop("xlog");
        var rawRole = root.Str("role");
        var replication = new List<PatroniReplicationEntry>();
        if (root.Prop("replication") is { ValueKind: JsonValueKind.Array } rep)
        {
            foreach (var r in rep.EnumerateArray())
            {
                replication.Add(new PatroniReplicationEntry(
                    r.Str("application_name"), r.Str("client_addr"), r.Str("state"), r.Str("sync_state"), (int?)r.Long("sync_priority"), r.Str("usename")));
            }
        }

        var patroni = root.Prop("patroni");
        return new PatroniNodeStatus
        {
            HttpStatus = httpStatus,
            State = root.Str("state"),
            RawRole = rawRole,
            Role = ParseRole(rawRole),
            ServerVersion = (int?)root.Long("server_version"),
            Timeline = root.Long("timeline"),
            WalPosition = xlog?.Long("location"),
            ReceivedPosition = xlog?.Long("received_location"),
            ReplayedPosition = xlog?.Long("replayed_location"),
            ReplayedTimestamp = xlog?.Str("replayed_timestamp"),
            ReplayPaused = xlog?.Bool("paused"),
            Replication = replication,
            DcsLastSeen = root.Long("dcs_last_seen"),
            PendingRestart = root.Bool("pending_restart") ?? false,
            Paused = root.Bool("pause") ?? false,
            PostmasterStartTime = root.Str("postmaster_start_time"),
            PatroniVersion = patroni?.Str("version"),
            Scope = patroni?.Str("scope"),
            SystemIdentifier = root.Str("database_system_identifier"),
            Tags = root.StringMap("tags"),
        };
    }

    public static IReadOnlyList<PatroniHistoryEntry> ParseHistory(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new SensorResponseException(endpoint, $"expected a JSON array of timeline switches; got: {JsonRead.Excerpt(body)}");
        }

        var list = new List<PatroniHistoryEntry>();
        foreach (var row in doc.RootElement.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array)
            {
                throw new SensorResponseException(endpoint, $"history row is not an array: {JsonRead.Excerpt(row.GetRawText())}");
            }

            var items = row.EnumerateArray().ToList();
            if (items.Count < 2 || JsonRead.AsLong(items[0]) is not { } tl || JsonRead.AsLong(items[1]) is not { } pos)
            {
                throw new SensorResponseException(endpoint, $"history row lacks timeline and LSN: {JsonRead.Excerpt(row.GetRawText())}");
            }

            list.Add(new PatroniHistoryEntry(
                tl,
                pos,
                items.Count > 2 ? JsonRead.AsString(items[2]) : null,
                items.Count > 3 ? JsonRead.AsString(items[3]) : null,
                items.Count > 4 ? JsonRead.AsString(items[4]) : null));
        }

        return list;
    }

    public static PatroniDynamicConfig ParseConfig(string body, string endpoint)
    {
        using var doc = JsonRead.Parse(body, endpoint);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new SensorResponseException(endpoint, $"expected a JSON object; got: {JsonRead.Excerpt(body)}");
        }

        var pg = root.Prop("postgresql");
        return new PatroniDynamicConfig
        {
            TtlSeconds = (int?)root.Long("ttl"),
            LoopWaitSeconds = (int?)root.Long("loop_wait"),
            RetryTimeoutSeconds = (int?)root.Long("retry_timeout"),
            MaximumLagOnFailoverBytes = root.Long("maximum_lag_on_failover"),
            PrimaryStartTimeoutSeconds = (int?)(root.Long("primary_start_timeout") ?? root.Long("master_start_timeout")),
            SynchronousMode = root.Bool("synchronous_mode"),
            SynchronousModeStrict = root.Bool("synchronous_mode_strict"),
            Paused = root.Bool("pause") ?? false,
            Parameters = pg is { } p ? p.StringMap("parameters") : new Dictionary<string, string>(),
        };
    }
}
