using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Snapshot;
using Spectre.Console;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra status</c>, <c>pgra snapshot CLUSTER</c> and <c>pgra logs CLUSTER</c>: what the agent sees.</summary>
internal sealed partial class SensingCommands : ICommandGroup
{
    public int Order => 20;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        var status = new Command("status", "Every cluster at a glance: members, live roles, lag, timeline, backup age, firing alerts, sensor health, drift. Exit 1 on critical drift (no leader, split brain), else 0.");
        status.SetAction((parse, ct) => StatusAsync(options, parse, ct));

        var snapshotCluster = new Argument<string>("CLUSTER") { Description = "Cluster name (pg_cluster)." };
        var snapshot = new Command("snapshot", "Take one full snapshot of a cluster (with --json: the journaled snapshot document, schema in docs/sensing.md).");
        snapshot.Arguments.Add(snapshotCluster);
        snapshot.SetAction((parse, ct) => SnapshotAsync(options, parse, parse.GetValue(snapshotCluster)!, ct));

        var logsCluster = new Argument<string>("CLUSTER") { Description = "Cluster name (pg_cluster)." };
        var member = new Option<string?>("--member", "-m") { Description = "Only this member (for example pg-test-1)." };
        var since = new Option<string>("--since") { Description = "How far back: 30s, 10m, 2h, 1d, or an ISO 8601 time.", DefaultValueFactory = _ => "10m" };
        var grep = new Option<string?>("--grep") { Description = "Only entries whose message contains this text (case-insensitive)." };
        var limit = new Option<int>("--limit") { Description = "Most entries to print (newest).", DefaultValueFactory = _ => 200 };
        var logs = new Command("logs", "Recent PostgreSQL, Patroni and pgBackRest log entries of a cluster, from Loki, VictoriaLogs or the log files.");
        logs.Arguments.Add(logsCluster);
        logs.Options.Add(member);
        logs.Options.Add(since);
        logs.Options.Add(grep);
        logs.Options.Add(limit);
        logs.SetAction((parse, ct) => LogsAsync(options, parse, parse.GetValue(logsCluster)!, parse.GetValue(member), parse.GetValue(since)!, parse.GetValue(grep), parse.GetValue(limit), ct));

