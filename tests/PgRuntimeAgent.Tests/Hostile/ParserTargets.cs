using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
using PgRuntimeAgent.Sensing.Logs;
using PgRuntimeAgent.Sensing.Metrics;
using PgRuntimeAgent.Sensing.Patroni;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Hostile;

/// <summary>
/// What one parser made of one input, as an operator would see it: accepted (with the output the CLI would print) or
/// refused with one of the project's own error types (<see cref="InputException"/> for files the operator writes,
/// <see cref="SensorResponseException"/> for bodies a source answers, diagnostics for skills). Any other exception
/// is not caught here: it escapes to the caller, which reports it as a defect.
/// </summary>
/// <param name="Accepted">True when the input was read without errors.</param>
/// <param name="Output">What the operator sees: the JSON of a valid inventory, or the error message and every problem.</param>
/// <param name="Problems">Every problem line (file:line:column: ...) when refused; diagnostics for skills.</param>
/// <param name="Secrets">The secret values the parser itself stored (empty for targets without secrets).</param>
internal sealed record ParseOutcome(bool Accepted, string Output, IReadOnlyList<string> Problems, IReadOnlyCollection<string> Secrets);

/// <summary>
/// The parsers the hostile-input tests and the fuzzer (tests/PgRuntimeAgent.Fuzz links this file) drive, each called
/// the way the CLI or the sensors call it. Shared so that the unit tests, the mutation corpus and the coverage-guided
/// fuzzer agree on what "handled" means.
/// </summary>
internal static class ParserTargets
{
    /// <summary>Target names as <c>./build.sh fuzz TARGET</c> and tests/fixtures/hostile/seeds/TARGET name them.</summary>
    public static readonly string[] Names = ["inventory", "settings", "skill", "patroni-json", "prometheus-json", "pgbackrest-info-json",
        "loki-json", "victorialogs-jsonl", "postgres-log", "alertmanager-json", "eval-case"];

    /// <summary>The same JSON style as the CLI's <c>--json</c> (CliOutput.Json in pgra).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>True for the exception types a target may throw for bad input (anything else is a defect).</summary>
    public static bool IsDocumentedError(Exception ex) => ex is InputException or SensorResponseException;

    /// <summary>Runs the named target on a file (the YAML and markdown targets read it as the CLI does).</summary>
    public static ParseOutcome Run(string target, string path) => target switch
    {
        "inventory" => Inventory(path),
        "settings" => SettingsFile(path),
        "skill" => Skill(path),
        "patroni-json" => Patroni(File.ReadAllText(path)),
        "prometheus-json" => Prometheus(File.ReadAllText(path)),
        "pgbackrest-info-json" => PgBackRest(File.ReadAllText(path)),
        "loki-json" => Loki(File.ReadAllText(path)),
        "victorialogs-jsonl" => VictoriaLogs(File.ReadAllText(path)),
        "postgres-log" => PostgresLog(Encoding.UTF8.GetString(File.ReadAllBytes(path))),
        "alertmanager-json" => Alertmanager(File.ReadAllBytes(path)),
        "eval-case" => EvalCaseFile(path),
        _ => throw new ArgumentException($"unknown target '{target}'; one of {string.Join(", ", Names)}", nameof(target)),
    };

    /// <summary>
    /// <c>pgra inventory show --json -i FILE</c> without the console: load (throws <see cref="InputException"/> listing
    /// every problem), then the JSON the CLI prints, redacted as the CLI redacts it. The JSON is checked to parse.
    /// </summary>
    public static ParseOutcome Inventory(string path, AgentSettings? settings = null)
    {
        var store = new SecretStore();
        settings ??= AgentSettings.Default;
        try
        {
            var topology = InventoryLoader.Load(path, store, InventoryOverrides.From(settings));
            var json = store.Redact(JsonSerializer.Serialize(InventoryJson.Show(topology, settings.SourcePath, "defaults", InventoryOverrides.From(settings)), Json));
            using (JsonDocument.Parse(json))
            {
                // Throws JsonException (a defect: the writer produced something that is not JSON) when it does not parse.
            }

            return new ParseOutcome(true, json, [], store.MaskedValues);
        }
        catch (InputException ex)
        {
            return Refused(ex, store);
        }
    }

    /// <summary><c>pgra ... --settings FILE</c>: bind the settings file (no environment overrides).</summary>
    public static ParseOutcome SettingsFile(string path)
    {
        var store = new SecretStore();
        var missing = Path.Combine(Path.GetTempPath(), "pgra-hostile-no-such-dir");
        try
        {
            var settings = SettingsLoader.Load(path, "", store, new Dictionary<string, string?>(StringComparer.Ordinal), missing);
            return new ParseOutcome(true, settings.SourcePath ?? "", [], store.MaskedValues);
        }
        catch (InputException ex)
        {
            return Refused(ex, store);
        }
    }

