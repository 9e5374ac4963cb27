using System.Globalization;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Inventory;

/// <summary>One variable as written: its name, key and value nodes, and the scope that defines it.</summary>
/// <param name="Scope">Where it is defined, for messages: <c>all.vars</c>, <c>group pg-test</c>, <c>host 10.10.10.11</c>.</param>
/// <param name="Path">YAML path, for secret origins: <c>all.children.pg-test.vars.pg_port</c>.</param>
internal sealed record VarEntry(string Name, YamlScalarNode KeyNode, YamlNode Value, string Scope, string Path, VarLevel Level);

internal enum VarLevel
{
    Global,
    Group,
    Host,
}

/// <summary>An Ansible group as the YAML inventory defines it (a name may be defined in several places; they merge).</summary>
internal sealed class InventoryGroup(string name)
{
    public string Name { get; } = name;

    /// <summary>The key node that names the group where it is first defined (null for the implicit <c>all</c>).</summary>
    public YamlScalarNode? NameNode { get; set; }

    public string Path { get; set; } = name;

    public int Depth { get; set; }

    public int Priority { get; set; } = 1;

    public List<InventoryGroup> Parents { get; } = [];

    public List<InventoryGroup> Children { get; } = [];

    public Dictionary<string, VarEntry> Vars { get; } = new(StringComparer.Ordinal);

    /// <summary>Hosts listed directly under this group's <c>hosts:</c>, in document order.</summary>
    public List<HostListing> Listings { get; } = [];

    /// <summary>This group and every group below it.</summary>
    public IEnumerable<InventoryGroup> SelfAndDescendants()
    {
        var seen = new HashSet<InventoryGroup>();
        var stack = new Stack<InventoryGroup>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var g = stack.Pop();
            if (!seen.Add(g))
            {
                continue;
            }

            yield return g;
            foreach (var c in g.Children)
            {
                stack.Push(c);
            }
        }
    }

    /// <summary>This group and every group above it (excluding <c>all</c>).</summary>
    public IEnumerable<InventoryGroup> SelfAndAncestors()
    {
        var seen = new HashSet<InventoryGroup>();
        var stack = new Stack<InventoryGroup>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var g = stack.Pop();
            if (!seen.Add(g) || g.Name == AnsibleInventory.AllGroup)
            {
                continue;
            }

            yield return g;
            foreach (var p in g.Parents)
            {
                stack.Push(p);
            }
        }
    }

    public override string ToString() => Name;
}

/// <summary>One appearance of a host under a group's <c>hosts:</c>, with the vars written there.</summary>
internal sealed class HostListing(InventoryGroup group, string hostName, YamlScalarNode keyNode)
{
    public InventoryGroup Group { get; } = group;

    public string HostName { get; } = hostName;

    public YamlScalarNode KeyNode { get; } = keyNode;

