using Npgsql;
using PgRuntimeAgent.Acting.Patroni;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>Where a SQL action runs: the member it names, else the leader as sensed now.</summary>
internal sealed record SqlTarget(PgCluster Cluster, PgMember? Member, string? Problem, bool IsLeader)
{
    public PgMember Required => Member ?? throw new InvalidOperationException(Problem ?? "no target member");
}

/// <summary>Finding the member a SQL action runs on and opening an admin session there; shared by the SQL actuators.</summary>
internal sealed class SqlTargets(IClusterSensing sensing, SqlConnector connector)
{
    public SqlConnector Connector => connector;

    public IClusterSensing Sensing => sensing;

    /// <summary>
    /// The member named by the action (or <paramref name="member"/>), else the leader. With
    /// <paramref name="requirePrimary"/> the member must be the leader and out of recovery (writes, DDL, VACUUM).
    /// </summary>
    public async Task<SqlTarget> ResolveAsync(PlannedAction action, bool requirePrimary, CancellationToken cancellationToken, string? member = null)
    {
        ArgumentNullException.ThrowIfNull(action);
        var cluster = sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");
        var s = await sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var name = member ?? action.Member ?? s.Leader;
        if (name is null)
        {
            return new SqlTarget(cluster, null, $"no member named and no leader known for {cluster.Name}", false);
        }

        var target = cluster.FindMember(name);
        if (target is null)
        {
            return new SqlTarget(cluster, null, $"{name} is not a member of {cluster.Name} in the inventory", false);
        }

        var isLeader = string.Equals(name, s.Leader, StringComparison.Ordinal);
        var state = s.FindMember(name);
        if (requirePrimary && (!isLeader || state?.InRecovery == true))
        {
            return new SqlTarget(cluster, null, $"{name} is not the primary (leader: {s.Leader ?? "unknown"}, in recovery: {state?.InRecovery?.ToString() ?? "unknown"})", isLeader);
        }

        return new SqlTarget(cluster, target, null, isLeader);
    }

    public Task<NpgsqlConnection> OpenAsync(SqlTarget target, string? database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        return connector.OpenAsync(target.Cluster, target.Required, database, cancellationToken);
    }

    public string Describe(SqlTarget target, string? database)
    {
        ArgumentNullException.ThrowIfNull(target);
        return target.Member is null ? target.Problem ?? "no target" : connector.Describe(target.Cluster, target.Member, database);
    }

    /// <summary>Failures of a session that are the world's doing (server down, refused, SQL error), not bugs.</summary>
    public static bool IsExpected(Exception ex) =>
        ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException || SensorCall.IsExpected(ex) && ex is not OperationCanceledException;

    /// <summary>SQLSTATE and message of a server error, else the exception's one-line description.</summary>
    public static string Describe(Exception ex) => ex is PostgresException pg ? $"{pg.SqlState}: {pg.MessageText}" : SensorCall.Describe(ex);
}
