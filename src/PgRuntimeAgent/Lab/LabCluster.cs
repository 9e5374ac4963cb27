using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace PgRuntimeAgent.Lab;

/// <summary>A member as Patroni's GET /cluster describes it.</summary>
internal sealed record PatroniMemberState(string Name, string Role, string State, string? Host, int? Port, int? Timeline, string? Lag);

/// <summary>The cluster as seen at one moment: Patroni's view plus the leader's streaming replicas.</summary>
internal sealed record LabClusterHealth(IReadOnlyList<PatroniMemberState> Members, string? Leader, IReadOnlyList<string> StreamingReplicas)
{
    /// <summary>One running leader, every other member running and streaming from it.</summary>
    public bool Healthy(int expectedMembers) =>
        Leader is not null
        && Members.Count == expectedMembers
        && Members.All(m => m.State is "running" or "streaming")
        && StreamingReplicas.Count == expectedMembers - 1;

    public string Describe() =>
        Members.Count == 0
            ? "Patroni does not answer"
            : string.Join(", ", Members.Select(m => $"{m.Name} {m.Role}/{m.State}")) + $"; streaming: {StreamingReplicas.Count}";
}

/// <summary>Talks to the lab's Patroni REST API and PostgreSQL (loopback addresses from the manifest only).</summary>
internal sealed class LabCluster : IDisposable
{
    private readonly HttpClient _http;

