using Npgsql;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>Reads settings as a member runs them (pg_settings) and as its configuration files say (pg_file_settings).</summary>
internal static class SqlSettings
{
    /// <summary>pg_settings rows for <paramref name="names"/> (names absent from the result are unknown to the server).</summary>
    public static async Task<IReadOnlyDictionary<string, LiveSetting>> ReadAsync(NpgsqlConnection connection, string[] names, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(names);
        var rows = await SqlConnector.RowsAsync(connection,
            "select name, setting, unit, vartype, context, pending_restart, source from pg_settings where name = any($1::text[])",
            [names.Select(n => n.ToLowerInvariant()).ToArray()], TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        return rows.ToDictionary(
            r => (string)r["name"]!,
            r => new LiveSetting((string)r["name"]!, (string?)r["setting"] ?? "", (string?)r["unit"], (string)r["vartype"]!, (string)r["context"]!,
                r["pending_restart"] is true, (string?)r["source"]),
            StringComparer.Ordinal);
    }

    /// <summary>
    /// The value of <paramref name="name"/> in postgresql.auto.conf (what ALTER SYSTEM wrote), or null when it has no
    /// line there. pg_file_settings reads the files as they are now; the last line for a name wins.
    /// </summary>
    public static async Task<string?> AutoConfValueAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        var rows = await SqlConnector.RowsAsync(connection,
            "select setting from pg_file_settings where name = $1::text and sourcefile like '%postgresql.auto.conf' order by seqno desc limit 1",
            [name.ToLowerInvariant()], TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0]["setting"] as string;
    }
}
