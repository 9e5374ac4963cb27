using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary>
/// Unified diffs (<c>diff -u</c> format, 3 context lines) of a text and a few edits of it, and a strict applier that
/// checks a diff against the current text the way <c>patch</c> does without fuzz: every context and removed line must
/// be exactly where the hunk says. Lines keep their own line ends (CRLF stays CRLF); a last line without a newline is
/// marked <c>\ No newline at end of file</c>.
/// </summary>
internal static partial class UnifiedDiff
{
    public const int Context = 3;

    private const string NoNewline = "\\ No newline at end of file";

    /// <summary>The diff of <paramref name="text"/> and <paramref name="text"/> with <paramref name="edits"/>, naming the file <c>a/NAME</c> and <c>b/NAME</c>.</summary>
    public static string Render(string text, IReadOnlyList<TextEdit> edits, string fileName, bool bom = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(edits);
        var name = Path.GetFileName(fileName);
        var lines = SplitLines(text);
        var starts = new int[lines.Count + 1];
        for (var i = 0; i < lines.Count; i++)
        {
            starts[i + 1] = starts[i] + lines[i].Length;
        }

        // Each edit touches a range of old lines [from, to) and replaces it with new lines; edits on the same or
        // adjacent lines are one change.
        var changes = new List<(int From, int To, List<TextEdit> Edits)>();
        foreach (var e in edits.OrderBy(e => e.Start))
        {
            int from, to;
            var pureLineInsert = e.Start == e.End && IsLineStart(starts, e.Start) && e.Text.EndsWith('\n');
            if (pureLineInsert)
            {
                from = to = LineAt(starts, lines.Count, e.Start);
            }
            else
            {
                from = LineAt(starts, lines.Count - 1, e.Start);
                to = LineAt(starts, lines.Count - 1, Math.Max(e.Start, e.End - 1)) + 1;
                to = Math.Min(Math.Max(to, from + 1), lines.Count);
                from = Math.Min(from, to);
            }

            if (changes.Count > 0 && from <= changes[^1].To)
            {
                var last = changes[^1];
                changes[^1] = (last.From, Math.Max(last.To, to), [.. last.Edits, e]);
            }
            else
            {
                changes.Add((from, to, [e]));
            }
        }

        var hunks = new List<(int From, int To, List<(int From, int To, List<string> New)> Parts)>();
        foreach (var (from, to, group) in changes)
        {
            var chunkStart = starts[from];
            var chunk = text[chunkStart..starts[to]];
            var local = group.Select(e => e with { Start = e.Start - chunkStart, End = e.End - chunkStart }).ToList();
            var replaced = SplitLines(InventoryPatcher.Apply(chunk, local));
            var hFrom = Math.Max(0, from - Context);
            var hTo = Math.Min(lines.Count, to + Context);
            if (hunks.Count > 0 && hFrom <= hunks[^1].To)
            {
                var last = hunks[^1];
                hunks[^1] = (last.From, hTo, [.. last.Parts, (from, to, replaced)]);
            }
            else
            {
                hunks.Add((hFrom, hTo, [(from, to, replaced)]));
            }
        }

        var sb = new StringBuilder();
        sb.Append("--- a/").Append(name).Append('\n');
        sb.Append("+++ b/").Append(name).Append('\n');
        var shift = 0; // new line number minus old line number before the current hunk
        foreach (var (hFrom, hTo, parts) in hunks)
        {
            var body = new StringBuilder();
            int oldCount = 0, newCount = 0;
            var at = hFrom;
            foreach (var (from, to, replaced) in parts)
            {
                for (; at < from; at++, oldCount++, newCount++)
                {
                    Line(body, ' ', lines[at], bom && at == 0);
                }

                for (var i = from; i < to; i++, oldCount++)
                {
                    Line(body, '-', lines[i], bom && i == 0);
                }

                for (var i = 0; i < replaced.Count; i++, newCount++)
                {
                    Line(body, '+', replaced[i], bom && from == 0 && i == 0);
                }

                at = to;
            }

            for (; at < hTo; at++, oldCount++, newCount++)
            {
                Line(body, ' ', lines[at], bom && at == 0);
            }

            var oldStart = oldCount == 0 ? hFrom : hFrom + 1;
            var newStart = newCount == 0 ? hFrom + shift : hFrom + shift + 1;
            sb.Append(CultureInfo.InvariantCulture, $"@@ -{Range(oldStart, oldCount)} +{Range(newStart, newCount)} @@\n");
            sb.Append(body);
            shift += newCount - oldCount;
        }

        return sb.ToString();
    }

