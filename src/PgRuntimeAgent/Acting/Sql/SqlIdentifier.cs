using System.Text;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>
/// PostgreSQL identifiers as pgra writes them into the few statements that cannot take bind parameters (CREATE
/// INDEX, DROP INDEX, ANALYZE, VACUUM): always double-quoted with embedded quotes doubled, as quote_ident does for a
/// name that needs quoting, so a name is a name and never SQL. Names are checked first: not empty, no NUL, at most
/// 63 bytes (NAMEDATALEN - 1). Values (ALTER SYSTEM) are quoted by the server with format('%I', '%L').
/// </summary>
internal static class SqlIdentifier
{
    public const int MaxBytes = 63;

    /// <summary>Why <paramref name="name"/> cannot be an identifier, or null when it can.</summary>
    public static string? Problem(string? name, string what)
    {
        if (string.IsNullOrEmpty(name))
        {
            return $"{what} is empty";
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return $"{what} contains a NUL character";
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        return bytes > MaxBytes ? $"{what} '{name}' is {bytes} bytes long; PostgreSQL names are at most {MaxBytes}" : null;
    }

    /// <summary>The name double-quoted (<c>my "t"</c> → <c>"my ""t"""</c>); <see cref="InputException"/> when it cannot be a name.</summary>
    public static string Quote(string name, string what = "name")
    {
        if (Problem(name, what) is { } problem)
        {
            throw new InputException(problem);
        }

        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary><c>"schema"."name"</c>.</summary>
    public static string Qualified(string schema, string name) => Quote(schema, "schema") + "." + Quote(name);

    /// <summary>A comma-separated list of names (index columns) split and trimmed; empty entries are an error.</summary>
    public static IReadOnlyList<string> SplitList(string list, string what)
    {
        ArgumentNullException.ThrowIfNull(list);
        var items = list.Split(',').Select(s => s.Trim()).ToList();
        if (items.Count == 0 || items.Any(i => i.Length == 0))
        {
            throw new InputException($"{what} must be a comma-separated list of names, got '{list}'");
        }

        foreach (var item in items)
        {
            if (Problem(item, what) is { } problem)
            {
                throw new InputException(problem);
            }
        }

        return items;
    }
}
