using System.Text.Json;
using System.Text.Json.Serialization;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Backup;
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
    public static readonly string[] Names = ["inventory", "settings", "skill", "patroni-json", "prometheus-json", "pgbackrest-info-json"];

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
            var topology = InventoryLoader.Load(path, store, settings);
            var json = store.Redact(JsonSerializer.Serialize(InventoryJson.Show(topology, settings, "defaults"), Json));
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

    /// <summary>Every Patroni REST parser on the same body (/cluster, /patroni, /history, /config).</summary>
    public static ParseOutcome Patroni(string body)
    {
        var problems = new List<string>();
        Try(() => PatroniParser.ParseCluster(body, "GET http://127.0.0.1:8008/cluster"), problems);
        Try(() => PatroniParser.ParseNode(body, "GET http://127.0.0.1:8008/patroni", 200), problems);
        Try(() => PatroniParser.ParseHistory(body, "GET http://127.0.0.1:8008/history"), problems);
        Try(() => PatroniParser.ParseConfig(body, "GET http://127.0.0.1:8008/config"), problems);
        return new ParseOutcome(problems.Count == 0, string.Join('\n', problems), problems, []);
    }

    public static ParseOutcome Prometheus(string body)
    {
        var problems = new List<string>();
        Try(() => PrometheusClient.ParseQueryBody(body, "GET http://127.0.0.1:9090/api/v1/query"), problems);
        return new ParseOutcome(problems.Count == 0, string.Join('\n', problems), problems, []);
    }

    public static ParseOutcome PgBackRest(string body)
    {
        var problems = new List<string>();
        Try(() => PgBackRestInfoParser.Parse(body, "pgbackrest info --output=json"), problems);
        return new ParseOutcome(problems.Count == 0, string.Join('\n', problems), problems, []);
    }

    private static ParseOutcome Refused(InputException ex, SecretStore store)
    {
        var problems = ex.Problems.ToArray();
        var text = "error: " + ex.Message + string.Concat(problems.Select(p => "\n  " + p));
        return new ParseOutcome(false, text, problems, store.MaskedValues);
    }

    private static void Try(Func<object> parse, List<string> problems)
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
}
