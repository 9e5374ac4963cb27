using System.Globalization;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using static PgRuntimeAgent.Sensing.Snapshot.SnapshotFacts;

namespace PgRuntimeAgent.Detection;

/// <summary>
/// <c>config-broken</c>: a member's PostgreSQL does not run (or does not answer) and its own log says why in a FATAL
/// line about its configuration: a library in shared_preload_libraries that does not exist, an invalid or out-of-range
/// value, an unknown parameter, a configuration file with errors, shared memory it cannot get (shared_buffers), a hot
/// standby whose settings are lower than the primary's, an address it cannot bind. The finding names the member, the
/// parameter, the value when the line gives it, and the line itself (facts <c>parameter</c>, <c>value</c>,
/// <c>line</c>). It lasts while the member stays down and the line is within threshold <c>log_window_seconds</c> (and
/// the log sensor's own window, sensing.logs_window_minutes).
/// </summary>
public sealed partial class ConfigBrokenDetector : IDetector
{
    /// <summary>The finding code.</summary>
    public const string FindingCode = "config-broken";

    private static readonly ParameterSpec LogWindow = new("log_window_seconds", ParameterType.Number,
        "How recent the member's FATAL configuration line must be (seconds before the snapshot).") { Default = "900", Minimum = 1, Unit = "seconds" };

    private static readonly DetectorDescriptor Described = new()
    {
        Code = FindingCode,
        Order = 200,
        Severity = FindingSeverity.Warning,
        Summary = "A member's PostgreSQL cannot start because of its configuration (the FATAL line and the parameter from its log).",
        Explanation = "A configuration change made PostgreSQL refuse to start on the member (the parameter and the FATAL line are in the evidence).",
        ConsecutiveSnapshots = 2,
        MinimumSeconds = 0,
        RootCauseRank = 45,

        // The member that cannot start is a lost leader, a key held by a dead PostgreSQL, a replica that stopped
        // streaming, a blind sensor: the configuration is why.
        Explains = [FindingCodes.LeaderMissing, FindingCodes.PrimaryDownHoldingLock, FindingCodes.ReplicationBroken, FindingCodes.ReplicationLag, FindingCodes.SensorBlind],
        Thresholds = [LogWindow],
    };

    private static readonly string[] Up = ["running", "streaming"];

    public string Code => Described.Code;

    DetectorDescriptor IDetector.Descriptor => Described;

