using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>One key a patch changes: its dotted path, the value before (null: absent) and after (null: removed).</summary>
internal sealed record ConfigChange(string Path, JsonNode? Before, JsonNode? After)
{
    public bool Existed => Before is not null;

    public bool Removes => After is null;

    public bool IsNoOp => JsonNode.DeepEquals(Before, After);

    public string Describe() => $"{Path}: {Show(Before)} -> {Show(After)}";

    public static string Show(JsonNode? value) => value is null ? "(absent)" : value.ToJsonString();
}

/// <summary>
/// Patroni's dynamic configuration is changed with a JSON merge patch (PATCH /config): objects merge, a null removes
/// the key. This computes what a patch changes and the patch that takes it back: previous values for keys that
/// existed, null (remove) for keys that did not. Pure functions, so undo is exact and testable.
/// </summary>
internal static partial class ConfigPatch
{
    /// <summary>Top-level keys of Patroni's dynamic configuration (others are taken as PostgreSQL parameters).</summary>
    public static IReadOnlySet<string> PatroniKeys { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode", "max_timelines_history",
        "primary_start_timeout", "primary_stop_timeout", "master_start_timeout", "master_stop_timeout", "synchronous_mode",
        "synchronous_mode_strict", "synchronous_node_count", "check_timeline", "failsafe_mode", "member_slots_ttl",
        "standby_cluster", "slots", "ignore_slots", "pause", "postgresql",
    };

    /// <summary>
    /// Turns <c>NAME=VALUE</c> assignments into a merge patch. NAME is a Patroni key (<c>loop_wait</c>), a dotted path
    /// (<c>postgresql.use_slots</c>, <c>postgresql.parameters.work_mem</c>) or else a PostgreSQL parameter
    /// (<c>work_mem</c> means <c>postgresql.parameters.work_mem</c>; a dotted extension parameter such as
    /// <c>pg_stat_statements.max</c> too). VALUE: <c>true</c>/<c>false</c> and integers become JSON booleans and
    /// numbers for Patroni keys, integers become numbers for parameters, <c>null</c> removes the key, anything else is a
    /// string. Every malformed assignment is reported (<see cref="InputException"/>).
    /// </summary>
    public static JsonObject FromAssignments(IEnumerable<string> assignments)
    {
        ArgumentNullException.ThrowIfNull(assignments);
        var patch = new JsonObject();
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var assignment in assignments)
        {
            var eq = assignment.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problems.Add($"'{assignment}': expected NAME=VALUE (for example work_mem=8MB or loop_wait=5)");
                continue;
            }

            var name = assignment[..eq].Trim();
            var text = assignment[(eq + 1)..];
            if (!NameRegex().IsMatch(name))
            {
                problems.Add($"'{name}': a name is letters, digits and '_' (dotted for a path), starting with a letter or '_'");
                continue;
            }

            if (text.Length == 0)
            {
                problems.Add($"'{assignment}': no value (write {name}=null to remove the key)");
                continue;
            }

            if (text.Contains('\0', StringComparison.Ordinal) || text.Contains('\n', StringComparison.Ordinal))
            {
                problems.Add($"'{name}': the value contains a control character");
                continue;
            }

            var path = PathOf(name);
            var key = string.Join('.', path);
            if (!seen.Add(key))
            {
                problems.Add($"'{name}' is set twice");
                continue;
            }

