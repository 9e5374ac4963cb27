using System.Text;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Inventory;

/// <summary>
/// Expands the placeholders Pigsty templates use in inventory values: <c>${admin_ip}</c>, <c>${ip}</c>, <c>${vip}</c>,
/// <c>${lo}</c>, <c>${pg_cluster}</c>, <c>${dbsu}</c>, <c>${repl}</c>, <c>${monitor}</c>, <c>${admin}</c>, any other
/// <c>${var}</c>, and the simple Jinja form <c>{{ var }}</c>. Anything else (filters, expressions) is left as written.
/// </summary>
internal static partial class Placeholders
{
    private const int MaxDepth = 8;

    /// <summary>
    /// Placeholders looked at for one value, and the length it may grow to: a value that fans out (each level naming
    /// the next many times) stops there, the rest left as written.
    /// </summary>
    private const int MaxExpansions = 1_000;

    private const int MaxLength = 64 * 1024;

    public static bool HasPlaceholder(string? text) =>
        text is not null && (text.Contains("${", StringComparison.Ordinal) || text.Contains("{{", StringComparison.Ordinal));

    /// <summary>Expands <paramref name="text"/>; <paramref name="unresolved"/> lists placeholders nothing could resolve.</summary>
    public static string Expand(string text, Func<string, string?> resolve, out IReadOnlyList<string> unresolved)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(resolve);
        var missing = new List<string>();
        var budget = MaxExpansions;
        var result = ExpandCore(text, resolve, missing, 0, ref budget);
        unresolved = missing;
        return result;
    }

    private static string ExpandCore(string text, Func<string, string?> resolve, List<string> missing, int depth, ref int budget)
    {
        if (!HasPlaceholder(text))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 16);
        var last = 0;
        foreach (Match m in Token().Matches(text))
        {
            sb.Append(text, last, m.Index - last);
            last = m.Index;
            if (--budget < 0 || sb.Length > MaxLength)
            {
                break; // the rest is appended as written below
            }

            last = m.Index + m.Length;
            var name = m.Groups["d"].Success ? m.Groups["d"].Value : m.Groups["j"].Value;
            var value = depth < MaxDepth ? resolve(name) : null;
            if (value is null)
            {
                missing.Add(m.Value);
                sb.Append(m.Value);
            }
            else
            {
                sb.Append(ExpandCore(value, resolve, missing, depth + 1, ref budget));
            }
        }

        sb.Append(text, last, text.Length - last);
        return sb.ToString();
    }

    [GeneratedRegex(@"\$\{(?<d>[A-Za-z_][A-Za-z0-9_]*)\}|\{\{\s*(?<j>[A-Za-z_][A-Za-z0-9_]*)\s*\}\}")]
    private static partial Regex Token();
}
