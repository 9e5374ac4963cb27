using System.Globalization;
using System.Text;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>One mutated input: its bytes and how it was made (enough to make it again: seed file, case seed, steps).</summary>
internal sealed record Mutant(string Seed, int CaseSeed, byte[] Bytes, IReadOnlyList<string> Steps)
{
    public string Describe() => $"{Seed} case {CaseSeed.ToString(CultureInfo.InvariantCulture)}: {string.Join(" + ", Steps)}";
}

/// <summary>
/// Deterministic, seeded mutations of real inputs: what a broken editor, a bad merge, a truncated copy or a hostile
/// author makes of an inventory, a settings file or a skill. The same (seed file, case seed) always gives the same
/// bytes, so a failure names the case and can be made again. Nesting and alias chains stay moderate here (the in-process
/// tests must not kill their own process); the extreme ones are in <see cref="ChildProcessTests"/>.
/// </summary>
internal static class Mutator
{
    /// <summary>Deepest nesting an in-process mutation inserts.</summary>
    public const int MaxInProcessDepth = 200;

    /// <summary>Longest (linear) merge-key chain an in-process mutation inserts.</summary>
    public const int MaxInProcessChain = 40;

    /// <summary>Longest chain of doubling alias lists an in-process mutation inserts (2^12 nodes when expanded).</summary>
    public const int MaxInProcessDoubling = 12;

    private static readonly Func<Random, List<byte>, string>[] Operators =
    [
        ByteFlips,
        DeleteLines,
        DuplicateLines,
        Truncate,
        ShiftIndentation,
        DeepNesting,
        MergeChain,
        HugeScalar,
        NonUtf8,
        Bom,
        LineEndings,
        YamlOddities,
    ];