    public Dictionary<string, VarEntry> Vars { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A host with every variable resolved as Ansible does: host vars over group vars (deeper groups over shallower ones,
/// then <c>ansible_group_priority</c>, then name) over <c>all.vars</c>.
/// </summary>
internal sealed class InventoryHost(string name, AnsibleInventory inventory)
{
    private InventoryGroup[]? _groupsDescending;

    public string Name { get; } = name;

    public List<HostListing> Listings { get; } = [];

    /// <summary>Host vars merged over every listing of this host (later listings win, as in Ansible).</summary>
    public Dictionary<string, VarEntry> HostVars { get; } = new(StringComparer.Ordinal);

    /// <summary>Groups that contain the host directly or through children, highest precedence first.</summary>
    public IReadOnlyList<InventoryGroup> GroupsByPrecedence => _groupsDescending ??= ComputeGroups();

    /// <summary>The effective value of a variable for this host, or null when no scope defines it.</summary>
    public VarEntry? Get(string name)
    {
        if (HostVars.TryGetValue(name, out var v))
        {
            return v;
        }

        foreach (var g in GroupsByPrecedence)
        {
            if (g.Vars.TryGetValue(name, out v))
            {
                return v;
            }
        }

        return inventory.All.Vars.GetValueOrDefault(name);
    }

    public bool InGroup(string groupName) => GroupsByPrecedence.Any(g => string.Equals(g.Name, groupName, StringComparison.Ordinal));

    private InventoryGroup[] ComputeGroups()
    {
        if (Listings.Count == 1 && Listings[0].Group.Parents.TrueForAll(p => p.Name == AnsibleInventory.AllGroup))
        {
            return Listings[0].Group.Name == AnsibleInventory.AllGroup ? [] : [Listings[0].Group]; // the common case
        }

        var set = new HashSet<InventoryGroup>();
        foreach (var listing in Listings)
        {
            foreach (var g in listing.Group.SelfAndAncestors())
            {
                set.Add(g);
            }
        }

        return set
            .OrderByDescending(g => g.Depth)
            .ThenByDescending(g => g.Priority)
            .ThenByDescending(g => g.Name, StringComparer.Ordinal)
            .ToArray();
    }
}

/// <summary>
/// An Ansible YAML inventory (<c>all: { children, hosts, vars }</c>) read into groups and hosts. Structural problems
/// (a <c>hosts:</c> that is a list, a group that is a scalar) are reported with their location.
/// </summary>
internal sealed partial class AnsibleInventory
{
    public const string AllGroup = "all";

    private readonly YamlFile _file;
    private readonly ICollection<YamlProblem> _problems;

    private AnsibleInventory(YamlFile file, ICollection<YamlProblem> problems)
    {
        _file = file;
        _problems = problems;
        All = new InventoryGroup(AllGroup) { Depth = 0, Path = AllGroup };
        Groups[AllGroup] = All;
    }

    public InventoryGroup All { get; }

    /// <summary>Every group by name, in first-definition order.</summary>
    public Dictionary<string, InventoryGroup> Groups { get; } = new(StringComparer.Ordinal);

    /// <summary>Every host by inventory name, in first-appearance order.</summary>
    public Dictionary<string, InventoryHost> Hosts { get; } = new(StringComparer.Ordinal);

    public YamlFile File => _file;

    /// <summary>False when the file is YAML but not an inventory (no top-level 'all:' mapping): nothing else is read from it.</summary>
    public bool IsInventory { get; private set; } = true;

    public static AnsibleInventory Read(YamlFile file, ICollection<YamlProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(file);
        var inventory = new AnsibleInventory(file, problems);
        if (file.Root is null)
        {
            return inventory;
        }

        if (file.Root is not YamlMappingNode root)
        {
            problems.Add(file.Problem(file.Root, null, $"not an Ansible/Pigsty inventory: the file must be a mapping with an 'all:' key, found {YamlNodes.Describe(file.Root)}",
                "start the file with 'all:' and put groups under 'all.children' (is -i pointing at the right file?)"));
            inventory.IsInventory = false;
            return inventory;
        }

        if (YamlNodes.GetEntry(root, AllGroup) is null && !YamlNodes.Entries(root).Any(e => LooksLikeGroup(e.Value)))
        {
            // Pigsty writes every inventory under 'all:'; Ansible also takes top-level groups (kept below), but a
            // mapping with neither is some other file (a config, a colon-separated system file such as /etc/shadow,
            // which YAML reads as keys with empty values). Its keys are not echoed: they may be anything.
            var count = YamlNodes.Entries(root).Count();
            problems.Add(file.Problem(root, null,
                $"not an Ansible/Pigsty inventory: the top level has no 'all:' key ({count.ToString(CultureInfo.InvariantCulture)} other top-level key{(count == 1 ? "" : "s")}, none a group with hosts, vars or children)",
                "start the file with 'all:' and put groups under 'all.children' (is -i pointing at the right file?)"));
            inventory.IsInventory = false;
            return inventory;
        }

        foreach (var (key, value) in YamlNodes.Entries(root))
        {
            var name = key.Value ?? "";
            if (name == AllGroup)
            {
                inventory.All.NameNode = key;
                inventory.ReadGroupBody(inventory.All, value, AllGroup);
            }
            else
            {
                // A top-level group other than 'all' is an implicit child of 'all', as in Ansible.
                inventory.ReadGroup(name, key, value, inventory.All, name, 0);
            }
        }

        return inventory;
    }

    /// <summary>A group body Ansible would read: a mapping with at least one of hosts, vars, children.</summary>
    private static bool LooksLikeGroup(YamlNode body) =>
        body is YamlMappingNode mapping && YamlNodes.Entries(mapping).Any(e => e.Key.Value is "hosts" or "vars" or "children");

    private void ReadGroup(string name, YamlScalarNode key, YamlNode body, InventoryGroup parent, string path, int nesting)
    {
        if (nesting > 32)
        {
            _problems.Add(_file.Problem(key, name, "groups are nested more than 32 levels deep", "check for a group that contains itself"));
            return;
        }

        if (!Groups.TryGetValue(name, out var group))
        {
            group = new InventoryGroup(name) { NameNode = key, Path = path };
            Groups[name] = group;
        }

        if (group == parent || parent.SelfAndAncestors().Contains(group))
        {
            _problems.Add(_file.Problem(key, name, $"group '{name}' is its own ancestor", "remove the cycle from 'children'"));
            return;
        }

        if (!group.Parents.Contains(parent))
        {
            group.Parents.Add(parent);
            parent.Children.Add(group);
        }

        group.Depth = Math.Max(group.Depth, parent.Depth + 1);
        ReadGroupBody(group, body, path, nesting);
    }

    private void ReadGroupBody(InventoryGroup group, YamlNode body, string path, int nesting = 0)
    {
        if (YamlNodes.IsNull(body))
        {
            return;
        }

        if (body is not YamlMappingNode mapping)
        {
            _problems.Add(_file.Problem(body, group.Name, $"group '{group.Name}' must be a mapping (hosts, vars, children), found {YamlNodes.Describe(body)}",
                "write it as 'name: { hosts: {...}, vars: {...} }'"));
            return;
        }

        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            switch (key.Value)
            {
                case "vars":
                    ReadVars(group.Vars, value, group.Name == AllGroup ? "all.vars" : "group " + group.Name, path + ".vars",
                        group.Name == AllGroup ? VarLevel.Global : VarLevel.Group);
                    if (group.Vars.TryGetValue("ansible_group_priority", out var prio)
                        && int.TryParse(YamlNodes.Text(prio.Value), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p))
                    {
                        group.Priority = p;
                    }

                    break;
                case "hosts":
                    ReadHosts(group, value, path + ".hosts");
                    break;
                case "children":
                    if (YamlNodes.IsNull(value))
                    {
                        break;
                    }

                    if (value is not YamlMappingNode children)
                    {
                        _problems.Add(_file.Problem(value, group.Name, $"'children' of group '{group.Name}' must be a mapping of group names, found {YamlNodes.Describe(value)}",
                            "write children as 'children: { pg-test: {...} }'"));
                        break;
                    }

                    foreach (var (childKey, childBody) in YamlNodes.Entries(children))
                    {
                        var childName = childKey.Value ?? "";
                        ReadGroup(childName, childKey, childBody, group, path + ".children." + childName, nesting + 1);
                    }

                    break;
                default:
                    _problems.Add(_file.Problem(key, group.Name, $"unexpected key '{key.Value}' in group '{group.Name}' (Ansible ignores it)",
                        "a group holds only 'hosts', 'vars' and 'children'; move it under 'vars' if it is a variable", ProblemSeverity.Warning));
                    break;
            }
        }
    }

    private void ReadVars(Dictionary<string, VarEntry> target, YamlNode node, string scope, string path, VarLevel level)
    {
        if (YamlNodes.IsNull(node))
        {
            return;
        }

        if (node is not YamlMappingNode mapping)
        {
            _problems.Add(_file.Problem(node, scope, $"'vars' must be a mapping of variable names, found {YamlNodes.Describe(node)}", "write vars as 'vars: { name: value }'"));
            return;
        }

        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var name = key.Value ?? "";
            target[name] = new VarEntry(name, key, value, scope, path + "." + name, level);
        }
    }

    private void ReadHosts(InventoryGroup group, YamlNode node, string path)
    {
        if (YamlNodes.IsNull(node))
        {
            return;
        }

        if (node is not YamlMappingNode mapping)
        {
            _problems.Add(_file.Problem(node, group.Name, $"'hosts' of group '{group.Name}' must be a mapping of host to vars, found {YamlNodes.Describe(node)}",
                "write hosts as 'hosts: { 10.10.10.11: { pg_seq: 1, pg_role: primary } }'"));
            return;
        }

        foreach (var (key, value) in YamlNodes.Entries(mapping))
        {
            var pattern = key.Value ?? "";
            foreach (var hostName in ExpandHostPattern(pattern))
            {
                var listing = new HostListing(group, hostName, key);
                ReadVars(listing.Vars, value, "host " + hostName, path + "." + pattern, VarLevel.Host);
                group.Listings.Add(listing);
                if (!Hosts.TryGetValue(hostName, out var host))
                {
                    host = new InventoryHost(hostName, this);
                    Hosts[hostName] = host;
                }

                host.Listings.Add(listing);
                foreach (var (name, entry) in listing.Vars)
                {
                    host.HostVars[name] = entry;
                }
            }
        }
    }

    /// <summary>Expands Ansible host ranges: <c>10.10.10.[11:13]</c>, <c>db-[a:c]</c>, <c>node[01:10:2]</c>.</summary>
    internal static IEnumerable<string> ExpandHostPattern(string pattern)
    {
        var match = RangePattern().Match(pattern);
        if (!match.Success)
        {
            yield return pattern;
            yield break;
        }

        var prefix = pattern[..match.Index];
        var suffix = pattern[(match.Index + match.Length)..];
        var from = match.Groups["from"].Value;
        var to = match.Groups["to"].Value;
        var step = match.Groups["step"].Success ? int.Parse(match.Groups["step"].Value, CultureInfo.InvariantCulture) : 1;
        step = Math.Max(step, 1);
        IEnumerable<string> items;
        if (int.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var a)
            && int.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out var b))
        {
            var width = from.Length > 1 && from.StartsWith('0') ? from.Length : 0;
            items = Enumerable.Range(0, Math.Max(0, ((b - a) / step) + 1)).Select(i => (a + (i * step)).ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
        }
        else if (from.Length == 1 && to.Length == 1 && char.IsAsciiLetter(from[0]) && char.IsAsciiLetter(to[0]))
        {
            items = Enumerable.Range(0, Math.Max(0, ((to[0] - from[0]) / step) + 1)).Select(i => ((char)(from[0] + (i * step))).ToString());
        }
        else
        {
            yield return pattern;
            yield break;
        }

        foreach (var item in items)
        {
            foreach (var rest in ExpandHostPattern(suffix))
            {
                yield return prefix + item + rest;
            }
        }
    }

    [GeneratedRegex(@"\[(?<from>[0-9]+|[a-zA-Z]):(?<to>[0-9]+|[a-zA-Z])(?::(?<step>[0-9]+))?\]")]
    private static partial Regex RangePattern();
}
