using System.Globalization;

namespace PgRuntimeAgent.Journal;

/// <summary>The times a journal query takes from a person (<c>pgra journal list --since</c>, the API's <c>since</c> and <c>until</c>).</summary>
internal static class JournalTimes
{
    /// <summary>An ISO 8601 time, or an age like 90s, 30m, 2h, 7d counted back from <paramref name="now"/>; anything else is an <see cref="InputException"/> naming <paramref name="what"/> (<c>--since</c>, <c>since</c>).</summary>
    public static DateTimeOffset Parse(string text, DateTimeOffset now, string what)
    {
        var t = text.Trim();
        if (t.Length >= 2 && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
        {
            var unit = char.ToLowerInvariant(t[^1]);
            TimeSpan? span = unit switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                _ => null,
            };
            if (span is { } ago)
            {
                return now - ago;
            }
        }

        if (DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        throw new InputException($"{what} '{text}' is neither a time (2026-03-01T12:00:00Z) nor an age (30m, 2h, 7d).");
    }
}
