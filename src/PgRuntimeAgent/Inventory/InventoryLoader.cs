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
    public static Topology Load(string path, SecretStore secrets, InventoryOverrides overrides)
    {
        var report = Check(path, secrets, overrides);
        if (!report.IsValid)
        {
            throw Failure(report, secrets);
        }

        return report.Topology!;
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

        var problems = new List<YamlProblem>();
        var file = YamlFile.Load(full, problems);
        return TopologyBuilder.Build(file, secrets, overrides, problems);
    }

    /// <summary>Reads inventory text (tests, benchmarks); <paramref name="path"/> only names it in messages.</summary>
    public static InventoryReport Parse(string yaml, string path, SecretStore secrets, InventoryOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(overrides);
        var problems = new List<YamlProblem>();
        var file = YamlFile.Parse(yaml, Path.GetFullPath(path), path, problems);
        return TopologyBuilder.Build(file, secrets, overrides, problems);
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
