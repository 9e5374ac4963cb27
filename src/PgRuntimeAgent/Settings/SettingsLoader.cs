using System.Reflection;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Settings;

/// <summary>What loading the settings found: the bound settings, every problem and which file was used.</summary>
internal sealed record SettingsLoadResult(AgentSettings Settings, IReadOnlyList<YamlProblem> Problems, string? Path, string How);

/// <summary>
/// Finds and binds the agent settings file (YAML, snake_case keys) and applies single-value environment overrides
/// <c>PGRA_&lt;SECTION&gt;__&lt;KEY&gt;</c> (for example <c>PGRA_ENDPOINTS__METRICS_URL</c>, <c>PGRA_SENSING__INTERVAL_SECONDS</c>).
/// Lookup: <c>--settings FILE</c>, else <c>$PGRA_SETTINGS</c>, else <c>&lt;inventory stem&gt;.pgra.yml</c> beside the
/// inventory, else <c>pgra.yml</c> beside it, else <c>/etc/pgra/pgra.yml</c>, else defaults.
/// </summary>
internal static class SettingsLoader
{
    public const string SettingsVariable = "PGRA_SETTINGS";
    public const string OverridePrefix = "PGRA_";
    public const string SystemDirectory = "/etc/pgra";

    public static AgentSettings Load(string? explicitPath, string inventoryPath, SecretStore secrets, IReadOnlyDictionary<string, string?> environment) =>
        Load(explicitPath, inventoryPath, secrets, environment, SystemDirectory);

    internal static AgentSettings Load(string? explicitPath, string inventoryPath, SecretStore secrets, IReadOnlyDictionary<string, string?> environment, string systemDirectory)
    {
        var result = TryLoad(explicitPath, inventoryPath, secrets, environment, systemDirectory);
        if (result.Problems.Count > 0)
        {
            var n = result.Problems.Count;
            throw new InputException(
                $"{(result.Path is null ? "settings" : YamlFile.Display(result.Path))}: {n} problem{(n == 1 ? "" : "s")} in the agent settings; fix {(n == 1 ? "it" : "them")} (keys are documented in docs/settings.md)",
                result.Problems.Select(p => secrets.Redact(SecretText.MaskUrlUserInfo(p.ToString()))).ToArray());
        }

        return result.Settings;
    }

    /// <summary>Loads without throwing for bad content (a missing explicit file still throws: there is nothing to check).</summary>
    public static SettingsLoadResult TryLoad(string? explicitPath, string inventoryPath, SecretStore secrets, IReadOnlyDictionary<string, string?> environment, string systemDirectory = SystemDirectory)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(environment);
        var (path, how) = Locate(explicitPath, inventoryPath, environment, systemDirectory);
        var problems = new List<YamlProblem>();
        YamlFile? file = null;
        if (path is not null)
        {
            file = YamlFile.Load(path, problems);
        }

        var display = path is null ? "settings" : YamlFile.Display(path);
        var root = file?.Root ?? new YamlMappingNode();
        if (root is not YamlMappingNode mapping)
        {
            problems.Add(file!.Problem(root, null, $"the settings file must be a mapping of sections, found {YamlNodes.Describe(root)}", "start with a section such as 'endpoints:'"));
            return new SettingsLoadResult(AgentSettings.Default with { SourcePath = path }, problems, path, how);
        }

        var binder = new SettingsBinder(display, secrets, problems);
        if (problems.Count == 0)
        {
            ApplyEnvironment(mapping, environment, binder, problems);
        }