    public static IEnumerable<Mutant> Mutants(IReadOnlyList<(string Name, byte[] Bytes)> seeds, int count, int baseSeed)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        for (var i = 0; i < count; i++)
        {
            var caseSeed = unchecked(baseSeed * 7919 + i);
            var (name, bytes) = seeds[i % seeds.Count];
            yield return Mutate(name, bytes, caseSeed);
        }
    }

    public static Mutant Mutate(string seedName, byte[] seed, int caseSeed)
    {
        ArgumentNullException.ThrowIfNull(seed);
        var random = new Random(caseSeed);
        var bytes = new List<byte>(seed);
        var steps = new List<string>();
        var n = 1 + random.Next(3);
        for (var k = 0; k < n; k++)
        {
            steps.Add(Operators[random.Next(Operators.Length)](random, bytes));
        }

        return new Mutant(seedName, caseSeed, bytes.ToArray(), steps);
    }

    // ------------------------------------------------------------------ operators

    private static string ByteFlips(Random r, List<byte> b)
    {
        if (b.Count == 0)
        {
            return "byte-flip (empty)";
        }

        var n = 1 + r.Next(8);
        for (var i = 0; i < n; i++)
        {
            var at = r.Next(b.Count);
            b[at] = r.Next(3) switch
            {
                0 => (byte)(b[at] ^ (1 << r.Next(8))),
                1 => (byte)r.Next(256),
                _ => (byte)"\0\t\n\r :{}[],&*!|>'\"%@`#-?<"[r.Next(25)],
            };
        }

        return $"byte-flip x{n.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string DeleteLines(Random r, List<byte> b)
    {
        var lines = Lines(b);
        if (lines.Count < 2)
        {
            return "delete-lines (none)";
        }

        var start = r.Next(lines.Count);
        var count = Math.Min(1 + r.Next(3), lines.Count - start);
        lines.RemoveRange(start, count);
        Set(b, lines);
        return $"delete {count.ToString(CultureInfo.InvariantCulture)} line(s) at {(start + 1).ToString(CultureInfo.InvariantCulture)}";
    }

    private static string DuplicateLines(Random r, List<byte> b)
    {
        var lines = Lines(b);
        if (lines.Count == 0)
        {
            return "duplicate-lines (none)";
        }

        var start = r.Next(lines.Count);
        var count = Math.Min(1 + r.Next(5), lines.Count - start);
        var copy = lines.GetRange(start, count);
        var to = r.Next(2) == 0 ? start + count : r.Next(lines.Count + 1);
        lines.InsertRange(to, copy);
        Set(b, lines);
        return $"duplicate {count.ToString(CultureInfo.InvariantCulture)} line(s) from {(start + 1).ToString(CultureInfo.InvariantCulture)} to {(to + 1).ToString(CultureInfo.InvariantCulture)}";
    }

    private static string Truncate(Random r, List<byte> b)
    {
        var at = b.Count == 0 ? 0 : r.Next(b.Count);
        b.RemoveRange(at, b.Count - at);
        return $"truncate at byte {at.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string ShiftIndentation(Random r, List<byte> b)
    {
        var lines = Lines(b);
        if (lines.Count == 0)
        {
            return "indent (none)";
        }

        var start = r.Next(lines.Count);
        var count = Math.Min(1 + r.Next(8), lines.Count - start);
        var shift = r.Next(5) switch
        {
            0 => "\t",
            1 => " ",
            2 => "   ",
            3 => "-",
            _ => "",
        };
        for (var i = start; i < start + count; i++)
        {
            if (shift.Length == 0)
            {
                var line = lines[i];
                var cut = 0;
                while (cut < line.Length && cut < 2 && line[cut] == (byte)' ')
                {
                    cut++;
                }

                lines[i] = line[cut..];
            }
            else
            {
                lines[i] = [.. Encoding.UTF8.GetBytes(shift), .. lines[i]];
            }
        }

        Set(b, lines);
        return $"indent {count.ToString(CultureInfo.InvariantCulture)} line(s) at {(start + 1).ToString(CultureInfo.InvariantCulture)} by '{(shift.Length == 0 ? "-2" : shift.Replace("\t", "\\t", StringComparison.Ordinal))}'";
    }

    private static string DeepNesting(Random r, List<byte> b)
    {
        var depth = 10 + r.Next(MaxInProcessDepth - 10 + 1);
        var kind = r.Next(4);
        var (indent, at) = InsertionPoint(r, b);
        var pad = new string(' ', indent);
        var text = kind switch
        {
            0 => $"{pad}deep_list: {new string('[', depth)}x{new string(']', depth)}\n",
            1 => $"{pad}deep_map: {string.Concat(Enumerable.Repeat("{a: ", depth))}x{new string('}', depth)}\n",
            2 => BlockNesting(pad, depth),
            _ => $"{pad}deep_open: {new string('[', depth)}\n", // never closed
        };
        Insert(b, at, text);
        var name = kind switch { 0 => "flow-list", 1 => "flow-map", 2 => "block-map", _ => "unclosed-flow" };
        return $"deep {name} nesting depth {depth.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string BlockNesting(string pad, int depth)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            sb.Append(pad).Append(' ', i).Append("n:\n");
        }

        sb.Append(pad).Append(' ', depth).Append("x\n");
        return sb.ToString();
    }

    private static string MergeChain(Random r, List<byte> b)
    {
        var kind = r.Next(4);
        // A list of two aliases of the level below doubles per level: 2^length nodes for any reader that walks it as a
        // tree. Kept at 12 here (4,096); the exponential bombs run in a child process (ChildProcessTests).
        var length = 2 + r.Next((kind == 1 ? MaxInProcessDoubling : MaxInProcessChain) - 1);
        var (indent, at) = InsertionPoint(r, b);
        var pad = new string(' ', indent);
        var sb = new StringBuilder();
        sb.Append(pad).Append("chain_0: &chain_0 { k0: v0, patroni_port: 8008 }\n");
        for (var i = 1; i < length; i++)
        {
            var s = i.ToString(CultureInfo.InvariantCulture);
            var prev = (i - 1).ToString(CultureInfo.InvariantCulture);
            sb.Append(pad).Append(kind switch
            {
                0 => $"chain_{s}: &chain_{s} {{ <<: *chain_{prev}, k{s}: v{s} }}\n",
                1 => $"chain_{s}: &chain_{s} [ *chain_{prev}, *chain_{prev} ]\n",       // shared, not expanded by YAML
                2 => $"chain_{s}: &chain_{s} {{ <<: [ *chain_{prev} ], k{s}: v{s} }}\n",
                _ => $"chain_{s}: *chain_{prev}\n",
            });
        }

        if (r.Next(3) == 0)
        {
            sb.Append(pad).Append("<<: *chain_").Append((length - 1).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Insert(b, at, sb.ToString());
        var name = kind switch { 0 => "merge-key", 1 => "alias-list", 2 => "merge-list", _ => "alias" };
        return $"{name} chain of {length.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string HugeScalar(Random r, List<byte> b)
    {
        var size = r.Next(6) switch { 0 or 1 or 2 => 4096 + r.Next(4096), 3 or 4 => 65536 + r.Next(65536), _ => 1 << 20 };
        var fill = (char)('a' + r.Next(26));
        var body = new string(fill, size);
        var lines = Lines(b);
        var where = "appended";
        var style = r.Next(3);
        var scalar = style switch { 0 => body, 1 => "\"" + body + "\"", _ => "'" + body };
        for (var tries = 0; tries < 20 && lines.Count > 0; tries++)
        {
            var i = r.Next(lines.Count);
            var text = Encoding.UTF8.GetString(lines[i]);
            var colon = text.IndexOf(": ", StringComparison.Ordinal);
            if (colon > 0)
            {
                lines[i] = Encoding.UTF8.GetBytes(text[..(colon + 2)] + scalar);
                Set(b, lines);
                where = $"value at line {(i + 1).ToString(CultureInfo.InvariantCulture)}";
                return $"huge scalar ({size.ToString(CultureInfo.InvariantCulture)} chars, style {style.ToString(CultureInfo.InvariantCulture)}) {where}";
            }
        }

        Insert(b, b.Count, "\nhuge_key_" + body + ": x\n");
        return $"huge key ({size.ToString(CultureInfo.InvariantCulture)} chars) {where}";
    }

    private static string NonUtf8(Random r, List<byte> b)
    {
        byte[][] bad =
        [
            [0xFF],
            [0xFE, 0xFF],
            [0xC3, 0x28],
            [0x80],
            [0xC0, 0xAF],
            [0xED, 0xA0, 0x80],
            [0xF4, 0x90, 0x80, 0x80],
            [0x00],
            [0xE2, 0x80, 0xA8], // U+2028 LINE SEPARATOR (valid UTF-8, odd for YAML)
        ];
        var n = 1 + r.Next(4);
        for (var i = 0; i < n; i++)
        {
            var seq = bad[r.Next(bad.Length)];
            b.InsertRange(b.Count == 0 ? 0 : r.Next(b.Count + 1), seq);
        }

        return $"non-UTF-8 bytes x{n.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string Bom(Random r, List<byte> b)
    {
        switch (r.Next(4))
        {
            case 0:
                b.InsertRange(0, new byte[] { 0xEF, 0xBB, 0xBF });
                return "UTF-8 BOM";
            case 1:
                b.InsertRange(0, new byte[] { 0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF });
                return "two UTF-8 BOMs";
            case 2:
            {
                var text = Encoding.UTF8.GetString(b.ToArray());
                b.Clear();
                b.AddRange(Encoding.Unicode.GetPreamble());
                b.AddRange(Encoding.Unicode.GetBytes(text));
                return "UTF-16LE with BOM";
            }

            default:
                b.InsertRange(b.Count == 0 ? 0 : r.Next(b.Count), new byte[] { 0xEF, 0xBB, 0xBF });
                return "UTF-8 BOM mid-file";
        }
    }

    private static string LineEndings(Random r, List<byte> b)
    {
        var text = Encoding.UTF8.GetString(b.ToArray());
        var (result, name) = r.Next(3) switch
        {
            0 => (text.Replace("\n", "\r\n", StringComparison.Ordinal), "CRLF"),
            1 => (text.Replace("\n", "\r", StringComparison.Ordinal), "CR only"),
            _ => (string.Concat(text.Split('\n').Select((l, i) => i % 2 == 0 ? l + "\r\n" : l + "\n")), "mixed CRLF/LF"),
        };
        b.Clear();
        b.AddRange(Encoding.UTF8.GetBytes(result));
        return name;
    }

    private static string YamlOddities(Random r, List<byte> b)
    {
        string[] odd =
        [
            "---\n",
            "...\n",
            "%YAML 1.1\n---\n",
            "x: !!python/object:os.system [\"true\"]\n",
            "x: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
            "? [a, b]\n: complex key\n",
            "x: *undefined_anchor\n",
            "x: &dup 1\ny: &dup 2\n",
            "x: \"unterminated\n",
            "x: |\n\tindented with a tab\n",
            "<<: not-a-mapping\n",
            "x: 99999999999999999999999999999\n",
        ];
        var (indent, at) = InsertionPoint(r, b);
        var pick = odd[r.Next(odd.Length)];
        var pad = new string(' ', indent);
        Insert(b, at, string.Concat(pick.Split('\n').Where(l => l.Length > 0).Select(l => pad + l + "\n")));
        return $"YAML oddity '{pick.Split('\n')[0]}'";
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Somewhere a mapping entry could go: after a line that opens a block (ends with ':'), one level deeper.</summary>
    private static (int Indent, int Offset) InsertionPoint(Random r, List<byte> b)
    {
        var lines = Lines(b);
        var candidates = new List<(int Indent, int LineIndex)>();
        for (var i = 0; i < lines.Count; i++)
        {
            var text = Encoding.UTF8.GetString(lines[i]).TrimEnd('\r');
            var code = text.Split(" #", 2)[0].TrimEnd();
            if (code.EndsWith(':') && !code.TrimStart().StartsWith('#') && !code.TrimStart().StartsWith('-'))
            {
                candidates.Add((text.Length - text.TrimStart(' ').Length + 2, i + 1));
            }
        }

        if (candidates.Count == 0 || r.Next(5) == 0)
        {
            var line = lines.Count == 0 ? 0 : r.Next(lines.Count + 1);
            return (r.Next(3) * 2, OffsetOfLine(lines, line));
        }

        var (indent, index) = candidates[r.Next(candidates.Count)];
        return (indent, OffsetOfLine(lines, index));
    }

    private static int OffsetOfLine(List<byte[]> lines, int index)
    {
        var offset = 0;
        for (var i = 0; i < index && i < lines.Count; i++)
        {
            offset += lines[i].Length + 1;
        }

        return offset;
    }

    private static void Insert(List<byte> b, int at, string text) =>
        b.InsertRange(Math.Min(at, b.Count), Encoding.UTF8.GetBytes(text));

    private static List<byte[]> Lines(List<byte> b)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < b.Count; i++)
        {
            if (b[i] == (byte)'\n')
            {
                lines.Add(b.GetRange(start, i - start).ToArray());
                start = i + 1;
            }
        }

        if (start < b.Count)
        {
            lines.Add(b.GetRange(start, b.Count - start).ToArray());
        }

        return lines;
    }

    private static void Set(List<byte> b, List<byte[]> lines)
    {
        b.Clear();
        foreach (var line in lines)
        {
            b.AddRange(line);
            b.Add((byte)'\n');
        }
    }
}
