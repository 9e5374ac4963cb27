using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace PgRuntimeAgent.Web.Console;

/// <summary>One signed-in console: whose token it was opened with, and the session's CSRF token.</summary>
internal sealed record ConsoleSession(string Id, string Name, WebRole Role, string Csrf, DateTimeOffset ExpiresAt)
{
    /// <summary>True when <paramref name="presented"/> is this session's CSRF token (compared in constant time).</summary>
    public bool CsrfMatches(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(Csrf));
}

/// <summary>
/// The console's sign-ins, in memory: a browser signs in once with a token (<c>POST /console/login</c>) and then
/// carries a random session id in an HttpOnly, SameSite=Strict cookie instead of the token itself, so the token is
/// never written back to the browser and never stored there. A session ends at its expiry
/// (<c>http.console_session_minutes</c>), on sign-out, or when the agent restarts. Every state-changing request of a
/// session must carry its CSRF token (<see cref="CsrfGuard"/>).
/// </summary>
internal sealed class ConsoleSessions(TimeProvider time, TimeSpan lifetime)
{
    public const string Cookie = "pgra_session";

    /// <summary>The most sessions held; the oldest is dropped beyond it.</summary>
    public const int Capacity = 1024;

    private readonly ConcurrentDictionary<string, ConsoleSession> _sessions = new(StringComparer.Ordinal);

    public int Count => _sessions.Count;

    public TimeSpan Lifetime => lifetime;

    public ConsoleSession Open(string name, WebRole role)
    {
        var now = time.GetUtcNow();
        foreach (var stale in _sessions.Values.Where(s => s.ExpiresAt <= now))
        {
            _sessions.TryRemove(stale.Id, out _);
        }

        while (_sessions.Count >= Capacity && _sessions.Values.MinBy(s => s.ExpiresAt) is { } oldest)
        {
            _sessions.TryRemove(oldest.Id, out _);
        }

        var session = new ConsoleSession(RandomId(), name, role, RandomId(), now + lifetime);
        _sessions[session.Id] = session;
        return session;
    }

    /// <summary>The live session of <paramref name="id"/>; null when unknown or expired.</summary>
    public ConsoleSession? Find(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 100 || !_sessions.TryGetValue(id, out var session))
        {
            return null;
        }

        if (session.ExpiresAt <= time.GetUtcNow())
        {
            _sessions.TryRemove(id, out _);
            return null;
        }

        return session;
    }

    public void Close(string id) => _sessions.TryRemove(id, out _);

    private static string RandomId() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