            var isParameter = path.Count == 3 && path[0] == "postgresql" && path[1] == "parameters";
            Set(patch, path, ParseValue(text, isParameter));
        }

        if (problems.Count > 0)
        {
            throw new InputException("bad NAME=VALUE assignment" + (problems.Count > 1 ? "s" : ""), problems);
        }

        if (patch.Count == 0)
        {
            throw new InputException("nothing to set: give one or more NAME=VALUE (for example work_mem=8MB)");
        }

        return patch;
    }

    /// <summary>The path a NAME stands for (see <see cref="FromAssignments"/>).</summary>
    public static IReadOnlyList<string> PathOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var parts = name.Split('.');
        if (parts[0] == "postgresql" && parts.Length >= 2)
        {
            // postgresql.parameters.pg_stat_statements.max: the parameter name keeps its dot.
            return parts.Length >= 3 && parts[1] == "parameters"
                ? ["postgresql", "parameters", string.Join('.', parts[2..]).ToLowerInvariant()]
                : parts;
        }

        if (parts.Length == 1 && PatroniKeys.Contains(name))
        {
            return [name];
        }

        if (parts.Length > 1 && PatroniKeys.Contains(parts[0]))
        {
            return parts;
        }

        // PostgreSQL parameter names are case-insensitive; pg_settings lists them in lower case.
        return ["postgresql", "parameters", name.ToLowerInvariant()];
    }

    /// <summary>How a VALUE is typed in JSON (see <see cref="FromAssignments"/>).</summary>
    public static JsonNode? ParseValue(string text, bool isParameter)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text == "null")
        {
            return null;
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer)
            && integer.ToString(CultureInfo.InvariantCulture) == text)
        {
            return JsonValue.Create(integer);
        }

        if (!isParameter && text is "true" or "false")
        {
            return JsonValue.Create(text == "true");
        }

        return JsonValue.Create(text);
    }

    /// <summary>Every leaf the patch touches, with the value before (from <paramref name="current"/>) and after.</summary>
    public static IReadOnlyList<ConfigChange> Changes(JsonObject current, JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(patch);
        var changes = new List<ConfigChange>();
        Walk(current, patch, "", changes);
        return changes;
    }

    /// <summary>
    /// The merge patch that takes <paramref name="patch"/> back when applied after it: for each leaf it sets, the
    /// previous value, or null (remove) where there was none; for each key it removes, the previous value. Applying
    /// <paramref name="patch"/> then the inverse to <paramref name="current"/> gives <paramref name="current"/> again.
    /// </summary>
    public static JsonObject Inverse(JsonObject current, JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(patch);
        var inverse = new JsonObject();
        foreach (var (key, value) in patch)
        {
            var before = current[key];
            if (value is JsonObject nested && before is JsonObject beforeObject)
            {
                var inner = Inverse(beforeObject, nested);
                if (inner.Count > 0)
                {
                    inverse[key] = inner;
                }
            }
            else if (value is null && before is null)
            {
                // Removing a key that is not there changes nothing.
            }
            else
            {
                inverse[key] = before?.DeepClone();
            }
        }

        return inverse;
    }

    /// <summary>What Patroni stores after applying <paramref name="patch"/> to <paramref name="current"/> (RFC 7386 merge).</summary>
    public static JsonObject Apply(JsonObject current, JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(patch);
        var result = (JsonObject)current.DeepClone();
        Merge(result, patch);
        return result;
    }

    /// <summary>True when every leaf of <paramref name="patch"/> holds in <paramref name="config"/> (set values equal, removed keys absent).</summary>
    public static bool IsApplied(JsonObject config, JsonObject patch, out IReadOnlyList<string> differences)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(patch);
        var diffs = new List<string>();
        foreach (var change in Changes(config, patch))
        {
            if (!SameValue(change.Before, change.After))
            {
                diffs.Add($"{change.Path} is {ConfigChange.Show(change.Before)}, expected {ConfigChange.Show(change.After)}");
            }
        }

        differences = diffs;
        return diffs.Count == 0;
    }

    /// <summary>PostgreSQL parameters the patch sets or removes (name → value, null when removed).</summary>
    public static IReadOnlyDictionary<string, JsonNode?> Parameters(JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var result = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (patch["postgresql"] is JsonObject pg && pg["parameters"] is JsonObject parameters)
        {
            foreach (var (name, value) in parameters)
            {
                result[name] = value;
            }
        }

        return result;
    }

    /// <summary>A parameter's value as PostgreSQL reads it from the file Patroni writes (booleans as on/off).</summary>
    public static string? ParameterText(JsonNode? value) => value switch
    {
        null => null,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "on" : "off",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => value.ToJsonString(),
    };

    public static JsonObject Parse(string json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new InputException("a config patch must be a JSON object");
        }
        catch (JsonException ex)
        {
            throw new InputException($"the config patch is not valid JSON: {ex.Message}");
        }
    }

    private static void Walk(JsonObject? current, JsonObject patch, string prefix, List<ConfigChange> changes)
    {
        foreach (var (key, value) in patch)
        {
            var path = prefix.Length == 0 ? key : prefix + "." + key;
            var before = current?[key];
            if (value is JsonObject nested && before is null or JsonObject)
            {
                Walk(before as JsonObject, nested, path, changes);
            }
            else
            {
                changes.Add(new ConfigChange(path, before?.DeepClone(), value?.DeepClone()));
            }
        }
    }

    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch)
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject nested)
            {
                if (target[key] is not JsonObject existing)
                {
                    existing = new JsonObject();
                    target[key] = existing;
                }

                Merge(existing, nested);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    private static void Set(JsonObject root, IReadOnlyList<string> path, JsonNode? value)
    {
        var node = root;
        for (var i = 0; i < path.Count - 1; i++)
        {
            if (node[path[i]] is not JsonObject next)
            {
                next = new JsonObject();
                node[path[i]] = next;
            }

            node = next;
        }

        node[path[^1]] = value;
    }

    /// <summary>JSON equality that also takes 5 and "5" as the same value (Patroni and PostgreSQL do).</summary>
    public static bool SameValue(JsonNode? a, JsonNode? b)
    {
        if (JsonNode.DeepEquals(a, b))
        {
            return true;
        }

        return a is JsonValue && b is JsonValue && string.Equals(ParameterText(a), ParameterText(b), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();
}
