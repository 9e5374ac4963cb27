using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace PgRuntimeAgent.Yaml;

/// <summary>
/// Bounds on every YAML document pgra reads (inventory, settings, skill front matter and steps blocks), checked on
/// the parser's event stream before any node is built, so hostile input is a located error instead of a stack
/// overflow, a hang or an out-of-memory. Documented in docs/inventory.md ("Limits on input").
/// </summary>
internal static class YamlLimits
{
    /// <summary>Collections (mappings and lists) nested in one another, counting those an alias brings in.</summary>
    public const int MaxDepth = 64;

    /// <summary>Nodes that alias references add to a document once expanded (each <c>*name</c> counts its whole node).</summary>
    public const long MaxAliasNodes = 100_000;

    /// <summary>Characters in one YAML file (8 MiB); Pigsty's largest templates are about 40 KB.</summary>
    public const int MaxDocumentChars = 8 * 1024 * 1024;

    /// <summary>The size limit as text for messages.</summary>
    public static string MaxDocumentText => "8 MiB";

    /// <summary>
    /// Reads a YAML stream with the limits applied. Throws <see cref="YamlLimitException"/> (located) when a limit is
    /// passed and <see cref="YamlException"/> for syntax errors, as <see cref="YamlStream.Load(TextReader)"/> does.
    /// </summary>
    public static YamlStream Load(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxDocumentChars)
        {
            throw new YamlLimitException(Mark.Empty, Mark.Empty, TooLargeMessage(text.Length));
        }

        var stream = new YamlStream();
        stream.Load(new LimitedParser(new Parser(new StringReader(text))));
        return stream;
    }

    /// <summary>The limit an exception from <see cref="Load"/> reports (YamlDotNet may wrap it), or null for other errors.</summary>
    public static YamlLimitException? Exceeded(Exception ex) => ex as YamlLimitException ?? ex.InnerException as YamlLimitException;

    public static string TooLargeMessage(long size) =>
        $"the document is larger than {MaxDocumentText} ({size.ToString(CultureInfo.InvariantCulture)} characters or more); pgra refuses YAML files that large";

    /// <summary>
    /// Reads a text file up to <see cref="MaxDocumentChars"/> characters without reading past it (a device like
    /// /dev/zero never ends). Returns null and the size read so far when the file is larger.
    /// </summary>
    public static string? ReadBounded(string path, out long charsRead)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var buffer = new char[81920];
        var sb = new StringBuilder();
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            sb.Append(buffer, 0, n);
            if (sb.Length > MaxDocumentChars)
            {
                charsRead = sb.Length;
                return null;
            }
        }

        charsRead = sb.Length;
        return sb.ToString();
    }

    /// <summary>
    /// Passes parser events through and tracks, per open collection, how many nodes it expands to and how deep it
    /// is, so an alias is charged for everything it stands for (billion laughs, long merge-key chains).
    /// </summary>
    private sealed class LimitedParser(IParser inner) : IParser
    {
        private readonly Stack<Frame> _open = new();
        private readonly Dictionary<string, (long Size, int Height)> _anchors = new(StringComparer.Ordinal);
        private readonly HashSet<string> _openAnchors = new(StringComparer.Ordinal);
        private long _aliasNodes;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
            {
                return false;
            }

            switch (inner.Current)
            {
                case DocumentStart:
                    _anchors.Clear();
                    _openAnchors.Clear();
                    _open.Clear();
                    break;
                case MappingStart or SequenceStart:
                    var start = (NodeEvent)inner.Current;
                    if (_open.Count + 1 > MaxDepth)
                    {
                        throw new YamlLimitException(start.Start, start.End, DepthMessage(null));
                    }

                    var anchor = start.Anchor.IsEmpty ? null : start.Anchor.Value;
                    if (anchor is not null)
                    {
                        _openAnchors.Add(anchor);
                    }

                    _open.Push(new Frame(anchor));
                    break;
                case MappingEnd or SequenceEnd:
                    if (_open.Count > 0)
                    {
                        var frame = _open.Pop();
                        if (frame.Anchor is not null)
                        {
                            _openAnchors.Remove(frame.Anchor);
                            _anchors[frame.Anchor] = (frame.Size, frame.Height);
                        }

                        AddChild(frame.Size, frame.Height);
                    }

                    break;
                case Scalar scalar:
                    if (!scalar.Anchor.IsEmpty)
                    {
                        _anchors[scalar.Anchor.Value] = (1, 0);
                    }

                    AddChild(1, 0);
                    break;
                case AnchorAlias alias:
                    Alias(alias);
                    break;
            }

            return true;
        }

        private void Alias(AnchorAlias alias)
        {
            var name = alias.Value.Value;
            if (_openAnchors.Contains(name))
            {
                throw new YamlLimitException(alias.Start, alias.End,
                    $"the alias *{name} refers to a node that contains it (a cycle); pgra does not read recursive YAML");
            }

            if (!_anchors.TryGetValue(name, out var target))
            {
                AddChild(1, 0); // undefined: the loader reports it with its location
                return;
            }

            if (_open.Count + target.Height > MaxDepth)
            {
                throw new YamlLimitException(alias.Start, alias.End, DepthMessage(name));
            }

            _aliasNodes = Math.Min(_aliasNodes + target.Size, MaxAliasNodes + 1);
            if (_aliasNodes > MaxAliasNodes)
            {
                throw new YamlLimitException(alias.Start, alias.End,
                    $"aliases expand to more than {MaxAliasNodes.ToString("N0", CultureInfo.InvariantCulture)} nodes (at *{name}); pgra refuses YAML that grows this much when its aliases are expanded");
            }

            AddChild(target.Size, target.Height);
        }

        private void AddChild(long size, int height)
        {
            if (_open.TryPeek(out var parent))
            {
                parent.Size += size; // bounded: direct nodes (at most the document's characters) plus MaxAliasNodes
                parent.Height = Math.Max(parent.Height, height + 1);
            }
        }

        private static string DepthMessage(string? alias) =>
            $"nesting deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels{(alias is null ? "" : $" (through the alias *{alias})")}";
    }

    private sealed class Frame(string? anchor)
    {
        public string? Anchor { get; } = anchor;

        /// <summary>Nodes in this collection once aliases are expanded (itself included).</summary>
        public long Size { get; set; } = 1;

        /// <summary>Collections from this one down to its deepest leaf (1 for a collection of scalars).</summary>
        public int Height { get; set; } = 1;
    }
}

/// <summary>A YAML document past one of the <see cref="YamlLimits"/>; the message names the limit.</summary>
internal sealed class YamlLimitException(Mark start, Mark end, string message) : YamlException(start, end, message)
{
    /// <summary>The message without the marks YamlDotNet puts in front of it.</summary>
    public string Reason { get; } = message;
}
