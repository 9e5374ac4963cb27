using System.Globalization;
using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>One row of pg_settings as verification reads it.</summary>
internal sealed record LiveSetting(string Name, string Setting, string? Unit, string VarType, string Context, bool PendingRestart, string? Source)
{
    /// <summary>The setting with its unit, for messages (<c>8192 (8kB)</c>).</summary>
    public string Describe() => Unit is null ? Setting : $"{Setting} ({Unit})";
}

/// <summary>
/// Compares a value as an operator writes it (<c>8MB</c>, <c>5min</c>, <c>on</c>) with what pg_settings reports
/// (<c>1024</c> in units of <c>8kB</c>, <c>300</c> s, <c>on</c>), the way PostgreSQL parses settings: memory units
/// B kB MB GB TB (powers of 1024), time units us ms s min h d, booleans by their accepted spellings, enums without
/// regard to case. Integers round to the setting's unit as PostgreSQL does.
/// </summary>
internal static partial class GucValue
{
    public static bool Matches(LiveSetting live, string expected)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(expected);
        var text = expected.Trim();
        switch (live.VarType)
        {
            case "bool":
                return Bool(text) is { } b && string.Equals(live.Setting, b ? "on" : "off", StringComparison.Ordinal);
            case "integer":
            case "real":
                if (!double.TryParse(live.Setting, NumberStyles.Float, CultureInfo.InvariantCulture, out var actual))
                {
                    return false;
                }

                if (ToBaseUnits(text, live.Unit) is not { } wanted)
                {
                    return false;
                }

                return live.VarType == "integer"
                    ? Math.Round(wanted, MidpointRounding.AwayFromZero) == actual
                    : Math.Abs(wanted - actual) <= 1e-9 * Math.Max(1, Math.Abs(actual));
            case "enum":
                return string.Equals(live.Setting, text, StringComparison.OrdinalIgnoreCase);
            default:
                return string.Equals(live.Setting, Unquote(text), StringComparison.Ordinal);
        }
    }

    /// <summary>on/off for PostgreSQL's boolean spellings (unique prefixes of on, off, true, false, yes, no; 1, 0); null otherwise.</summary>
    public static bool? Bool(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().ToLowerInvariant();
        if (t.Length == 0)
        {
            return null;
        }

        if (t is "1" or "on" || "true".StartsWith(t, StringComparison.Ordinal) || "yes".StartsWith(t, StringComparison.Ordinal))
        {
            return true;
        }

        if (t is "0" or "of" or "off" || "false".StartsWith(t, StringComparison.Ordinal) || "no".StartsWith(t, StringComparison.Ordinal))
        {
            return false;
        }

        return null;
    }

    /// <summary>
    /// <paramref name="text"/> (a number with an optional unit) in units of <paramref name="unit"/> (pg_settings.unit:
    /// <c>8kB</c>, <c>kB</c>, <c>MB</c>, <c>B</c>, <c>ms</c>, <c>s</c>, <c>min</c>, or null). Null when it cannot be read.
    /// </summary>
    public static double? ToBaseUnits(string text, string? unit)
    {
        ArgumentNullException.ThrowIfNull(text);
        var m = NumberWithUnit().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            return null;
        }

        var given = m.Groups["u"].Value;
        if (given.Length == 0)
        {
            return number;
        }

        var (baseFactor, baseKind) = UnitFactor(unit);
        var (givenFactor, givenKind) = UnitFactor(given);
        if (baseKind is null || givenKind is null || baseKind != givenKind)
        {
            return null;
        }

        return number * givenFactor / baseFactor;
    }

    /// <summary>Bytes or microseconds per unit (<c>8kB</c> = 8192 bytes), and which kind of unit it is.</summary>
    private static (double Factor, string? Kind) UnitFactor(string? unit)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return (1, null);
        }

        var m = ScaledUnit().Match(unit);
        var scale = m.Success && m.Groups["n"].Value.Length > 0 ? double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) : 1;
        var name = m.Success ? m.Groups["u"].Value : unit;
        return name switch
        {
            "B" => (scale, "memory"),
            "kB" => (scale * 1024, "memory"),
            "MB" => (scale * 1024 * 1024, "memory"),
            "GB" => (scale * 1024 * 1024 * 1024, "memory"),
            "TB" => (scale * 1024.0 * 1024 * 1024 * 1024, "memory"),
            "us" => (scale, "time"),
            "ms" => (scale * 1000, "time"),
            "s" => (scale * 1000 * 1000, "time"),
            "min" => (scale * 60 * 1000 * 1000, "time"),
            "h" => (scale * 3600.0 * 1000 * 1000, "time"),
            "d" => (scale * 86400.0 * 1000 * 1000, "time"),
            _ => (1, null),
        };
    }

    private static string Unquote(string text) =>
        text.Length >= 2 && text[0] == '\'' && text[^1] == '\'' ? text[1..^1].Replace("''", "'", StringComparison.Ordinal) : text;

    [GeneratedRegex(@"^(?<n>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*(?<u>[A-Za-z]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberWithUnit();

    [GeneratedRegex(@"^(?<n>\d*)(?<u>[A-Za-z]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ScaledUnit();
}