    public IEnumerable<Finding> Detect(DetectionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var window = TimeSpan.FromSeconds(input.Settings.Threshold(Code, LogWindow.Name) ?? 900);
        foreach (var member in input.Current.Members)
        {
            // A FATAL line older than the member's last sighting up (an earlier, healed break) says nothing about now.
            var lastUp = input.History.Where(h => h.FindMember(member.Name)?.PostgresReachable == true)
                .Select(h => h.TakenAt).DefaultIfEmpty(DateTimeOffset.MinValue).Max();
            if (Symptom(input.Current, member.Name, window, lastUp) is null)
            {
                continue;
            }

            var run = Persistence.Held(input, s => Symptom(s, member.Name, window, lastUp), input.Settings.PersistenceOf(Code));
            if (run is null || Cause(input.Current, member.Name, window, lastUp) is not { } cause)
            {
                continue;
            }

            var role = string.Equals(member.Name, input.Current.Leader, StringComparison.Ordinal) ? "leader" : "member";
            var finding = Persistence.ToFinding(input, run,
                Code, role == "leader" ? FindingSeverity.Critical : Described.Severity, [member.Name],
                $"{role} {member.Name} cannot start: {cause.Parameter}{(cause.Value is null ? "" : $" = '{cause.Value}'")} is wrong ({Short(cause.Line, 160)})");
            var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["parameter"] = cause.Parameter, ["line"] = Short(cause.Line, 400) };
            if (cause.Value is not null)
            {
                facts["value"] = cause.Value;
            }

            yield return finding with { Facts = facts };
        }
    }

    /// <summary>The configuration parameter a PostgreSQL FATAL message blames, and the value when it names one; null for other messages.</summary>
    public static (string Parameter, string? Value)? Blame(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (MissingLibrary().Match(message) is { Success: true } lib)
        {
            return ("shared_preload_libraries", lib.Groups["v"].Value);
        }

        if (InvalidValue().Match(message) is { Success: true } invalid)
        {
            return (invalid.Groups["p"].Value, invalid.Groups["v"].Value);
        }

        if (OutOfRange().Match(message) is { Success: true } range)
        {
            return (range.Groups["p"].Value, range.Groups["v"].Value);
        }

        if (Unrecognized().Match(message) is { Success: true } unknown)
        {
            return (unknown.Groups["p"].Value, null);
        }

        if (LowerThanPrimary().Match(message) is { Success: true } lower)
        {
            return (lower.Groups["p"].Value, lower.Groups["v"].Value);
        }

        if (ConfigFileErrors().Match(message) is { Success: true } file)
        {
            return ("configuration file " + file.Groups["f"].Value, null);
        }

        if (message.Contains("could not map anonymous shared memory", StringComparison.OrdinalIgnoreCase)
            || message.Contains("could not create shared memory segment", StringComparison.OrdinalIgnoreCase))
        {
            return ("shared_buffers", null);
        }

        if (message.Contains("could not create any TCP/IP sockets", StringComparison.OrdinalIgnoreCase)
            || message.Contains("could not bind IPv", StringComparison.OrdinalIgnoreCase))
        {
            return ("listen_addresses/port", null);
        }

        return null;
    }

    private sealed record ConfigCause(string Parameter, string? Value, string Line, DateTimeOffset At);

    private static bool Down(ClusterSnapshot s, string member) =>
        s.FindMember(member) is { } m && m.PostgresReachable != true
        && (m.PostgresRunning == false || m.PatroniState is null || !Up.Contains(m.PatroniState, StringComparer.Ordinal));

    /// <summary>The newest configuration FATAL line of the member within the window; a hot-standby refusal takes its parameter from the DETAIL line beside it.</summary>
    private static ConfigCause? Cause(ClusterSnapshot s, string member, TimeSpan window, DateTimeOffset after)
    {
        var since = s.TakenAt - window;
        var lines = Logs(s, member, since > after ? since : after).Where(e => e.Time > after).ToList();
        foreach (var e in Enumerable.Reverse(lines))
        {
            var fatal = e.Severity is LogSeverity.Fatal or LogSeverity.Panic || e.Message.Contains("FATAL", StringComparison.Ordinal);
            if (!fatal)
            {
                continue;
            }

            if (Blame(e.Message) is { } blamed)
            {
                return new ConfigCause(blamed.Parameter, blamed.Value, e.Message, e.Time);
            }

            if (e.Message.Contains("insufficient parameter settings", StringComparison.OrdinalIgnoreCase)
                && lines.FirstOrDefault(d => Math.Abs((d.Time - e.Time).TotalSeconds) < 2 && LowerThanPrimary().IsMatch(d.Message)) is { } detail
                && Blame(detail.Message) is { } lower)
            {
                return new ConfigCause(lower.Parameter, lower.Value, e.Message + " " + detail.Message, e.Time);
            }
        }

        return null;
    }

    private static IReadOnlyList<FindingEvidence>? Symptom(ClusterSnapshot s, string member, TimeSpan window, DateTimeOffset after)
    {
        if (!Down(s, member) || Cause(s, member, window, after) is not { } cause)
        {
            return null;
        }

        var m = s.FindMember(member)!;
        return
        [
            new FindingEvidence(s.TakenAt, "patroni", member, string.Create(CultureInfo.InvariantCulture,
                $"{member}: Patroni state {m.PatroniState ?? "unknown"}, PostgreSQL {(m.PostgresRunning == false ? "not running" : "not answering")}")),
            new FindingEvidence(cause.At, "logs", member, Short(cause.Line)),
        ];
    }

    [GeneratedRegex(@"could not (?:access file|load library) ""(?<v>[^""]+)""(?:: No such file or directory)?", RegexOptions.CultureInvariant)]
    private static partial Regex MissingLibrary();

    [GeneratedRegex(@"invalid value for parameter ""(?<p>[^""]+)"": ""(?<v>[^""]*)""", RegexOptions.CultureInvariant)]
    private static partial Regex InvalidValue();

    [GeneratedRegex(@"(?<v>\S+) is outside the valid range for parameter ""(?<p>[^""]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex OutOfRange();

    [GeneratedRegex(@"unrecognized configuration parameter ""(?<p>[^""]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex Unrecognized();

    [GeneratedRegex(@"(?<p>[a-z_]+) = (?<v>\S+) is a lower setting than on the primary server", RegexOptions.CultureInvariant)]
    private static partial Regex LowerThanPrimary();

    [GeneratedRegex(@"configuration file ""(?<f>[^""]+)"" contains errors", RegexOptions.CultureInvariant)]
    private static partial Regex ConfigFileErrors();
}