    /// <summary><c>pgra skills lint FILE</c>: read as the catalog reads it; never throws, diagnostics say what is wrong.</summary>
    public static ParseOutcome Skill(string path)
    {
        var display = Path.GetFileName(path);
        var result = SkillParser.Parse(display, File.ReadAllText(path));
        var lines = result.Diagnostics.Select(d => d.ToString()).ToArray();
        return new ParseOutcome(!result.HasErrors, string.Join('\n', lines), lines, []);
    }

    /// <summary><c>pgra eval check FILE</c>: an evaluation case read as the runner reads it; never throws, every problem says file:line:column.</summary>
    public static ParseOutcome EvalCaseFile(string path)
    {
        var problems = new List<Yaml.YamlProblem>();
        var evalCase = Evals.EvalCaseLoader.Load(Path.GetFullPath(path), problems);
        var lines = problems.Select(p => p.ToString()).ToArray();
        var errors = problems.Count(p => p.Severity == Yaml.ProblemSeverity.Error);
        return new ParseOutcome(evalCase is not null && errors == 0, string.Join('\n', lines), [.. problems.Where(p => p.Severity == Yaml.ProblemSeverity.Error).Select(p => p.ToString())], []);
    }

    /// <summary>Every Patroni REST parser on the same body (/cluster, /patroni, /history, /config).</summary>
    public static ParseOutcome Patroni(string body) => SensorBody(
        () => PatroniParser.ParseCluster(body, "GET http://127.0.0.1:8008/cluster"),
        () => PatroniParser.ParseNode(body, "GET http://127.0.0.1:8008/patroni", 200),
        () => PatroniParser.ParseHistory(body, "GET http://127.0.0.1:8008/history"),
        () => PatroniParser.ParseConfig(body, "GET http://127.0.0.1:8008/config"));

    /// <summary>
    /// Alertmanager's webhook body as <c>POST /api/v1/alertmanager</c> reads it. The parser's contract: it never throws;
    /// it returns a notification or an error saying where, and what it keeps stays within <see cref="Alerts.AlertLimits"/>
    /// (a notification beyond them is a defect, thrown as <see cref="InvalidOperationException"/>).
    /// </summary>
    public static ParseOutcome Alertmanager(byte[] body)
    {
        var result = Alerts.AlertmanagerParser.Parse(body);
        if (result.Error is { } error)
        {
            // The problem leads with where (the JSON path; $ for the whole body), as the API's 400 answer says it.
            return new ParseOutcome(false, "error: " + error.Message, [$"{error.Path} {error.Message}"], []);
        }

        var n = result.Notification ?? throw new InvalidOperationException("the Alertmanager parser returned neither a notification nor an error");
        var limits = Alerts.AlertLimits.Default;
        if (n.Alerts.Count > limits.MaxAlerts)
        {
            throw new InvalidOperationException($"the Alertmanager parser kept {n.Alerts.Count} alerts, more than {limits.MaxAlerts}");
        }

        foreach (var alert in n.Alerts)
        {
            if (alert.Labels.Count > limits.MaxLabels || alert.Labels.Any(l => l.Key.Length > limits.MaxLabelChars || l.Value.Length > limits.MaxLabelChars)
                || string.IsNullOrEmpty(alert.Fingerprint))
            {
                throw new InvalidOperationException($"the Alertmanager parser kept an alert beyond its limits or without a fingerprint: {alert.Labels.Count} labels");
            }
        }

        return new ParseOutcome(true, $"{n.Status} {n.Alerts.Count} alert(s), {n.TruncatedAlerts} cut", [], []);
    }

    public static ParseOutcome Prometheus(string body) => SensorBody(() => PrometheusClient.ParseQueryBody(body, "GET http://127.0.0.1:9090/api/v1/query"));

    public static ParseOutcome PgBackRest(string body) => SensorBody(() => PgBackRestInfoParser.Parse(body, "pgbackrest info --output=json"));

    /// <summary>Both Loki parsers on the same body: log lines (<c>resultType: streams</c>) and a LogQL metric query (<c>matrix</c>).</summary>
    public static ParseOutcome Loki(string body) => SensorBody(
        () => LokiLogSource.ParseStreams(body, "GET http://127.0.0.1:3100/loki/api/v1/query_range"),
        () => LokiLogSource.ParseMatrix(body, "GET http://127.0.0.1:3100/loki/api/v1/query_range"));

    /// <summary>Both VictoriaLogs parsers on the same body: JSON lines of entries and <c>| stats by (level) count()</c> rows.</summary>
    public static ParseOutcome VictoriaLogs(string body) => SensorBody(
        () => VictoriaLogsLogSource.ParseJsonLines(body, "GET http://127.0.0.1:9428/select/logsql/query"),
        () => VictoriaLogsLogSource.ParseCounts(body, "GET http://127.0.0.1:9428/select/logsql/query", "level"));