    /// <summary>
    /// Applies <paramref name="diff"/> to <paramref name="text"/> strictly (no offset, no fuzz): the patched text, or
    /// null with the first place it does not fit.
    /// </summary>
    public static string? Apply(string text, string diff, out string? problem, bool bom = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(diff);
        problem = null;
        var lines = SplitLines(text);
        if (bom && lines.Count > 0)
        {
            lines[0] = "\uFEFF" + lines[0];
        }

        var output = new List<string>();
        var at = 0;
        var diffLines = SplitLines(diff);
        var i = 0;
        while (i < diffLines.Count && !diffLines[i].StartsWith("@@", StringComparison.Ordinal))
        {
            i++;
        }

        while (i < diffLines.Count)
        {
            var header = HunkHeader().Match(diffLines[i]);
            if (!header.Success)
            {
                problem = $"diff line {i + 1}: expected a hunk header, found '{diffLines[i].TrimEnd()}'";
                return null;
            }

            var oldStart = int.Parse(header.Groups["os"].Value, CultureInfo.InvariantCulture);
            var oldCount = header.Groups["oc"].Success ? int.Parse(header.Groups["oc"].Value, CultureInfo.InvariantCulture) : 1;
            var from = oldCount == 0 ? oldStart : oldStart - 1;
            if (from < at || from > lines.Count)
            {
                problem = $"hunk at line {oldStart} is out of order or past the end of the file";
                return null;
            }

            output.AddRange(lines.Skip(at).Take(from - at));
            at = from;
            i++;
            while (i < diffLines.Count && !diffLines[i].StartsWith("@@", StringComparison.Ordinal))
            {
                var d = diffLines[i];
                var content = d.Length > 0 ? d[1..] : "";
                if (i + 1 < diffLines.Count && diffLines[i + 1].StartsWith(NoNewline, StringComparison.Ordinal))
                {
                    content = content.TrimEnd('\n');
                    i++;
                }

                switch (d.Length > 0 ? d[0] : ' ')
                {
                    case ' ':
                    case '-':
                        if (at >= lines.Count || !string.Equals(lines[at], content, StringComparison.Ordinal))
                        {
                            problem = $"line {at + 1} of the file does not match the patch (expected '{content.TrimEnd()}', found '{(at < lines.Count ? lines[at].TrimEnd() : "end of file")}')";
                            return null;
                        }

                        if (d[0] == ' ')
                        {
                            output.Add(lines[at]);
                        }

                        at++;
                        break;
                    case '+':
                        output.Add(content);
                        break;
                    default:
                        problem = $"diff line {i + 1}: unexpected '{d.TrimEnd()}'";
                        return null;
                }

                i++;
            }
        }

        output.AddRange(lines.Skip(at));
        var result = string.Concat(output);
        return bom && result.StartsWith('\uFEFF') ? result[1..] : result;
    }

    /// <summary>Lines with their line ends (the last one may have none).</summary>
    public static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lines.Add(text[start..(i + 1)]);
                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }

        return lines;
    }

    private static void Line(StringBuilder sb, char mark, string line, bool bom)
    {
        sb.Append(mark);
        if (bom)
        {
            sb.Append('\uFEFF');
        }

        sb.Append(line);
        if (!line.EndsWith('\n'))
        {
            sb.Append('\n').Append(NoNewline).Append('\n');
        }
    }

    private static string Range(int start, int count) =>
        count == 1 ? start.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{start},{count}");

    private static bool IsLineStart(int[] starts, int index) => Array.BinarySearch(starts, index) >= 0;

    private static int LineAt(int[] starts, int lineCount, int index)
    {
        var found = Array.BinarySearch(starts, index);
        var line = found >= 0 ? found : ~found - 1;
        return Math.Clamp(line, 0, lineCount);
    }

    [GeneratedRegex(@"^@@ -(?<os>\d+)(?:,(?<oc>\d+))? \+(?<ns>\d+)(?:,(?<nc>\d+))? @@")]
    private static partial Regex HunkHeader();
}
