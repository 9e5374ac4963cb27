using System.Globalization;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>connection-saturation</c>: on one member, client sessions use at least <c>ratio</c> of what non-superusers may
/// open (max_connections minus superuser_reserved_connections), or the agent's own monitoring login was refused for
/// want of a slot (SQLSTATE 53300, "too many clients" / "remaining connection slots are reserved"), for the
/// persistence window: a busy minute is not a finding. Every member is judged (replicas serve reads and saturate too);
/// the evidence breaks the sessions down by state, user and application. Facts: <c>top_application</c>,
/// <c>top_user</c>, <c>idle_in_transaction</c>, <c>used</c>, <c>limit</c>.
/// </summary>
public sealed class ConnectionSaturationDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "connection-saturation";

    private static readonly ParameterSpec Ratio = new("ratio", ParameterType.Number,
        "Client sessions over (max_connections - superuser_reserved_connections) at or above this count as saturated.")
    { Default = "0.9", Minimum = 0, Maximum = 1, Unit = "ratio" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 180,
        Severity = FindingSeverity.Warning,
        Summary = "Client sessions use (nearly) every connection slot non-superusers may open; new logins are or will soon be refused.",
        Explanation = "Client sessions filled the connection slots (max_connections less the superuser reserve): applications could not "
            + "open new sessions (SQLSTATE 53300).",
        ConsecutiveSnapshots = 3,
        MinimumSeconds = 60,
        RootCauseRank = 106,
        Thresholds = [Ratio],
    };

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var ratio = input.Settings.Threshold(Code, Ratio);
        foreach (var pg in input.Current.Postgres)
        {
            var run = Persistence.Held(input, s => Symptom(s, pg.Member, ratio), input.Settings.PersistenceOf(Code));
            if (run is null)
            {
                continue;
            }

            // The breakdown of the newest snapshot that had one (while the slots are full, the monitor may not get in).
            var use = run.Select(o => Use(o.Snapshot, pg.Member)).LastOrDefault(u => u is not null);
            var summary = use is null
                ? $"{pg.Member} refuses new sessions for want of a connection slot (the agent's monitoring login was refused: too many clients)"
                : string.Create(CultureInfo.InvariantCulture,
                    $"{use.Used} client sessions on {pg.Member} of {use.MaxConnections - use.Reserved} non-superusers may open ({Percent(use.Ratio)}); "
                    + $"most from application '{Top(use.ByApplication)?.Name ?? "?"}' and user {Top(use.ByUser)?.Name ?? "?"}, {use.IdleInTransaction} idle in transaction");
            var finding = Persistence.ToFinding(input, run, Code, Described.Severity, [pg.Member], summary);
            yield return finding with { Facts = Facts(use, pg.Member) };
        }
    }

    private static ConnectionUse? Use(ClusterSnapshot s, string member) =>
        s.Postgres.FirstOrDefault(p => p.Member == member && p.Reachable)?.ConnectionUse;

    /// <summary>
    /// The monitoring login was refused for want of a slot: SQLSTATE 53300 (too_many_connections: "too many clients
    /// already", "remaining connection slots are reserved"), which Npgsql puts first in the message the sensor keeps.
    /// </summary>
    internal static bool RefusedForSlots(string? error) => error is not null && error.Contains(TooManyConnections + ":", StringComparison.Ordinal);

    /// <summary>SQLSTATE too_many_connections.</summary>
    internal const string TooManyConnections = "53300";

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string member, double ratio)
    {
        var pg = s.Postgres.FirstOrDefault(p => p.Member == member);
        if (pg is null)
        {
            return null;
        }

        if (!pg.Reachable)
        {
            var error = pg.Error ?? SnapshotFacts.Reason(s, Sensing.SensorNames.Postgres, member);
            return RefusedForSlots(error)
                ? [new FindingEvidence(s.TakenAt, "postgres", member, "the agent's monitoring login was refused: " + SnapshotFacts.SqlError(s, member))]
                : null;
        }

        if (pg.ConnectionUse is not { } use || use.MaxConnections - use.Reserved <= 0 || use.Ratio < ratio)
        {
            return null;
        }

        return
        [
            new FindingEvidence(s.TakenAt, "postgres", member, string.Create(CultureInfo.InvariantCulture,
                $"{use.Used} client sessions of {use.MaxConnections - use.Reserved} (max_connections {use.MaxConnections} - superuser_reserved_connections {use.Reserved}), {Percent(use.Ratio)}")),
            new FindingEvidence(s.TakenAt, "postgres", member, "by state: " + Groups(use.ByState)),
            new FindingEvidence(s.TakenAt, "postgres", member, "by user: " + Groups(use.ByUser)),
            new FindingEvidence(s.TakenAt, "postgres", member, "by application: " + Groups(use.ByApplication)),
        ];
    }

    private static ConnectionGroup? Top(IReadOnlyList<ConnectionGroup> groups) => groups.OrderByDescending(g => g.Count).FirstOrDefault();

    private static string Groups(IReadOnlyList<ConnectionGroup> groups) => groups.Count == 0
        ? "-"
        : string.Join(", ", groups.Take(5).Select(g => string.Create(CultureInfo.InvariantCulture, $"'{g.Name}' {g.Count}")));

    private static string Percent(double ratio) => (ratio * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static Dictionary<string, string> Facts(ConnectionUse? use, string member)
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["member"] = member };
        if (use is null)
        {
            facts["refused"] = "true";
            return facts;
        }

        facts["refused"] = "false";
        facts["used"] = use.Used.ToString(CultureInfo.InvariantCulture);
        facts["limit"] = (use.MaxConnections - use.Reserved).ToString(CultureInfo.InvariantCulture);
        facts["max_connections"] = use.MaxConnections.ToString(CultureInfo.InvariantCulture);
        facts["reserved"] = use.Reserved.ToString(CultureInfo.InvariantCulture);
        facts["ratio"] = Math.Round(use.Ratio, 3).ToString(CultureInfo.InvariantCulture);
        facts["idle_in_transaction"] = use.IdleInTransaction.ToString(CultureInfo.InvariantCulture);
        if (Top(use.ByApplication) is { } app)
        {
            facts["top_application"] = app.Name;
            facts["top_application_sessions"] = app.Count.ToString(CultureInfo.InvariantCulture);
        }

        if (Top(use.ByUser) is { } user)
        {
            facts["top_user"] = user.Name;
            facts["top_user_sessions"] = user.Count.ToString(CultureInfo.InvariantCulture);
        }

        return facts;
    }
}