        return [status, snapshot, logs];
    }

    // ------------------------------------------------------------------ status

    private static async Task<int> StatusAsync(GlobalOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
        var snapshots = await service.TakeAllAsync(cancellationToken).ConfigureAwait(false);
        var critical = snapshots.Any(s => s.Drift.Any(d => d.Severity == "critical"));
        string text;
        var json = parse.GetValue(options.Json);
        if (json)
        {
            var doc = new StatusDocument(ClusterSnapshot.CurrentSchemaVersion, options.Time.GetUtcNow(), workspace.Topology.SourcePath,
                snapshots.Select(ClusterStatuses.Of).ToList());
            text = JsonSerializer.Serialize(doc, SnapshotJson.Options);
        }
        else
        {
            text = RenderStatus(snapshots, Colour(options));
        }

        await options.Out.WriteLineAsync((json ? workspace.Secrets.RedactJson(text) : workspace.Secrets.Redact(text)).TrimEnd()).ConfigureAwait(false);
        return critical ? ExitCodes.Failure : ExitCodes.Ok;
    }

    private static string RenderStatus(IReadOnlyList<ClusterSnapshot> snapshots, bool colour)
    {
        using var buffer = new StringWriter(CultureInfo.InvariantCulture);
        var console = CreateConsole(buffer, colour);
        foreach (var s in snapshots)
        {
            var st = ClusterStatuses.Of(s);
            console.MarkupLine($"[bold]{Markup.Escape(s.Cluster)}[/]  leader {Markup.Escape(s.Leader ?? "none")}  timeline {T(s.Timeline)}  backup age {Age(st.BackupAgeSeconds)}  ({s.DurationMs.ToString("0", CultureInfo.InvariantCulture)} ms)");
            var table = new Table().Border(TableBorder.Simple)
                .AddColumns("member", "declared", "role", "state", "api", "timeline", "lag bytes", "lag s", "streaming", "restart");
            foreach (var m in st.Members)
            {
                table.AddRow(
                    Markup.Escape(m.Name), m.DeclaredRole ?? "-", RoleMarkup(m.Role), Markup.Escape(m.State ?? "-"),
                    m.Reachable ? "[green]ok[/]" : "[red]unreachable[/]", T(m.Timeline), T(m.LagBytes),
                    m.LagSeconds?.ToString("0.###", CultureInfo.InvariantCulture) ?? "-", YesNo(m.Streaming), YesNo(m.PendingRestart));
            }

            console.Write(table);
            console.MarkupLine("  sensors: " + string.Join("  ", s.Sensors.Select(x => $"{x.Sensor} {HealthMarkup(x.Health)}")));
            foreach (var problem in st.SensorProblems)
            {
                console.MarkupLine($"    [grey]{Markup.Escape(problem.Sensor)}: {Markup.Escape(problem.Reason ?? problem.Health.ToString())}[/]");
            }

            if (st.FiringAlerts.Count > 0)
            {
                console.MarkupLine("  [red]firing alerts:[/] " + Markup.Escape(string.Join(", ", st.FiringAlerts)));
            }

            foreach (var d in s.Drift)
            {
                var colourTag = d.Severity switch { "critical" => "red", "warning" => "yellow", _ => "grey" };
                console.MarkupLine($"  [{colourTag}]drift {Markup.Escape(d.Severity)} {Markup.Escape(d.Code)}:[/] {Markup.Escape(d.Message)}");
            }

            console.WriteLine();
        }

        return buffer.ToString();
    }

    // ------------------------------------------------------------------ snapshot

    private static async Task<int> SnapshotAsync(GlobalOptions options, ParseResult parse, string cluster, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
        var snapshot = await service.TakeAsync(cluster, cancellationToken).ConfigureAwait(false);
        var json = parse.GetValue(options.Json);
        var text = json ? SnapshotJson.Serialize(snapshot) : RenderSnapshot(snapshot, Colour(options));
        await options.Out.WriteLineAsync((json ? workspace.Secrets.RedactJson(text) : workspace.Secrets.Redact(text)).TrimEnd()).ConfigureAwait(false);
        return snapshot.Drift.Any(d => d.Severity == "critical") ? ExitCodes.Failure : ExitCodes.Ok;
    }

    private static string RenderSnapshot(ClusterSnapshot s, bool colour)
    {
        var text = RenderStatus([s], colour);
        using var buffer = new StringWriter(CultureInfo.InvariantCulture);
        buffer.Write(text);
        if (s.Backup is { } b)
        {
            buffer.WriteLine($"backup: stanza {b.Stanza}, status {b.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "?"} ({b.StatusMessage}), {b.BackupCount} backup(s), last full {b.LastFull?.Label ?? "none"}, WAL {b.ArchiveMin ?? "?"}..{b.ArchiveMax ?? "?"}");
        }

        if (s.Metrics is { } mx)
        {
            buffer.WriteLine($"metrics ({mx.Endpoint}, {mx.Queries} queries):");
            foreach (var r in mx.Readings)
            {
                var values = r.Values.Count == 0 ? r.Reason ?? r.Status : string.Join(", ", r.Values.Select(kv => $"{kv.Key}={kv.Value}"));
                buffer.WriteLine($"  {r.Name,-22} {r.Source ?? "-",-26} {values}");
            }
        }

        foreach (var pg in s.Postgres)
        {
            buffer.WriteLine($"postgres {pg.Member}: {(pg.Reachable ? "ok" : "unreachable")}, recovery {YesNo(pg.InRecovery)}, connections {T(pg.Connections)}/{T(pg.MaxConnections)}, longest xact {pg.LongestTransactionSeconds?.ToString("0.#", CultureInfo.InvariantCulture) ?? "-"} s, blocked {T(pg.BlockedSessions)}, max xid age {T(pg.MaxXidAge)}, {pg.Queries} queries in {pg.DbTimeMs.ToString("0.#", CultureInfo.InvariantCulture)} ms{(pg.Error is null ? "" : ": " + pg.Error)}");
        }

        if (s.Logs is { } logs)
        {
            buffer.WriteLine($"logs ({logs.Backend}, since {logs.Since:u}): {logs.Entries.Count} entries{(logs.Truncated ? " (truncated)" : "")}; " +
                string.Join(", ", logs.CountsBySeverity.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}")));
            foreach (var e in logs.Entries.Where(e => e.Severity >= LogSeverity.Warning).Take(10))
            {
                buffer.WriteLine($"  {e.Time:u} {e.Member} {e.Source} {e.Severity.ToString().ToUpperInvariant()} {e.SqlState} {FirstLine(e.Message)}");
            }
        }

        return buffer.ToString();
    }

    // ------------------------------------------------------------------ logs

    private static async Task<int> LogsAsync(GlobalOptions options, ParseResult parse, string clusterName, string? member, string since, string? grep, int limit, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        var cluster = workspace.Topology.FindCluster(clusterName)
            ?? throw new InputException($"no cluster '{clusterName}' in {workspace.Topology.SourcePath}",
                [$"clusters: {string.Join(", ", workspace.Topology.Clusters.Select(c => c.Name))}"]);
        if (member is not null && cluster.FindMember(member) is null)
        {
            throw new InputException($"no member '{member}' in cluster {cluster.Name}", [$"members: {string.Join(", ", cluster.Members.Select(m => m.Name))}"]);
        }

        if (limit <= 0)
        {
            throw new InputException($"--limit must be positive, got {limit}");
        }

        var now = options.Time.GetUtcNow();
        var from = ParseSince(since, now);
        using var service = new SnapshotService(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints, workspace.Secrets, options.Time);
        var query = new LogQuery
        {
            Cluster = cluster.Name,
            Members = member is null ? [] : [member],
            Since = from,
            Until = now,
            Grep = grep,
            Limit = limit,
        };
        var (result, health) = await service.QueryLogsAsync(cluster, query, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            await options.Error.WriteLineAsync($"error: logs of {cluster.Name} could not be read: {workspace.Secrets.Redact(health.Reason)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        string text;
        var json = parse.GetValue(options.Json);
        if (json)
        {
            text = JsonSerializer.Serialize(new LogsDocument(cluster.Name, health.Target ?? "", from, now, result.Entries.OrderBy(e => e.Time).ToList(), result.Truncated, result.Warnings), SnapshotJson.Options);
        }
        else
        {
            using var buffer = new StringWriter(CultureInfo.InvariantCulture);
            foreach (var e in result.Entries.OrderBy(e => e.Time))
            {
                buffer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{e.Time:yyyy-MM-dd HH:mm:ss.fff} {e.Member,-12} {e.Source,-10} {e.Severity.ToString().ToUpperInvariant(),-7} {(e.SqlState ?? "").PadRight(5)} {e.Message.ReplaceLineEndings("\n    ")}"));
            }

            foreach (var w in result.Warnings)
            {
                buffer.WriteLine($"warning: {w}");
            }

            if (result.Truncated)
            {
                buffer.WriteLine($"(only the newest {limit} entries; use --limit or a shorter --since)");
            }

            text = buffer.ToString();
        }

        await options.Out.WriteLineAsync((json ? workspace.Secrets.RedactJson(text) : workspace.Secrets.Redact(text)).TrimEnd()).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    internal sealed record LogsDocument(string Cluster, string Backend, DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<LogEntry> Entries, bool Truncated, IReadOnlyList<string> Warnings);

    [GeneratedRegex(@"^(?<n>\d+(?:\.\d+)?)\s*(?<u>s|sec|m|min|h|d)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Duration();

    /// <summary>"10m", "2h", "30s", "1d" (before now) or an absolute ISO 8601 time.</summary>
    internal static DateTimeOffset ParseSince(string text, DateTimeOffset now)
    {
        var m = Duration().Match(text.Trim());
        if (m.Success)
        {
            var n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            var span = m.Groups["u"].Value.ToLowerInvariant() switch
            {
                "s" or "sec" => TimeSpan.FromSeconds(n),
                "m" or "min" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
            return now - span;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return at;
        }

        throw new InputException($"--since '{text}' is neither a duration (30s, 10m, 2h, 1d) nor an ISO 8601 time");
    }

    // ------------------------------------------------------------------ helpers

    private static bool Colour(GlobalOptions options) =>
        ReferenceEquals(options.Out, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    private static IAnsiConsole CreateConsole(TextWriter writer, bool colour)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = colour ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = colour ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 200;
        return console;
    }

    private static string RoleMarkup(string role) => role switch
    {
        "leader" => "[bold green]leader[/]",
        "unknown" => "[red]unknown[/]",
        _ => Markup.Escape(role),
    };

    private static string HealthMarkup(SensorHealth h) => h switch
    {
        SensorHealth.Ok => "[green]ok[/]",
        SensorHealth.Degraded => "[yellow]degraded[/]",
        _ => "[red]unknown[/]",
    };

    private static string T(long? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private static string T(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private static string YesNo(bool? b) => b switch { true => "yes", false => "no", null => "-" };

    private static string Age(double? seconds) => seconds switch
    {
        null => "unknown",
        < 120 => $"{seconds.Value.ToString("0", CultureInfo.InvariantCulture)}s",
        < 7200 => $"{(seconds.Value / 60).ToString("0", CultureInfo.InvariantCulture)}m",
        < 172800 => $"{(seconds.Value / 3600).ToString("0.#", CultureInfo.InvariantCulture)}h",
        _ => $"{(seconds.Value / 86400).ToString("0.#", CultureInfo.InvariantCulture)}d",
    };

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n', StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }
}
