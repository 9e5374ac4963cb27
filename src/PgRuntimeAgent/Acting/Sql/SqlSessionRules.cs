namespace PgRuntimeAgent.Acting.Sql;

/// <summary>What a rule of <see cref="SqlSessionRules"/> says about the sessions it matches.</summary>
public enum SessionRule
{
    Allow,
    Deny,
}

/// <summary>
/// Which sessions <c>sql.cancel_backend</c> and <c>sql.terminate_backend</c> may signal, by user and by
/// application_name (settings <c>policy.sql_sessions</c>). Each map goes from a name or a glob (<c>*</c> matches any run
/// of characters, <c>app-*</c>) to <c>allow</c> or <c>deny</c>. A session matching a <c>deny</c> entry is refused; when a
/// map has any <c>allow</c> entry, a session matching none of them is refused too (an allow list). Deny wins. These
/// come on top of what is always refused: superusers, replication connections, background processes and pgra itself.
/// <code>
/// policy:
///   sql_sessions:
///     users: { dbuser_dba: deny, replicator: deny }
///     applications: { "pgra-lab-*": allow, "app-*": allow }
/// </code>
/// </summary>
public sealed record SqlSessionRules
{
    /// <summary>User name (or glob) to rule.</summary>
    [Settings.SettingsKeys(typeof(SqlSessionRules), nameof(CheckPattern))]
    public IReadOnlyDictionary<string, SessionRule> Users { get; init; } = new Dictionary<string, SessionRule>(StringComparer.Ordinal);

    /// <summary>application_name (or glob) to rule.</summary>
    [Settings.SettingsKeys(typeof(SqlSessionRules), nameof(CheckPattern))]
    public IReadOnlyDictionary<string, SessionRule> Applications { get; init; } = new Dictionary<string, SessionRule>(StringComparer.Ordinal);

    /// <summary>Null when <paramref name="pattern"/> may be a key of <c>users</c> or <c>applications</c>; otherwise what is wrong and a hint.</summary>
    internal static (string Message, string Hint)? CheckPattern(string pattern)
    {
        const string hint = "write a name or a glob where * matches any run of characters, for example app-* or dbuser_dba";
        if (string.IsNullOrWhiteSpace(pattern))
        {
            return ("an empty name in policy.sql_sessions", hint);
        }

        if (pattern.Trim() != pattern)
        {
            return ($"'{pattern}' has leading or trailing spaces", hint);
        }

        if (pattern.Contains(".*", StringComparison.Ordinal) || pattern.IndexOfAny(['^', '[', ']', '(', ')', '|', '?', '\\']) >= 0)
        {
            return ($"'{pattern}' looks like a regular expression; only * is a wildcard here", hint);
        }

        return null;
    }

    /// <summary>
    /// Null when the rules let a session of <paramref name="user"/> and <paramref name="application"/> be signalled;
    /// otherwise why not (which entry denies it, or that no allow entry matches).
    /// </summary>
    public string? Refusal(string? user, string? application) =>
        Refusal("user", Users, user ?? "") ?? Refusal("application", Applications, application ?? "");

    private static string? Refusal(string what, IReadOnlyDictionary<string, SessionRule> rules, string value)
    {
        var deny = rules.Where(r => r.Value == SessionRule.Deny).Select(r => r.Key).FirstOrDefault(p => Matches(p, value));
        if (deny is not null)
        {
            return $"{what} '{value}' is denied by policy.sql_sessions ({deny}: deny)";
        }

        var allows = rules.Where(r => r.Value == SessionRule.Allow).Select(r => r.Key).ToList();
        return allows.Count > 0 && !allows.Any(p => Matches(p, value))
            ? $"{what} '{value}' matches no allow entry of policy.sql_sessions ({string.Join(", ", allows)})"
            : null;
    }

    /// <summary>Whether <paramref name="value"/> matches <paramref name="pattern"/>: exact (ordinal), <c>*</c> matching any run of characters.</summary>
    public static bool Matches(string pattern, string value)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(value);
        var parts = pattern.Split('*');
        if (parts.Length == 1)
        {
            return string.Equals(pattern, value, StringComparison.Ordinal);
        }

        if (!value.StartsWith(parts[0], StringComparison.Ordinal) || !value.EndsWith(parts[^1], StringComparison.Ordinal)
            || value.Length < parts[0].Length + parts[^1].Length)
        {
            return false;
        }

        var at = parts[0].Length;
        var end = value.Length - parts[^1].Length;
        foreach (var part in parts[1..^1])
        {
            var found = value.IndexOf(part, at, end - at, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            at = found + part.Length;
        }

        return true;
    }
}
