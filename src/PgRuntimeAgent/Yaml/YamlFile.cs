using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Yaml;

/// <summary>
/// A YAML file read with YamlDotNet's representation model, so every node keeps its line and column. Syntax errors
/// become <see cref="YamlProblem"/>s with the location the parser stopped at, never exceptions. Every read goes
/// through <see cref="YamlLimits"/> (nesting depth, alias expansion, size), so recursive walks over the nodes are bounded.
/// The one reader of the YAML pgra takes in: inventory, settings, and a skill's front matter and steps block (YAML
/// embedded in a markdown file, whose problems carry the markdown file's line numbers).
/// </summary>
internal sealed class YamlFile
{
    private YamlFile(string fullPath, string displayPath, YamlNode? root, int firstLine = 1)
    {
        FullPath = fullPath;
        DisplayPath = displayPath;
        Root = root;
        FirstLine = firstLine;
    }

    public string FullPath { get; }

    /// <summary>The path as problems and origins show it (relative to the working directory when below it).</summary>
    public string DisplayPath { get; }

    /// <summary>The first document's root node; null when the file is empty or does not parse.</summary>
    public YamlNode? Root { get; }

    /// <summary>The line of the enclosing file the YAML text starts on (1 for a file of its own); nodes keep their
    /// positions in the YAML text, problems and <see cref="Where(YamlNode)"/> give lines of the enclosing file.</summary>
    public int FirstLine { get; }

    public static string Display(string fullPath)
    {
        var cwd = Directory.GetCurrentDirectory();
        var relative = Path.GetRelativePath(cwd, fullPath);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? fullPath : relative;
    }

    public static YamlFile Load(string fullPath, ICollection<YamlProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var display = Display(fullPath);
        string text;
        try
        {
            if (YamlLimits.ReadBounded(fullPath, out var read) is not { } bounded)
            {
                problems.Add(new YamlProblem(display, 1, 1, null, YamlLimits.TooLargeMessage(read), "point pgra at the YAML file itself (inventory, settings), not at a log, dump or device"));
                return new YamlFile(fullPath, display, null);
            }

            text = bounded;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add(new YamlProblem(display, 0, 0, null, $"cannot read the file ({ex.GetType().Name}: {ex.Message})", "check the path and its permissions"));
            return new YamlFile(fullPath, display, null);
        }

        return Parse(text, fullPath, display, problems);
    }

    /// <summary>
    /// Parses YAML text. <paramref name="firstLine"/> is the line of the enclosing file the text starts on, at its
    /// first column (a markdown file's front matter or fenced block); the problems reported count lines from there.
    /// </summary>
    public static YamlFile Parse(string text, string fullPath, string displayPath, ICollection<YamlProblem> problems, int firstLine = 1)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstLine, 1);
        var file = Parse(text, fullPath, displayPath, new Shifted(problems, firstLine - 1));
        return file.Root is null ? file : new YamlFile(fullPath, displayPath, file.Root, firstLine);
    }

    private static YamlFile Parse(string text, string fullPath, string displayPath, Shifted problems)
    {
        YamlStream stream;
        try
        {
            stream = YamlLimits.Load(text);
        }
        catch (YamlException ex) when (YamlLimits.Exceeded(ex) is { } limit)
        {
            problems.Add(new YamlProblem(displayPath, limit.Start.Line, limit.Start.Column, null, limit.Reason,
                "see docs/inventory.md, 'Limits on input': flatten the structure or replace aliases by the values they stand for"));
            return new YamlFile(fullPath, displayPath, null);
        }
        catch (YamlException ex)
        {
            problems.Add(new YamlProblem(displayPath, ex.Start.Line, ex.Start.Column, null, "YAML syntax error: " + Clean(ex.Message), SyntaxHint(ex.Message)));
            return new YamlFile(fullPath, displayPath, null);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet gives up without a mark on some unterminated flow collections, and on some broken event
            // streams with ArgumentException ("the current event is of an unsupported type"); find where the events stop.
            var mark = LastGoodMark(text);
            problems.Add(new YamlProblem(displayPath, mark.Line, mark.Column, null, "YAML syntax error: the parser cannot continue after this point",
                "look for an unclosed '[' or '{', or a quote that is never closed"));
            return new YamlFile(fullPath, displayPath, null);
        }

        if (stream.Documents.Count == 0)
        {
            return new YamlFile(fullPath, displayPath, null);
        }

        if (stream.Documents.Count > 1)
        {
            var second = stream.Documents[1].RootNode;
            problems.Add(new YamlProblem(displayPath, second.Start.Line, second.Start.Column, null,
                $"the file holds {stream.Documents.Count.ToString(CultureInfo.InvariantCulture)} YAML documents; only the first is read",
                "remove the extra '---' separators", ProblemSeverity.Warning));
        }

        return new YamlFile(fullPath, displayPath, stream.Documents[0].RootNode);
    }

    public string Where(YamlNode node) => $"{DisplayPath}:{Line(node)}:{node.Start.Column}";

    public string WhereLine(YamlNode node) => $"{DisplayPath}:{Line(node)}";

    public YamlProblem Problem(YamlNode? node, string? subject, string message, string? hint, ProblemSeverity severity = ProblemSeverity.Error) =>
        node is null
            ? new YamlProblem(DisplayPath, 0, 0, subject, message, hint, severity)
            : new YamlProblem(DisplayPath, Line(node), node.Start.Column, subject, message, hint, severity);

    private long Line(YamlNode node) => node.Start.Line + FirstLine - 1;

    private static string Clean(string message) => message.TrimEnd('.', ' ');

    private static string SyntaxHint(string message)
    {
        if (message.StartsWith("Duplicate key", StringComparison.Ordinal))
        {
            return "a key may appear once per mapping (Ansible would silently keep the last one); remove or merge the duplicate";
        }

        if (message.Contains("anchor", StringComparison.OrdinalIgnoreCase))
        {
            return "define the anchor (&name) before the alias (*name) that uses it";
        }

        if (message.Contains("tag", StringComparison.OrdinalIgnoreCase))
        {
            return "YAML reads a value starting with '!' as a tag: put a value like !contains(...) in double quotes";
        }

        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            return "indent with spaces, not tabs";
        }

        return "check the indentation and quoting on this line and the one before it";
    }

    /// <summary>Adds problems found in embedded YAML text with the enclosing file's line numbers.</summary>
    private sealed class Shifted(ICollection<YamlProblem> inner, int lines)
    {
        public void Add(YamlProblem problem) => inner.Add(problem.Line > 0 ? problem with { Line = problem.Line + lines } : problem);
    }

    private static Mark LastGoodMark(string text)
    {
        var parser = new Parser(new StringReader(text));
        var mark = new Mark(0, 1, 1);
        try
        {
            while (parser.MoveNext())
            {
                if (parser.Current is ParsingEvent e)
                {
                    mark = e.End;
                }
            }
        }
        catch (Exception ex) when (ex is YamlException or InvalidOperationException or ArgumentException)
        {
            // Expected: this is how we found the place it stops.
        }

        return mark;
    }
}

