using System.Collections.Concurrent;

namespace PgRuntimeAgent.Secrets;

/// <summary>
/// Holds every secret value the agent knows (passwords from the inventory, settings or environment). Models hold
/// <see cref="SecretRef"/>s; only the code that opens a connection calls <see cref="Reveal"/>. Anything that leaves
/// the process (console, logs, journal, LLM prompt) can be passed through <see cref="Redact"/>.
/// </summary>
public sealed class SecretStore
{
    private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);

    /// <summary>Values shorter than this are not redacted by substring (they would mangle ordinary text).</summary>
    private const int MinRedactLength = 3;

    public SecretRef Add(string key, string value, string origin)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _values[key] = value;
        return new SecretRef(key, origin);
    }

    /// <summary>The value behind a reference; throws when the reference is unknown (a programming error).</summary>
    public string Reveal(SecretRef secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return _values.TryGetValue(secret.Key, out var v)
            ? v
            : throw new KeyNotFoundException($"No secret is stored under '{secret.Key}' (from {secret.Origin}).");
    }

    public bool TryReveal(SecretRef? secret, out string value)
    {
        value = "";
        return secret is not null && _values.TryGetValue(secret.Key, out value!);
    }

    /// <summary>Every stored value (for redaction and for tests that scan output for leaks).</summary>
    public IReadOnlyCollection<string> Values => _values.Values.Distinct(StringComparer.Ordinal).ToArray();

    public int Count => _values.Count;

    /// <summary>Replaces every known secret value in <paramref name="text"/> with <see cref="SecretRef.Mask"/>.</summary>
    public string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text) || _values.IsEmpty)
        {
            return text ?? "";
        }

        // Longest first so a secret that contains another is masked whole.
        foreach (var value in _values.Values.Where(v => v.Length >= MinRedactLength).Distinct(StringComparer.Ordinal).OrderByDescending(v => v.Length))
        {
            if (text.Contains(value, StringComparison.Ordinal))
            {
                text = text.Replace(value, SecretRef.Mask, StringComparison.Ordinal);
            }
        }

        return text;
    }
}