    /// <summary>
    /// A log file as the file log source reads it (UTF-8, split on '\n'): the stderr parser (PostgreSQL and Patroni lines)
    /// and the csvlog parser on the same text. Their contract is to read any text: they never refuse and never throw,
    /// and every entry keeps its line's text: its message (and each folded continuation) is found in the input, in file
    /// order. An entry that breaks that is a defect too (thrown as <see cref="InvalidOperationException"/>).
    /// </summary>
    public static ParseOutcome PostgresLog(string text)
    {
        var lines = text.Split('\n');
        var stderr = LogLineParser.ParseText(lines, "pg-test-1", TimeZoneInfo.Utc);
        if (stderr.Count > lines.Length)
        {
            throw new InvalidOperationException($"ParseText made {stderr.Count} entries of {lines.Length} lines");
        }

        var pos = 0;
        foreach (var entry in stderr)
        {
            CheckEntry(entry, "ParseText");
            var parts = entry.Message.Split('\n');
            if (!FindInOrder(text, ref pos, [parts[0]]))
            {
                throw new InvalidOperationException($"ParseText lost the line's text: message '{Brief(parts[0])}' is not in the input");
            }

            foreach (var part in parts.Skip(1))
            {
                // A continuation is a later line, trimmed, or "LEVEL: message" of a DETAIL/HINT/STATEMENT/... line.
                var colon = part.IndexOf(": ", StringComparison.Ordinal);
                if (!FindInOrder(text, ref pos, colon > 0 ? [part, part[(colon + 2)..]] : [part]))
                {
                    throw new InvalidOperationException($"ParseText lost a continuation line's text: '{Brief(part)}' is not in the input");
                }
            }
        }

        var csv = LogLineParser.ParseCsv(text, "pg-test-1");
        // A csvlog field is its characters without the quoting (a doubled quote is one, a CR outside quotes is dropped):
        // compare both without quotes and CRs. The message is field 14, then "\nDETAIL: " field 15 and "\nHINT: " field 16.
        var plain = Unquoted(text);
        pos = 0;
        foreach (var entry in csv)
        {
            CheckEntry(entry, "ParseCsv");
            var message = Unquoted(entry.Message);
            if (!FindInOrder(plain, ref pos, [message, .. CutPoints(message).Select(cut => message[..cut])]))
            {
                throw new InvalidOperationException($"ParseCsv lost the record's text: message '{Brief(entry.Message)}' is not in the input");
            }
        }

        return new ParseOutcome(true, $"{stderr.Count} stderr entries, {csv.Count} csvlog entries", [], []);
    }

    /// <summary>
    /// True when one of the candidates occurs at or after <paramref name="pos"/>; moves pos just past the earliest start
    /// found. Entries and their lines come in file order, so each one starts after the previous one's start: a linear
    /// check, not a search of the whole text per entry.
    /// </summary>
    private static bool FindInOrder(string text, ref int pos, IEnumerable<string> candidates)
    {
        var best = -1;
        foreach (var candidate in candidates)
        {
            var i = text.IndexOf(candidate, pos, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best))
            {
                best = i;
            }
        }

        if (best < 0)
        {
            return false;
        }

        pos = Math.Min(best + 1, text.Length);
        return true;
    }

    private static void CheckEntry(LogEntry entry, string parser)
    {
        if (entry.Member != "pg-test-1" || entry.Message is null || entry.Source is not ("postgres" or "patroni"))
        {
            throw new InvalidOperationException($"{parser} made an entry without its member, message or source: {entry}");
        }
    }

    private static string Unquoted(string s) => s.Replace("\"", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal);

    private static IEnumerable<int> CutPoints(string message)
    {
        foreach (var marker in new[] { "\nDETAIL: ", "\nHINT: " })
        {
            for (var i = message.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = message.IndexOf(marker, i + 1, StringComparison.Ordinal))
            {
                yield return i;
            }
        }
    }

    private static string Brief(string s) => s.Length > 120 ? s[..120] + "..." : s;

    private static ParseOutcome Refused(InputException ex, SecretStore store)
    {
        var problems = ex.Problems.ToArray();
        var text = "error: " + ex.Message + string.Concat(problems.Select(p => "\n  " + p));
        return new ParseOutcome(false, text, problems, store.MaskedValues);
    }

    /// <summary>Runs every parser of one sensor body; each SensorResponseException is one problem (refused), anything else escapes.</summary>
    private static ParseOutcome SensorBody(params Func<object>[] parses)
    {
        var problems = new List<string>();
        foreach (var parse in parses)
        {
            try
            {
                _ = parse();
            }
            catch (SensorResponseException ex)
            {
                problems.Add(ex.Message);
            }
        }

        return new ParseOutcome(problems.Count == 0, string.Join('\n', problems), problems, []);
    }
}