/// <summary>Reading helpers over the representation model (Ansible semantics: merge keys, null scalars, tags).</summary>
internal static class YamlNodes
{
    public const string MergeKey = "<<";

    /// <summary>A mapping's entries with scalar keys, with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied: explicit keys win.</summary>
    public static IEnumerable<KeyValuePair<YamlScalarNode, YamlNode>> Entries(YamlMappingNode mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        var hasMerge = false;
        foreach (var pair in mapping.Children)
        {
            if (pair.Key is YamlScalarNode { Value: MergeKey } k && k.Style == ScalarStyle.Plain)
            {
                hasMerge = true;
                continue;
            }

            if (pair.Key is YamlScalarNode key)
            {
                yield return new KeyValuePair<YamlScalarNode, YamlNode>(key, pair.Value);
            }
        }

        if (!hasMerge)
        {
            yield break;
        }

        var explicitKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pair in mapping.Children)
        {
            if (pair.Key is YamlScalarNode { Value: not MergeKey } key && key.Value is not null)
            {
                explicitKeys.Add(key.Value);
            }
        }

        foreach (var merged in MergedSources(mapping))
        {
            foreach (var pair in Entries(merged))
            {
                if (pair.Key.Value is { } name && explicitKeys.Add(name))
                {
                    yield return pair;
                }
            }
        }
    }

    public static YamlNode? Get(YamlMappingNode mapping, string key)
    {
        foreach (var pair in Entries(mapping))
        {
            if (string.Equals(pair.Key.Value, key, StringComparison.Ordinal))
            {
                return pair.Value;
            }
        }

        return null;
    }

    public static KeyValuePair<YamlScalarNode, YamlNode>? GetEntry(YamlMappingNode mapping, string key)
    {
        foreach (var pair in Entries(mapping))
        {
            if (string.Equals(pair.Key.Value, key, StringComparison.Ordinal))
            {
                return pair;
            }
        }

        return null;
    }

    /// <summary>True for an empty value, <c>~</c> or a plain <c>null</c>.</summary>
    public static bool IsNull(YamlNode? node) =>
        node is null
        || (node is YamlScalarNode s && s.Tag.IsEmpty && s.Style == ScalarStyle.Plain
            && (string.IsNullOrEmpty(s.Value) || s.Value is "~" or "null" or "Null" or "NULL"));

    /// <summary>The text of a scalar (null for null scalars and for collections).</summary>
    public static string? Text(YamlNode? node) => node is YamlScalarNode s && !IsNull(node) ? s.Value : null;

    public static bool HasTag(YamlNode node, string tag) => !node.Tag.IsEmpty && string.Equals(node.Tag.Value, tag, StringComparison.Ordinal);

    /// <summary>Ansible-vault encrypted value (<c>!vault |</c>): the agent cannot read it.</summary>
    public static bool IsVault(YamlNode node) => HasTag(node, "!vault");

    /// <summary>Ansible <c>!unsafe</c> string: taken literally, never templated.</summary>
    public static bool IsUnsafe(YamlNode node) => HasTag(node, "!unsafe");

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "empty",
        _ => "a scalar",
    };

    private static IEnumerable<YamlMappingNode> MergedSources(YamlMappingNode mapping)
    {
        foreach (var pair in mapping.Children)
        {
            if (pair.Key is not YamlScalarNode { Value: MergeKey })
            {
                continue;
            }

            switch (pair.Value)
            {
                case YamlMappingNode m:
                    yield return m;
                    break;
                case YamlSequenceNode seq:
                    foreach (var item in seq.Children.OfType<YamlMappingNode>())
                    {
                        yield return item;
                    }

                    break;
            }
        }
    }
}
