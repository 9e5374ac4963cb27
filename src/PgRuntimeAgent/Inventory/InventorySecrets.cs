using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Yaml;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Moves every secret in an inventory into the <see cref="SecretStore"/> (origin <c>file:line (yaml.path)</c>) and
/// remembers which value node each reference came from, so the model can point at the same reference.
/// </summary>
internal sealed class InventorySecrets
{
    private readonly Dictionary<YamlNode, SecretRef> _byNode = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<YamlNode> _vaulted = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<YamlNode> _visited = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, YamlScalarNode> _names = new(StringComparer.Ordinal);
    private readonly List<(YamlScalarNode Node, string Key, string Value, string Path)> _added = [];
    private readonly List<NamedSecret> _named = [];
    private readonly YamlFile _file;
    private readonly SecretStore _store;

    private InventorySecrets(YamlFile file, SecretStore store)
    {
        _file = file;
        _store = store;
    }

    public SecretStore Store => _store;

    /// <param name="file">The inventory.</param>
    /// <param name="store">Where the secrets go.</param>
    /// <param name="groupNames">The key nodes that name groups: names too, kept readable like user and database names
    /// (the list of ignored groups and every message print them).</param>
    public static InventorySecrets Scan(YamlFile file, SecretStore store, IEnumerable<YamlScalarNode>? groupNames = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(store);
        var scanner = new InventorySecrets(file, store);
        foreach (var name in groupNames ?? [])
        {
            if (!string.IsNullOrEmpty(name.Value))
            {
                scanner._names.TryAdd(name.Value, name);
            }
        }

        if (file.Root is not null)
        {
            scanner.Walk(file.Root, "", secretKey: null);
            scanner.KeepNamesReadable();
        }

        return scanner;
    }

    /// <summary>
    /// Secrets whose text is also a name in the inventory (Pigsty's sample user <c>test</c> has the password
    /// <c>test</c>, and its database is <c>test</c>). Masking such a value would also mask the name in every output
    /// (a journaled action on database <c>test</c> could not be read back), so they are kept out of text redaction
    /// and the inventory check warns about each one.
    /// </summary>
    public IReadOnlyList<NamedSecret> NamedSecrets => _named;

    private void KeepNamesReadable()
    {
        foreach (var (node, key, value, path) in _added)
        {
            if (_names.TryGetValue(value, out var name))
            {
                _byNode[node] = _store.Add(key, value, $"{_file.WhereLine(node)} ({path})", scrubFromText: false);
                _named.Add(new NamedSecret(node, path, name));
            }
        }
    }

    /// <summary>The reference for a value node that holds a secret (null when the node is not one).</summary>
    public SecretRef? For(YamlNode node) => _byNode.GetValueOrDefault(node);

    /// <summary>True when the node is an Ansible-vault encrypted value the agent cannot read.</summary>
    public bool IsVaulted(YamlNode node) => _vaulted.Contains(node);

    /// <summary>Stores a derived secret (a value after placeholder expansion) next to the one it came from.</summary>
    public SecretRef AddDerived(string key, string value, YamlNode from, string path) =>
        _store.Add("inventory:" + key, value, $"{_file.WhereLine(from)} ({path}, expanded)");

    /// <summary>A YAML path built only when a secret is found (most nodes never need theirs).</summary>
    private sealed record PathNode(PathNode? Parent, string? Name, int Index)
    {
        public override string ToString()
        {
            var parts = new Stack<PathNode>();
            for (var p = this; p is not null && (p.Name is not null || p.Index >= 0); p = p.Parent)
            {
                parts.Push(p);
            }

            var sb = new System.Text.StringBuilder();
            foreach (var p in parts)
            {
                if (p.Name is not null)
                {
                    sb.Append(sb.Length == 0 ? "" : ".").Append(p.Name);
                }
                else
                {
                    sb.Append('[').Append(p.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(']');
                }
            }

            return sb.ToString();
        }
    }

    private void Walk(YamlNode node, string path, string? secretKey) => Walk(node, new PathNode(null, path.Length == 0 ? null : path, -1), secretKey, 0);

    private void Walk(YamlNode node, PathNode path, string? secretKey, int depth)
    {
        // YamlLimits already refused documents nested deeper than MaxDepth (aliases included); this guard keeps the
        // recursion bounded even for nodes built some other way.
        if (depth > YamlLimits.MaxDepth || !_visited.Add(node))
        {
            return; // an alias of a node already seen: same secret, same origin
        }

        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in YamlNodes.Entries(mapping))
                {
                    var name = key.Value ?? "";
                    if (value is YamlScalarNode named && SecretNames.IsNameKey(name) && !string.IsNullOrEmpty(named.Value))
                    {
                        _names.TryAdd(named.Value, named);
                    }

                    if (value is YamlScalarNode s && !SecretNames.IsSecretKey(name) && !SecretNames.MayEmbedSecret(s.Value))
                    {
                        continue; // the common case: a plain value under a plain key
                    }

                    var child = new PathNode(path, name, -1);
                    if (SecretNames.IsPasswordMapKey(name) && value is YamlMappingNode users)
                    {
                        foreach (var (user, password) in YamlNodes.Entries(users))
                        {
                            AddSecret(password, new PathNode(child, user.Value ?? "", -1), name, depth + 1);
                        }

                        continue;
                    }

                    Walk(value, child, SecretNames.IsSecretKey(name) ? name : null, depth + 1);
                }

                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Walk(sequence.Children[i], new PathNode(path, null, i), null, depth + 1);
                }

                break;
            case YamlScalarNode scalar:
                if (secretKey is not null)
                {
                    AddSecret(scalar, path, secretKey, depth);
                }
                else if (SecretNames.MayEmbedSecret(scalar.Value))
                {
                    var n = 0;
                    var text = path.ToString();
                    foreach (var embedded in SecretNames.EmbeddedSecrets(scalar.Value))
                    {
                        _store.Add($"inventory:{text}#{++n}", embedded, $"{_file.WhereLine(scalar)} ({text}, inside the value)");
                    }
                }

                break;
        }
    }

    private void AddSecret(YamlNode node, PathNode pathNode, string keyName, int depth)
    {
        if (node is not YamlScalarNode scalar)
        {
            _visited.Remove(node);
            Walk(node, pathNode, null, depth);
            return;
        }

        var path = pathNode.ToString();

        _visited.Add(node);
        if (YamlNodes.IsVault(scalar))
        {
            _vaulted.Add(scalar);
            return;
        }

        var value = YamlNodes.Text(scalar);
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        _byNode[scalar] = _store.Add("inventory:" + path, value, $"{_file.WhereLine(scalar)} ({path})", scrubFromText: !SecretNames.IsIdentifierKey(keyName));
        _added.Add((scalar, "inventory:" + path, value, path));
    }
}

/// <summary>A secret whose text is also a name (user, database, cluster) elsewhere in the inventory.</summary>
internal sealed record NamedSecret(YamlScalarNode Secret, string Path, YamlScalarNode Name);
