using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// Durations as operators write them in skills and Pigsty configs: one or more <c>&lt;integer&gt;&lt;unit&gt;</c>
/// parts with units ms, s, m, h, d (<c>10m</c>, <c>1h30m</c>, <c>500ms</c>).
/// </summary>
public static partial class SkillDuration
{
    [GeneratedRegex(@"\G(\d{1,9})(ms|s|m|h|d)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var position = 0;
        var total = TimeSpan.Zero;
        while (position < text.Length)
        {
            var match = Part().Match(text, position);
            if (!match.Success)
            {
                return false;
            }

            var amount = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            total += match.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(amount),
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
            position += match.Length;
        }

        value = total;
        return true;
    }

    /// <summary>The shortest text that parses back to <paramref name="value"/> (<c>90s</c> -> <c>1m30s</c>).</summary>
    public static string Format(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        void Add(long amount, string unit)
        {
            if (amount > 0)
            {
                builder.Append(amount.ToString(CultureInfo.InvariantCulture)).Append(unit);
            }
        }

        Add((long)value.TotalDays, "d");
        Add(value.Hours, "h");
        Add(value.Minutes, "m");
        Add(value.Seconds, "s");
        Add(value.Milliseconds, "ms");
        return builder.ToString();
    }
}
