using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Reads a Pigsty inventory (Ansible YAML, Pigsty 3 or 4) into a <see cref="Topology"/>. Secrets go to the
/// <see cref="SecretStore"/>; the settings' overrides (<see cref="InventoryOverrides"/>: endpoints, credentials) are applied on top.
/// </summary>
internal static class InventoryLoader
{
    /// <summary>Loads and validates; throws <see cref="InputException"/> listing every problem (file:line:column).</summary>
    /// <remarks><paramref name="logger"/> hears the result (event ids 1000-1099): the clusters loaded, each warning, or the problems.</remarks>
    public static Topology Load(string path, SecretStore secrets, InventoryOverrides overrides, ILogger? logger = null)
    {
        var report = Check(path, secrets, overrides);
        LogReport(logger ?? NullLogger.Instance, report, secrets);
        if (!report.IsValid)
        {
            throw Failure(report, secrets);
        }

        return report.Topology!;
    }

    /// <summary>Logs what reading an inventory found (redacted): its warnings, then its problems or what it holds.</summary>
    public static void LogReport(ILogger logger, InventoryReport report, SecretStore secrets)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(secrets);
        foreach (var warning in report.Warnings)
        {
            Log.Warning(logger, report.DisplayPath, LogRedaction.Text(warning.ToString(), secrets));
        }

        if (!report.IsValid)
        {
            Log.Invalid(logger, report.DisplayPath, report.Problems.Count, LogRedaction.Text(report.Problems[0].ToString(), secrets));
        }
        else if (report.Topology is { } topology)
        {
            LogLoaded(logger, topology);
        }
    }

    /// <summary>Logs that <paramref name="topology"/> was loaded, with its clusters and members (event 1000).</summary>
    public static void LogLoaded(ILogger logger, Topology topology)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(topology);
        Log.Loaded(logger, topology.SourcePath, topology.Clusters.Count, topology.AllMembers.Count());
    }

    /// <summary>Reads and validates without throwing for bad input: the report lists every problem and warning.</summary>
    public static InventoryReport Check(string path, SecretStore secrets, InventoryOverrides overrides)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(overrides);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new InputException($"inventory file {full} does not exist; pass -i FILE or set $PGRA_INVENTORY.");
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var problems = new List<YamlProblem>();
        var file = YamlFile.Load(full, problems);
        return Measured(TopologyBuilder.Build(file, secrets, overrides, problems), started);
    }

    /// <summary>Counts the read by result and records its duration (<c>pgra.inventory.*</c>).</summary>
    private static InventoryReport Measured(InventoryReport report, long started)
    {
        var result = new KeyValuePair<string, object?>("result", report.IsValid ? "valid" : "invalid");
        Telemetry.AgentTelemetry.Inventory.Reads.Add(1, result);
        Telemetry.AgentTelemetry.Inventory.ReadDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, result);
        return report;
    }

    /// <summary>Reads inventory text (tests, benchmarks); <paramref name="path"/> only names it in messages.</summary>
    public static InventoryReport Parse(string yaml, string path, SecretStore secrets, InventoryOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(overrides);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var problems = new List<YamlProblem>();
        var file = YamlFile.Parse(yaml, Path.GetFullPath(path), path, problems);
        return Measured(TopologyBuilder.Build(file, secrets, overrides, problems), started);
    }

    /// <summary>The exception that reports an invalid inventory (messages redacted, never a stack trace).</summary>
    public static InputException Failure(InventoryReport report, SecretStore secrets)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(secrets);
        var n = report.Problems.Count;
        return new InputException(
            $"{report.DisplayPath}: {n} problem{(n == 1 ? "" : "s")} in the inventory; fix {(n == 1 ? "it" : "them")} and run 'pgra inventory check -i {report.DisplayPath}'",
            report.Problems.Select(p => secrets.Redact(p.ToString())).ToArray());
    }
}