        var settings = problems.Count == 0
            ? (AgentSettings?)binder.Bind(typeof(AgentSettings), mapping, "", null) ?? AgentSettings.Default
            : AgentSettings.Default;
        settings = settings with { SourcePath = path, Origins = new Dictionary<string, SettingOrigin>(binder.Origins, StringComparer.Ordinal) };
        return new SettingsLoadResult(settings, problems, path, how);
    }

    /// <summary>The settings file to read and how it was chosen; (null, "defaults") when there is none.</summary>
    public static (string? Path, string How) Locate(string? explicitPath, string inventoryPath, IReadOnlyDictionary<string, string?> environment, string systemDirectory = SystemDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            var full = Path.GetFullPath(explicitPath);
            return File.Exists(full)
                ? (full, "--settings")
                : throw new InputException($"settings file {full} (from --settings) does not exist; check the path or omit --settings to use the default lookup.");
        }

        if (environment.TryGetValue(SettingsVariable, out var fromEnv) && !string.IsNullOrWhiteSpace(fromEnv))
        {
            var full = Path.GetFullPath(fromEnv);
            return File.Exists(full)
                ? (full, "$" + SettingsVariable)
                : throw new InputException($"settings file {full} (from ${SettingsVariable}) does not exist; fix ${SettingsVariable} or unset it.");
        }

        foreach (var (candidate, how) in Candidates(inventoryPath, systemDirectory))
        {
            if (File.Exists(candidate))
            {
                return (candidate, how);
            }
        }

        return (null, "defaults");
    }

    /// <summary>The default lookup after --settings and $PGRA_SETTINGS, in order.</summary>
    public static IReadOnlyList<(string Path, string How)> Candidates(string inventoryPath, string systemDirectory = SystemDirectory)
    {
        var list = new List<(string, string)>();
        if (!string.IsNullOrEmpty(inventoryPath))
        {
            var full = Path.GetFullPath(inventoryPath);
            var dir = Path.GetDirectoryName(full) ?? ".";
            list.Add((Path.Combine(dir, Path.GetFileNameWithoutExtension(full) + ".pgra.yml"), "beside the inventory"));
            list.Add((Path.Combine(dir, "pgra.yml"), "beside the inventory"));
        }

        list.Add((Path.Combine(systemDirectory, "pgra.yml"), systemDirectory));
        return list;
    }

    /// <summary>
    /// Writes every <c>PGRA_SECTION__KEY[__SUBKEY]</c> variable into the YAML tree before binding, so the binder treats
    /// it like a file value (types, unknown keys) while remembering it came from the environment.
    /// </summary>
    private static void ApplyEnvironment(YamlMappingNode root, IReadOnlyDictionary<string, string?> environment, SettingsBinder binder, List<YamlProblem> problems)
    {
        foreach (var (name, value) in environment.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith(OverridePrefix, StringComparison.Ordinal) || !name.Contains("__", StringComparison.Ordinal) || value is null)
            {
                continue;
            }

            var parts = name[OverridePrefix.Length..].Split("__");
            if (parts.Any(string.IsNullOrEmpty))
            {
                problems.Add(new YamlProblem("$" + name, 0, 0, null, "malformed settings override", "write PGRA_<SECTION>__<KEY>, for example PGRA_ENDPOINTS__METRICS_URL"));
                continue;
            }

            var keys = parts.Select(p => p.ToLowerInvariant()).ToArray();
            var current = root;
            var ok = true;
            for (var i = 0; i < keys.Length - 1 && ok; i++)
            {
                var child = YamlNodes.Get(current, keys[i]);
                if (child is YamlMappingNode m)
                {
                    current = m;
                }
                else if (child is null || YamlNodes.IsNull(child))
                {
                    var created = new YamlMappingNode();
                    binder.MarkEnvironment(created, name);
                    binder.MarkEnvironment(Set(current, keys[i], created), name);
                    current = created;
                }
                else
                {
                    problems.Add(new YamlProblem("$" + name, 0, 0, string.Join('.', keys.Take(i + 1)),
                        $"cannot override inside '{string.Join('.', keys.Take(i + 1))}': the settings file gives it a single value", "remove the key from the file or drop the variable"));
                    ok = false;
                }
            }

            if (!ok)
            {
                continue;
            }

            var scalar = new YamlScalarNode(value) { Style = value is "null" or "~" ? ScalarStyle.Plain : ScalarStyle.DoubleQuoted };
            binder.MarkEnvironment(scalar, name);
            binder.MarkEnvironment(Set(current, keys[^1], scalar), name);
        }
    }

    private static YamlScalarNode Set(YamlMappingNode mapping, string key, YamlNode value)
    {
        foreach (var existing in mapping.Children.Keys.OfType<YamlScalarNode>().Where(k => k.Value == key).ToList())
        {
            mapping.Children.Remove(existing);
        }

        var keyNode = new YamlScalarNode(key);
        mapping.Children.Add(keyNode, value);
        return keyNode;
    }

    /// <summary>Every settings key path with its type, for documentation and tests.</summary>
    internal static IEnumerable<(string Path, Type Type)> DescribeKeys(Type type, string prefix = "")
    {
        foreach (var property in SettingsBinder.BindableProperties(type))
        {
            var path = prefix.Length == 0 ? SettingsBinder.KeyOf(property) : prefix + "." + SettingsBinder.KeyOf(property);
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (!SettingsBinder.IsScalarType(t) && SettingsBinder.ListElementType(t) is null && SettingsBinder.DictionaryValueType(t) is null
                && t.GetConstructor(Type.EmptyTypes) is not null && t.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is null)
            {
                foreach (var nested in DescribeKeys(t, path))
                {
                    yield return nested;
                }
            }
            else
            {
                yield return (path, property.PropertyType);
            }
        }
    }
}
