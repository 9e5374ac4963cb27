using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary>
/// One change to propose in the inventory: the variable <paramref name="Key"/> of <paramref name="Member"/>
/// (<c>&lt;pg_cluster&gt;-&lt;pg_seq&gt;</c>) goes from <paramref name="From"/> (what the file must say now) to
/// <paramref name="To"/>. Example: <c>pg-test-1 pg_role primary -&gt; replica</c>.
/// </summary>
internal sealed partial record InventoryChange(string Member, string Key, string From, string To)
{
    public override string ToString() => $"{Member} {Key} {From} -> {To}";

    /// <summary>
    /// Reads changes from a parameter: a JSON list of <c>{member, key, from, to}</c> (what a skill's <c>with:</c> passes),
    /// or the compact form an operator types: <c>pg-test-1 pg_role primary-&gt;replica, pg-test-2 pg_role replica-&gt;primary</c>
    /// (the key may be left out: <c>pg_role</c>). Bad input: <see cref="InputException"/> listing every problem.
    /// </summary>
    public static IReadOnlyList<InventoryChange> ParseList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var problems = new List<string>();
        var changes = trimmed.StartsWith('[') || trimmed.StartsWith('{') ? ParseJson(trimmed, problems) : ParseCompact(trimmed, problems);
        if (changes.Count == 0 && problems.Count == 0)
        {
            problems.Add("no change is given");
        }

        var seen = new HashSet<(string, string)>();
        foreach (var c in changes)
        {
            if (!seen.Add((c.Member, c.Key)))
            {
                problems.Add($"{c.Member} {c.Key} is changed twice");
            }
        }

        return problems.Count > 0
            ? throw new InputException("inventory.propose_patch: bad 'changes'", [.. problems, "expected a JSON list of {member, key, from, to}, or 'pg-test-1 pg_role primary->replica, pg-test-2 pg_role replica->primary'"])
            : changes;
    }

    /// <summary>
    /// The <c>pg_role</c> changes that make the inventory name <paramref name="leader"/> (Patroni's leader) as the
    /// primary: the declared primary that does not lead becomes a replica, the leader becomes the primary. Empty when
    /// they agree.
    /// </summary>
    public static IReadOnlyList<InventoryChange> RoleChanges(Inventory.PgCluster cluster, string leader)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var changes = new List<InventoryChange>();
        foreach (var m in cluster.Members.Where(m => m.DeclaredRole == Inventory.DeclaredRole.Primary && m.Name != leader))
        {
            changes.Add(new InventoryChange(m.Name, "pg_role", "primary", "replica"));
        }

        if (cluster.FindMember(leader) is { } l && l.DeclaredRole != Inventory.DeclaredRole.Primary)
        {
            changes.Add(new InventoryChange(l.Name, "pg_role", l.DeclaredRole.ToString().ToLowerInvariant(), "primary"));
        }

        return changes;
    }

    /// <summary>The changes as the JSON list <see cref="ParseList"/> reads (the canonical form kept in the action's parameters).</summary>
    public static string ToJson(IEnumerable<InventoryChange> changes) =>
        new JsonArray(changes.Select(c => (JsonNode)new JsonObject { ["member"] = c.Member, ["key"] = c.Key, ["from"] = c.From, ["to"] = c.To }).ToArray())
            .ToJsonString();

    private static List<InventoryChange> ParseJson(string text, List<string> problems)
    {
        var result = new List<InventoryChange>();
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException ex)
        {
            problems.Add("not valid JSON: " + ex.Message);
            return result;
        }

        var items = node switch
        {
            JsonArray a => a.ToList(),
            JsonObject o => [o],
            _ => [],
        };
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is not JsonObject o)
            {
                problems.Add($"change {i + 1}: expected an object {{member, key, from, to}}");
                continue;
            }

            string? Field(string name) => o[name] switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonValue v => v.ToJsonString(),
                _ => null,
            };
            var unknown = o.Select(p => p.Key).Where(k => k is not ("member" or "key" or "from" or "to")).ToList();
            if (unknown.Count > 0)
            {
                problems.Add($"change {i + 1}: unknown field(s) {string.Join(", ", unknown)}");
            }

            Add(result, problems, i + 1, Field("member"), Field("key") ?? "pg_role", Field("from"), Field("to"));
        }

        return result;
    }

    private static List<InventoryChange> ParseCompact(string text, List<string> problems)
    {
        var result = new List<InventoryChange>();
        var parts = text.Split([',', ';', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var m = CompactPattern().Match(parts[i]);
            if (!m.Success)
            {
                problems.Add($"'{parts[i]}': expected 'MEMBER [KEY] FROM->TO'");
                continue;
            }

            Add(result, problems, i + 1, m.Groups["member"].Value, m.Groups["key"].Success ? m.Groups["key"].Value : "pg_role",
                m.Groups["from"].Value, m.Groups["to"].Value);
        }

        return result;
    }

    private static void Add(List<InventoryChange> result, List<string> problems, int index, string? member, string key, string? from, string? to)
    {
        var where = string.Create(CultureInfo.InvariantCulture, $"change {index}");
        var before = problems.Count;
        if (string.IsNullOrWhiteSpace(member))
        {
            problems.Add($"{where}: no member");
        }

        if (!KeyPattern().IsMatch(key))
        {
            problems.Add($"{where}: '{key}' is not a variable name");
        }

        if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to))
        {
            problems.Add($"{where}: needs both 'from' and 'to'");
        }
        else if (from.Contains('\n', StringComparison.Ordinal) || to.Contains('\n', StringComparison.Ordinal))
        {
            problems.Add($"{where}: values must fit on one line");
        }
        else if (string.Equals(from, to, StringComparison.Ordinal))
        {
            problems.Add($"{where}: 'from' and 'to' are both '{from}': nothing to change");
        }

        if (problems.Count == before)
        {
            result.Add(new InventoryChange(member!.Trim(), key, from!, to!));
        }
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"^(?<member>\S+)\s+(?:(?<key>[A-Za-z_][A-Za-z0-9_]*)\s+)?(?<from>[^\s>-][^\s]*?)\s*->\s*(?<to>\S+)$")]
    private static partial Regex CompactPattern();
}