    public LabCluster(LabManifest manifest, TimeProvider? time = null)
    {
        Manifest = manifest ?? throw new ArgumentNullException(nameof(manifest));
        Time = time ?? TimeProvider.System;
        _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan }; // every call has its own timeout
        var auth = $"{manifest.Credentials.Patroni.Username}:{manifest.Credentials.Patroni.Password}";
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(auth)));
    }

    public LabManifest Manifest { get; }

    public TimeProvider Time { get; }

    public HttpClient Http => _http;

    /// <summary>GET /cluster from the first member that answers; empty when none does.</summary>
    public async Task<IReadOnlyList<PatroniMemberState>> GetMembersAsync(CancellationToken cancellationToken)
    {
        foreach (var member in Manifest.Members)
        {
            var doc = await GetJsonAsync(new Uri(member.PatroniUrl, "/cluster"), TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            if (doc is null || !doc.RootElement.TryGetProperty("members", out var members))
            {
                continue;
            }

            using (doc)
            {
                return members.EnumerateArray().Select(m => new PatroniMemberState(
                    Str(m, "name") ?? "?",
                    Str(m, "role") ?? "?",
                    Str(m, "state") ?? "?",
                    Str(m, "host"),
                    m.TryGetProperty("port", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null,
                    m.TryGetProperty("timeline", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null,
                    m.TryGetProperty("lag", out var l) ? l.ToString() : null)).ToList();
            }
        }

        return [];
    }

    /// <summary>GET /patroni of one member (null when it does not answer).</summary>
    public Task<JsonDocument?> GetPatroniAsync(LabMember member, CancellationToken cancellationToken) =>
        GetJsonAsync(new Uri(member.PatroniUrl, "/patroni"), TimeSpan.FromSeconds(2), cancellationToken);

    public async Task<LabClusterHealth> HealthAsync(CancellationToken cancellationToken)
    {
        var members = await GetMembersAsync(cancellationToken).ConfigureAwait(false);
        var leader = members.FirstOrDefault(m => m.Role is "leader" or "master" or "primary" && m.State == "running");
        var streaming = new List<string>();
        if (leader is not null && Manifest.FindMember(leader.Name) is { } leaderMember)
        {
            using var patroni = await GetPatroniAsync(leaderMember, cancellationToken).ConfigureAwait(false);
            if (patroni is not null && patroni.RootElement.TryGetProperty("replication", out var replication) && replication.ValueKind == JsonValueKind.Array)
            {
                streaming.AddRange(replication.EnumerateArray()
                    .Where(r => Str(r, "state") == "streaming")
                    .Select(r => Str(r, "application_name") ?? "?"));
            }
        }

        return new LabClusterHealth(members, leader?.Name, streaming);
    }

    /// <summary>The member Patroni calls leader (running), or null.</summary>
    public async Task<LabMember?> LeaderAsync(CancellationToken cancellationToken)
    {
        var members = await GetMembersAsync(cancellationToken).ConfigureAwait(false);
        var leader = members.FirstOrDefault(m => m.Role is "leader" or "master" or "primary");
        return leader is null ? null : Manifest.FindMember(leader.Name);
    }

    /// <summary>Polls until the cluster is healthy; returns the last health seen and whether it got there in time.</summary>
    public async Task<(bool Ok, LabClusterHealth Last)> WaitHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        long? lastNudge = null;
        while (true)
        {
            var health = await HealthAsync(cancellationToken).ConfigureAwait(false);
            if (health.Healthy(Manifest.Members.Count))
            {
                return (true, health);
            }

            if (health.Members.Any(m => m.State == "starting") && (lastNudge is null || Time.GetElapsedTime(lastNudge.Value) > TimeSpan.FromSeconds(5)))
            {
                lastNudge = Time.GetTimestamp();
                await NudgeWalAsync(health, cancellationToken).ConfigureAwait(false);
            }

            if (Time.GetElapsedTime(started) > timeout)
            {
                return (false, health);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Polls until every replica Patroni lists reports a replay lag of at most <paramref name="maxLagBytes"/> (Patroni's
    /// own "lag" in /cluster, the figure its maximum_lag_on_failover guard compares). Right after heavy writes a
    /// switchover is correctly refused until the replicas catch up; tests that request one wait here first.
    /// </summary>
    public async Task<(bool Ok, IReadOnlyList<PatroniMemberState> Last)> WaitCaughtUpAsync(long maxLagBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        while (true)
        {
            var members = await GetMembersAsync(cancellationToken).ConfigureAwait(false);
            var replicas = members.Where(m => m.Role is not ("leader" or "master" or "primary" or "standby_leader")).ToList();
            if (members.Count > 0 && replicas.All(r => long.TryParse(r.Lag, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var lag) && lag <= maxLagBytes))
            {
                return (true, members);
            }

            if (Time.GetElapsedTime(started) > timeout)
            {
                return (false, members);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), Time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, LabMember member, string path, string? json, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(3));
        using var request = new HttpRequestMessage(method, new Uri(member.PatroniUrl, path));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = await _http.SendAsync(request, cts.Token).ConfigureAwait(false);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (0, ex.Message);
        }
    }

    /// <summary>
    /// A replica rewound or rebuilt while the leader is idle can wait for WAL beyond its consistency point that an
    /// idle leader never writes ("starting" for ever): a small write and a WAL switch on the leader let it finish.
    /// </summary>
    public async Task NudgeWalAsync(LabClusterHealth health, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(health);
        if (health.Leader is null || Manifest.FindMember(health.Leader) is not { } leader)
        {
            return;
        }

        try
        {
            await ScalarAsync(leader, "SELECT pg_switch_wal() FROM (SELECT txid_current()) AS write_one_xid", cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // the leader is busy or read-only right now: the next poll tries again
        }
    }

    /// <summary>A connection string to one member's PostgreSQL (direct, port 5432) or another port of its address.</summary>
    public string ConnectionString(LabMember member, LabLogin login, string? database = null, int? port = null, string application = "pgra-lab")
    {
        ArgumentNullException.ThrowIfNull(member);
        ArgumentNullException.ThrowIfNull(login);
        return new NpgsqlConnectionStringBuilder
        {
            Host = member.Ip,
            Port = port ?? member.Ports.Postgres,
            Username = login.Username,
            Password = login.Password,
            Database = database ?? "postgres",
            ApplicationName = application,
            Timeout = 3,
            CommandTimeout = 10,
            Pooling = false,
        }.ConnectionString;
    }

    /// <summary>The primary service (haproxy 5433 on every member, as Pigsty's clients use it).</summary>
    public string PrimaryServiceConnectionString(LabLogin? login = null, string application = "pgra-workload") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = string.Join(',', Manifest.Members.Select(m => m.Ip)),
            Port = Manifest.Members[0].Ports.HaproxyPrimary,
            Username = (login ?? Manifest.Credentials.App).Username,
            Password = (login ?? Manifest.Credentials.App).Password,
            Database = Manifest.Database,
            ApplicationName = application,
            Timeout = 2,
            CommandTimeout = 2,
            NoResetOnClose = true,
            Pooling = false,
        }.ConnectionString;

    /// <summary>The replica service (haproxy 5434 on every member).</summary>
    public string ReplicaServiceConnectionString(LabLogin? login = null, string application = "pgra-workload-reader") =>
        new NpgsqlConnectionStringBuilder(PrimaryServiceConnectionString(login, application))
        {
            Port = Manifest.Members[0].Ports.HaproxyReplica,
        }.ConnectionString;

    /// <summary>Runs one SQL statement as the admin user on a member; returns the first column of the first row.</summary>
    public async Task<object?> ScalarAsync(LabMember member, string sql, CancellationToken cancellationToken, string? database = null, LabLogin? login = null)
    {
        await using var conn = new NpgsqlConnection(ConnectionString(member, login ?? Manifest.Credentials.Admin, database));
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    private async Task<JsonDocument?> GetJsonAsync(Uri url, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _http.GetAsync(url, cts.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
            return await JsonDocument.ParseAsync(body, cancellationToken: cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static string? Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();
}
