using System.Globalization;

namespace PgRuntimeAgent.Sensing;

/// <summary>PostgreSQL log sequence numbers: <c>X/Y</c> text (pg_lsn) and byte positions (Patroni's xlog fields).</summary>
public static class Lsn
{
    public static string Format(long position)
    {
        var u = (ulong)position;
        return string.Create(CultureInfo.InvariantCulture, $"{u >> 32:X}/{u & 0xFFFFFFFF:X}");
    }

    public static bool TryParse(string? text, out long position)
    {
        position = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0
            || !ulong.TryParse(text.AsSpan(0, slash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hi)
            || !ulong.TryParse(text.AsSpan(slash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var lo)
            || hi > uint.MaxValue || lo > uint.MaxValue)
        {
            return false;
        }

        position = (long)((hi << 32) | lo);
        return true;
    }

    public static long? Parse(string? text) => TryParse(text, out var p) ? p : null;
}
