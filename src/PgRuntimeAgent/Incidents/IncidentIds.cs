using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Incidents;

/// <summary>
/// The shape of an incident id (<c>inc-CLUSTER-YYYYMMDD-HHMMSS</c>, <c>-N</c> when two open in the same second), as
/// <see cref="IncidentManager"/> makes them. Anything else given as an id (a path, a traversal, a query) is refused
/// before the journal or a file is touched.
/// </summary>
internal static partial class IncidentIds
{
    /// <summary>The longest id accepted (a cluster name of up to 100 characters).</summary>
    public const int MaxLength = 140;

    public const string Pattern = "inc-CLUSTER-YYYYMMDD-HHMMSS[-N]";

    public static bool IsValid(string? id) => id is { Length: > 0 and <= MaxLength } && Shape().IsMatch(id);

    [GeneratedRegex(@"^inc-[A-Za-z0-9][A-Za-z0-9_-]*-[0-9]{8}-[0-9]{6}(-[0-9]{1,6})?$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Shape();
}
