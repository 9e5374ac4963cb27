using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Yaml;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary>One text replacement in the inventory: characters [<paramref name="Start"/>, <paramref name="End"/>) become <paramref name="Text"/>.</summary>
internal sealed record TextEdit(int Start, int End, string Text, string Why);

/// <summary>What <see cref="InventoryPatcher.Propose"/> found: the edits and the patched text, or the problems (file:line) that stop it.</summary>
internal sealed record InventoryProposal
{
    public IReadOnlyList<TextEdit> Edits { get; init; } = [];

    /// <summary>The inventory as it reads after the edits (null when there are problems).</summary>
    public string? PatchedText { get; init; }

    /// <summary>The unified diff (<c>--- a/NAME</c> / <c>+++ b/NAME</c>, 3 context lines); null when there are problems.</summary>
    public string? Diff { get; init; }

    /// <summary>One line per change: where it is and what it does (<c>pigsty.yml:64: pg-test-1 pg_role primary -> replica</c>).</summary>
    public IReadOnlyList<string> Located { get; init; } = [];

    public IReadOnlyList<string> Problems { get; init; } = [];

    public bool Ok => Problems.Count == 0 && Diff is not null;
}

/// <summary>
/// Computes the smallest edit of an Ansible/Pigsty inventory that makes members' variables say something else, from
/// the YAML nodes' exact positions (YamlDotNet marks), so every other byte (comments, order, spacing, quoting,
/// CRLF line ends) stays as the operator wrote it. Never writes a file: the result is text and a unified diff.
/// <list type="bullet">
/// <item>A value the member's host entry sets (<c>10.10.10.11: { pg_seq: 1, pg_role: primary }</c>, flow or block) is
/// replaced in place, keeping its quoting style.</item>
/// <item>A value inherited from group vars or <c>all.vars</c>, or not set at all (Pigsty's default), is overridden by
/// adding <c>key: value</c> to the member's own host entry, so the other members that share the group var keep it.</item>
/// <item>A change whose <c>from</c> is not what the file says is refused with file:line.</item>
/// </list>
/// </summary>
internal static partial class InventoryPatcher
{
    /// <summary>Pigsty's defaults for variables a proposal may meet unset.</summary>
    private static readonly Dictionary<string, string> Defaults = new(StringComparer.Ordinal) { ["pg_role"] = "replica" };

    /// <summary>Proposes <paramref name="changes"/> for <paramref name="cluster"/> in <paramref name="text"/> (the file's content, without a BOM).</summary>
    /// <param name="fileName">The file name the diff names (<c>a/NAME</c>, <c>b/NAME</c>) and problems cite.</param>
    /// <param name="bom">True when the file starts with a UTF-8 byte order mark (kept on its first line in the diff).</param>
    public static InventoryProposal Propose(string text, string fileName, string cluster, IReadOnlyList<InventoryChange> changes, bool bom = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(changes);
        var problems = new List<string>();
        var located = new List<string>();
        var edits = new List<TextEdit>();
        var model = Read(text, fileName, problems);
        if (model is null)
        {
            return new InventoryProposal { Problems = problems };
        }

        var eol = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        foreach (var change in changes)
        {
            if (Plan(model, text, fileName, cluster, change, eol, problems) is { } edit)
            {
                edits.Add(edit);
                located.Add($"{fileName}:{LineOf(text, edit.Start) + 1}: {change} ({edit.Why})");
            }
        }

        edits.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (var i = 1; i < edits.Count; i++)
        {
            if (edits[i].Start < edits[i - 1].End || (edits[i].Start == edits[i - 1].Start && edits[i].End == edits[i - 1].End))
            {
                problems.Add($"{fileName}:{LineOf(text, edits[i].Start) + 1}: two changes touch the same value; propose them one at a time");
            }
        }

        if (problems.Count > 0)
        {
            return new InventoryProposal { Problems = problems, Located = located };
        }

        var patched = Apply(text, edits);

        // The proposal must read back as asked: every change's value is now its 'to' for the member.
        var check = Read(patched, fileName, problems);
        if (check is not null)
        {
            foreach (var change in changes)
            {
                var now = Current(check, cluster, change, out _);
                if (!string.Equals(now.Value, change.To, StringComparison.Ordinal))
                {
                    problems.Add($"{fileName}: after the edit {change.Member} {change.Key} would read '{now.Value ?? "(unset)"}', not '{change.To}'; edit the file by hand");
                }
            }
        }
        else
        {
            problems.Add($"{fileName}: the edited inventory would not parse; edit the file by hand");
        }

        if (problems.Count > 0)
        {
            return new InventoryProposal { Problems = problems, Located = located, Edits = edits };
        }

        return new InventoryProposal
        {
            Edits = edits,
            PatchedText = patched,
            Located = located,
            Diff = UnifiedDiff.Render(text, edits, fileName, bom),
        };
    }

    /// <summary>The text with <paramref name="edits"/> applied (sorted, not overlapping).</summary>
    public static string Apply(string text, IReadOnlyList<TextEdit> edits)
    {
        var sb = new StringBuilder(text.Length + 64);
        var at = 0;
        foreach (var e in edits.OrderBy(e => e.Start))
        {
            sb.Append(text, at, e.Start - at).Append(e.Text);
            at = e.End;
        }

        return sb.Append(text, at, text.Length - at).ToString();
    }

    /// <summary>
    /// The value a member's variable has in <paramref name="text"/> as the topology reads it (the member's listing,
    /// then Ansible precedence, then Pigsty's default), or null with the problem.
    /// </summary>
    public static string? ValueOf(string text, string fileName, string cluster, string member, string key, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var model = Read(text, fileName, problems);
        if (model is null)
        {
            return null;
        }

        var found = Current(model, cluster, new InventoryChange(member, key, "", ""), out var problem);
        if (problem is not null)
        {
            problems.Add(problem);
        }

        return found.Value;
    }

    internal static int LineOf(string text, int index)
    {
        var line = 0;
        for (var i = 0; i < index && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
            }
        }

        return line;
    }

    private sealed record Model(YamlFile File, AnsibleInventory Inventory);

    private sealed record Found(HostListing? Listing, VarEntry? Entry, string? Value);

    private static Model? Read(string text, string fileName, List<string> problems)
    {
        var yamlProblems = new List<YamlProblem>();
        var file = YamlFile.Parse(text, fileName, fileName, yamlProblems);
        foreach (var p in yamlProblems.Where(p => p.Severity == ProblemSeverity.Error))
        {
            problems.Add(p.ToString());
        }

        if (file.Root is null)
        {
            if (problems.Count == 0)
            {
                problems.Add($"{fileName}: the file is empty");
            }

            return null;
        }

        var inventory = AnsibleInventory.Read(file, yamlProblems);
        return problems.Count > 0 ? null : new Model(file, inventory);
    }

    private static TextEdit? Plan(Model model, string text, string fileName, string cluster, InventoryChange change, string eol, List<string> problems)
    {
        var found = Current(model, cluster, change, out var problem);
        if (problem is not null || found.Listing is null)
        {
            problems.Add(problem ?? $"{fileName}: {change.Member} is not in cluster {cluster}");
            return null;
        }

        var listing = found.Listing;
        var where = found.Entry is { } e ? $"{fileName}:{e.Value.Start.Line}" : $"{fileName}:{listing.KeyNode.Start.Line}";
        if (!string.Equals(found.Value, change.From, StringComparison.Ordinal))
        {
            var says = found.Entry is null
                ? found.Value is null ? "does not set it" : $"does not set it (Pigsty's default is '{found.Value}')"
                : found.Entry.Value is YamlScalarNode ? $"says '{found.Value ?? "(empty)"}'" : $"holds {YamlNodes.Describe(found.Entry.Value)}";
            problems.Add($"{where}: {change.Member} {change.Key}: the inventory {says}, not '{change.From}' as the change expects; nothing proposed for it");
            return null;
        }

        var listingValue = FindValue(model.File.Root!, listing.KeyNode);

        // The member's own host entry sets it: replace the value where it is written.
        if (found.Entry is { Level: VarLevel.Host } hostVar && listingValue is YamlMappingNode own && OwnsKey(own, hostVar.KeyNode))
        {
            if (hostVar.Value is not YamlScalarNode scalar || !hostVar.Value.Tag.IsEmpty)
            {
                problems.Add($"{where}: {change.Member} {change.Key} is not a plain value ({YamlNodes.Describe(hostVar.Value)}); edit it by hand");
                return null;
            }

            if (!scalar.Anchor.IsEmpty || scalar.Start.Index < hostVar.KeyNode.End.Index)
            {
                problems.Add($"{where}: {change.Member} {change.Key} is a YAML anchor or alias shared with other entries; edit it by hand");
                return null;
            }

            var start = (int)scalar.Start.Index;
            var end = (int)scalar.End.Index;
            var written = end <= text.Length && start <= end ? text[start..end] : "";
            var expected = scalar.Style switch
            {
                ScalarStyle.Plain => scalar.Value,
                ScalarStyle.SingleQuoted => "'" + scalar.Value?.Replace("'", "''", StringComparison.Ordinal) + "'",
                ScalarStyle.DoubleQuoted => null, // escapes: checked by its quotes below
                _ => null,
            };
            var shapeOk = scalar.Style switch
            {
                ScalarStyle.Plain or ScalarStyle.SingleQuoted => string.Equals(written, expected, StringComparison.Ordinal),
                ScalarStyle.DoubleQuoted => written.Length >= 2 && written[0] == '"' && written[^1] == '"',
                _ => false,
            };
            if (!shapeOk)
            {
                problems.Add($"{where}: {change.Member} {change.Key} is written in a form this proposal cannot edit safely ({scalar.Style}); edit it by hand");
                return null;
            }

            return new TextEdit(start, end, Render(change.To, scalar.Style), "the host entry sets it");
        }

        // Inherited (group vars, all.vars, a merge key) or unset: the member's own host entry overrides it.
        var why = found.Entry is null ? "not set: added to the host entry" : $"inherited from {found.Entry.Scope} ({fileName}:{found.Entry.Value.Start.Line}): overridden in the host entry";
        var pair = $"{change.Key}: {Render(change.To, ScalarStyle.Plain)}";
        switch (listingValue)
        {
            case YamlMappingNode { Style: MappingStyle.Flow } flow:
                if (flow.Children.Count == 0)
                {
                    var open = text.IndexOf('{', (int)flow.Start.Index);
                    return open < 0 || open >= flow.End.Index ? Refuse() : new TextEdit(open + 1, (int)flow.End.Index - 1, " " + pair + " ", why);
                }

                var lastFlow = flow.Children.Last().Value;
                return new TextEdit((int)lastFlow.End.Index, (int)lastFlow.End.Index, ", " + pair, why);
            case YamlMappingNode block when block.Children.Count > 0:
                if (block.Children.Last().Value is not YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted })
                {
                    return Refuse();
                }

                var firstKey = block.Children.First().Key;
                var indent = new string(' ', (int)firstKey.Start.Column - 1);
                var lastEnd = (int)block.Children.Last().Value.End.Index;
                var lineEnd = lastEnd > 0 && text[lastEnd - 1] == '\n' ? lastEnd : text.IndexOf('\n', lastEnd);
                return lineEnd < 0
                    ? new TextEdit(text.Length, text.Length, eol + indent + pair, why)
                    : new TextEdit(lineEnd + 1, lineEnd + 1, indent + pair + eol, why);
            case YamlScalarNode s when YamlNodes.IsNull(s):
                var colon = text.IndexOf(':', (int)listing.KeyNode.End.Index);
                var lineBreak = text.IndexOf('\n', (int)listing.KeyNode.End.Index);
                if (colon < 0 || (lineBreak >= 0 && colon > lineBreak))
                {
                    return Refuse();
                }

                return s.Start.Index > colon && s.End.Index > s.Start.Index
                    ? new TextEdit((int)s.Start.Index, (int)s.End.Index, "{ " + pair + " }", why)
                    : new TextEdit(colon + 1, colon + 1, " { " + pair + " }", why);
            default:
                return Refuse();
        }

        TextEdit? Refuse()
        {
            problems.Add($"{fileName}:{listing.KeyNode.Start.Line}: {change.Member}: cannot add '{pair}' to this host entry's layout; edit it by hand");
            return null;
        }
    }

    /// <summary>What the file says for the change's member and key, with the listing of the member in the cluster's group.</summary>
    private static Found Current(Model model, string cluster, InventoryChange change, out string? problem)
    {
        problem = null;
        var fileName = model.File.DisplayPath;
        var prefix = cluster + "-";
        if (!change.Member.StartsWith(prefix, StringComparison.Ordinal)
            || !int.TryParse(change.Member.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            problem = $"{fileName}: '{change.Member}' is not a member name of cluster {cluster} (members are {cluster}-<pg_seq>)";
            return new Found(null, null, null);
        }

        var matches = new List<HostListing>();
        var clusterSeen = false;
        var seenHosts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in model.Inventory.Groups.Values)
        {
            if (group == model.Inventory.All || PigstyDefaults.IsPlatformGroup(group.Name))
            {
                continue;
            }

            foreach (var listing in group.Listings)
            {
                if (!string.Equals(YamlNodes.Text(GroupScoped(listing, "pg_cluster")?.Value), cluster, StringComparison.Ordinal) || !seenHosts.Add(listing.HostName))
                {
                    continue;
                }

                clusterSeen = true;
                var host = model.Inventory.Hosts[listing.HostName];
                var seqEntry = listing.Vars.GetValueOrDefault("pg_seq") ?? host.Get("pg_seq");
                if (int.TryParse(YamlNodes.Text(seqEntry?.Value), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) && s == seq)
                {
                    matches.Add(listing);
                }
            }
        }

        if (matches.Count != 1)
        {
            problem = !clusterSeen ? $"{fileName}: no cluster {cluster} (no host whose group sets pg_cluster: {cluster})"
                : matches.Count == 0 ? $"{fileName}: cluster {cluster} has no member with pg_seq {seq.ToString(CultureInfo.InvariantCulture)} ({change.Member})"
                : $"{fileName}: {matches.Count.ToString(CultureInfo.InvariantCulture)} hosts of {cluster} have pg_seq {seq.ToString(CultureInfo.InvariantCulture)}; fix the inventory first";
            return new Found(null, null, null);
        }

        var m = matches[0];
        var entry = m.Vars.GetValueOrDefault(change.Key) ?? model.Inventory.Hosts[m.HostName].Get(change.Key);
        var value = entry is null ? Defaults.GetValueOrDefault(change.Key) : YamlNodes.Text(entry.Value);
        return new Found(m, entry, value);
    }

    /// <summary>A variable as the group listing the host sees it: the listing, the group, its ancestors (not all.vars), as the topology reads pg_cluster.</summary>
    private static VarEntry? GroupScoped(HostListing listing, string name)
    {
        if (listing.Vars.TryGetValue(name, out var v))
        {
            return v;
        }

        foreach (var g in listing.Group.SelfAndAncestors())
        {
            if (g.Vars.TryGetValue(name, out v))
            {
                return v;
            }
        }

        return null;
    }

    private static bool OwnsKey(YamlMappingNode mapping, YamlScalarNode key) =>
        mapping.Children.Any(p => ReferenceEquals(p.Key, key));

    /// <summary>The value paired with <paramref name="key"/> (by identity) anywhere under <paramref name="root"/>.</summary>
    private static YamlNode? FindValue(YamlNode root, YamlScalarNode key)
    {
        var stack = new Stack<YamlNode>();
        var seen = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node))
            {
                continue;
            }

            switch (node)
            {
                case YamlMappingNode map:
                    foreach (var pair in map.Children)
                    {
                        if (ReferenceEquals(pair.Key, key))
                        {
                            return pair.Value;
                        }

                        stack.Push(pair.Value);
                    }

                    break;
                case YamlSequenceNode seq:
                    foreach (var item in seq.Children)
                    {
                        stack.Push(item);
                    }

                    break;
            }
        }

        return null;
    }

    /// <summary>A value written in <paramref name="style"/>; a plain value YAML would read as something else is double-quoted.</summary>
    private static string Render(string value, ScalarStyle style) => style switch
    {
        ScalarStyle.SingleQuoted => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'",
        ScalarStyle.DoubleQuoted => Quote(value),
        _ => PlainSafe().IsMatch(value) && value is not ("null" or "Null" or "NULL" or "~" or "true" or "false" or "yes" or "no" or "on" or "off") ? value : Quote(value),
    };

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.\-/]*$")]
    private static partial Regex PlainSafe();
}
