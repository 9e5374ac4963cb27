using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PgRuntimeAgent.Secrets;

/// <summary>
/// Holds every secret value the agent knows (passwords from the inventory, settings or environment). Models hold
/// <see cref="SecretRef"/>s; only the code that opens a connection calls <see cref="Reveal"/>. Anything that leaves
/// the process (console, logs, journal, LLM prompt) can be passed through <see cref="Redact"/>.
/// </summary>
public sealed class SecretStore
{
    /// <summary>Values shorter than this are not redacted by substring (they would mangle ordinary text).</summary>
    private const int MinRedactLength = 3;

    /// <summary>
    /// Values shorter than this are redacted only where they stand alone (not inside a longer word such as a cluster
    /// name: the password <c>test</c> must not turn <c>pg-test</c> into <c>pg-******</c>). Longer values are redacted
    /// wherever they appear.
    /// </summary>
    private const int SubstringRedactLength = 12;

    private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _origins = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _identifiers = new(StringComparer.Ordinal);

    public SecretRef Add(string key, string value, string origin) => Add(key, value, origin, scrubFromText: true);

    /// <summary>
    /// Stores a secret. <paramref name="scrubFromText"/> false marks a value that is sensitive but also an ordinary
    /// word elsewhere (an S3 access key id such as <c>pgbackrest</c>): it is kept, referenced and never printed by the
    /// agent, but <see cref="Redact"/> does not blank every occurrence of the word in unrelated text.
    /// </summary>
    public SecretRef Add(string key, string value, string origin, bool scrubFromText)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _values[key] = value;
        _origins[key] = origin;
        if (scrubFromText)
        {
            _identifiers.TryRemove(key, out _);
        }
        else
        {
            _identifiers[key] = 0;
        }

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

    /// <summary>The reference for a stored key (null when unknown).</summary>
    public SecretRef? Find(string key) =>
        _values.ContainsKey(key) && _origins.TryGetValue(key, out var origin) ? new SecretRef(key, origin) : null;

    /// <summary>The values <see cref="Redact"/> masks in text (not those stored with scrubFromText false).</summary>
    public IReadOnlyCollection<string> MaskedValues =>
        _values.Where(p => !_identifiers.ContainsKey(p.Key)).Select(p => p.Value).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Every stored value (for redaction and for tests that scan output for leaks).</summary>
    public IReadOnlyCollection<string> Values => _values.Values.Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Every stored reference (key and origin, never the value), ordered by key.</summary>
    public IReadOnlyList<SecretRef> References =>
        _origins.OrderBy(p => p.Key, StringComparer.Ordinal).Where(p => _values.ContainsKey(p.Key)).Select(p => new SecretRef(p.Key, p.Value)).ToArray();

    public int Count => _values.Count;

    /// <summary>Replaces every known secret value in <paramref name="text"/> with <see cref="SecretRef.Mask"/>.</summary>
    public string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text) || _values.IsEmpty)
        {
            return text ?? "";
        }

        return RedactWith(text, TextValues());
    }

    private static string RedactWith(string text, IEnumerable<string> values)
    {
        // Longest first so a secret that contains another is masked whole.
        foreach (var value in values)
        {
            if (!text.Contains(value, StringComparison.Ordinal))
            {
                continue;
            }

            text = value.Length >= SubstringRedactLength
                ? text.Replace(value, SecretRef.Mask, StringComparison.Ordinal)
                : IsPlainDatum(value)
                    ? ReplaceInSecretContext(text, value)
                    : ReplaceStandalone(text, value);
        }

        return text;
    }

    /// <summary>
    /// <see cref="Redact"/> for JSON text, token by token, so the result stays valid JSON with the same layout:
    /// string values and keys are redacted as text; a number or a boolean is masked (as the string
    /// <c>"******"</c>) only when it is the value of a secret key (<c>"password": 8008</c>) and a known secret, so a
    /// password that happens to equal a port number does not blank the port. Text that is not JSON (or JSON lines)
    /// falls back to <see cref="Redact"/>.
    /// </summary>
    public string RedactJson(string? json)
    {
        if (string.IsNullOrEmpty(json) || _values.IsEmpty)
        {
            return json ?? "";
        }

        var values = TextValues().ToList();
        var bytes = Encoding.UTF8.GetBytes(json);
        var output = new ArrayBufferWriter<byte>(bytes.Length + 64);
        var copied = 0;
        string? property = null;
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { AllowMultipleValues = true, CommentHandling = JsonCommentHandling.Skip });
        try
        {
            while (reader.Read())
            {
                var start = (int)reader.TokenStartIndex;
                string? replacement = null;
                var length = reader.ValueSpan.Length;
                var key = property;
                property = null;
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                    case JsonTokenType.String:
                        length += 2; // the quotes
                        var text = reader.GetString() ?? "";
                        var redacted = reader.TokenType == JsonTokenType.String && SecretNames.IsSecretKey(key) && IsMaskedValue(text)
                            ? SecretRef.Mask
                            : RedactWith(text, values);
                        if (!string.Equals(text, redacted, StringComparison.Ordinal))
                        {
                            replacement = JsonSerializer.Serialize(redacted);
                        }

                        if (reader.TokenType == JsonTokenType.PropertyName)
                        {
                            property = text;
                        }

                        break;
                    case JsonTokenType.Number:
                    case JsonTokenType.True:
                    case JsonTokenType.False:
                        if (SecretNames.IsSecretKey(key) && IsMaskedValue(Encoding.UTF8.GetString(reader.ValueSpan)))
                        {
                            replacement = "\"" + SecretRef.Mask + "\"";
                        }

                        break;
                }

                if (replacement is not null)
                {
                    output.Write(bytes.AsSpan(copied, start - copied));
                    output.Write(Encoding.UTF8.GetBytes(replacement));
                    copied = start + length;
                }
            }
        }
        catch (JsonException)
        {
            return Redact(json);
        }

        output.Write(bytes.AsSpan(copied));
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>
    /// <see cref="Redact"/> for a value whose key is known (a JSON property): under a secret key
    /// (<c>password</c>, <c>*_token</c>...) a value that is exactly a known secret is masked whatever its text, a
    /// number or a boolean included; elsewhere it is redacted as text.
    /// </summary>
    public string RedactValue(string? key, string? value) =>
        value is not null && SecretNames.IsSecretKey(key) && IsMaskedValue(value) ? SecretRef.Mask : Redact(value);

    private IEnumerable<string> TextValues() => _values
        .Where(p => !_identifiers.ContainsKey(p.Key))
        .Select(p => p.Value)
        .Where(v => v.Length >= MinRedactLength)
        .Distinct(StringComparer.Ordinal)
        .OrderByDescending(v => v.Length);

    private bool IsMaskedValue(string text) =>
        text.Length > 0 && _values.Any(p => !_identifiers.ContainsKey(p.Key) && string.Equals(p.Value, text, StringComparison.Ordinal));

    /// <summary>
    /// True for a short secret whose text is also an ordinary datum (a number such as <c>8008</c>, a boolean such as
    /// <c>true</c>): it is masked only where it stands as a secret (after <c>password=</c>, <c>"secret": </c>, in a
    /// URL's user info), never as a port, a count or a flag elsewhere in the text.
    /// </summary>
    internal static bool IsPlainDatum(string value) =>
        value.Length < SubstringRedactLength
        && (value.ToLowerInvariant() is "true" or "false" or "yes" or "no" or "on" or "off" or "null" or "none"
            || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _));

    private static string ReplaceInSecretContext(string text, string value) =>
        ReplaceWhere(text, value, (t, at, length) => IsStandalone(t, at, length) && InSecretContext(t, at, length));

    /// <summary>The value at <paramref name="index"/> is a URL's password or the value of a secret key.</summary>
    private static bool InSecretContext(string text, int index, int length)
    {
        var before = text[Math.Max(0, index - 120)..index];
        if (index + length < text.Length && text[index + length] == '@' && SecretText.EndsInUserInfo(before))
        {
            return true;
        }

        return SecretText.KeyBefore(before) is { } key && SecretText.IsSecretWord(key);
    }

    /// <summary>True when <paramref name="value"/> occurs in <paramref name="text"/> not embedded in a longer word.</summary>
    public static bool ContainsStandalone(string text, string value)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentException.ThrowIfNullOrEmpty(value);
        var index = text.IndexOf(value, StringComparison.Ordinal);
        while (index >= 0)
        {
            if (IsStandalone(text, index, value.Length))
            {
                return true;
            }

            index = text.IndexOf(value, index + 1, StringComparison.Ordinal);
        }

        return false;
    }

    private static string ReplaceStandalone(string text, string value) => ReplaceWhere(text, value, IsStandalone);

    /// <summary>Masks each occurrence of <paramref name="value"/> in <paramref name="text"/> for which <paramref name="mask"/> holds.</summary>
    private static string ReplaceWhere(string text, string value, Func<string, int, int, bool> mask)
    {
        var sb = new StringBuilder(text.Length);
        var last = 0;
        var index = text.IndexOf(value, StringComparison.Ordinal);
        while (index >= 0)
        {
            if (mask(text, index, value.Length))
            {
                sb.Append(text, last, index - last).Append(SecretRef.Mask);
                last = index + value.Length;
                index = text.IndexOf(value, last, StringComparison.Ordinal);
            }
            else
            {
                index = text.IndexOf(value, index + 1, StringComparison.Ordinal);
            }
        }

        return last == 0 ? text : sb.Append(text, last, text.Length - last).ToString();
    }

    private static bool IsStandalone(string text, int index, int length) =>
        !JoinsBefore(text, index - 1) && !JoinsAfter(text, index + length);

    // A letter, digit or '_' next to the match makes it part of a longer word; so does '-', '.' or '/' when a letter
    // or digit follows it (pg-test, i.pigsty, /pigsty/), but not at the end of a sentence ("... is pigsty.").
    private static bool JoinsBefore(string text, int i) =>
        i >= 0 && (IsWordChar(text[i]) || (IsJoiner(text[i]) && i - 1 >= 0 && char.IsAsciiLetterOrDigit(text[i - 1])));

    private static bool JoinsAfter(string text, int i) =>
        i < text.Length && (IsWordChar(text[i]) || (IsJoiner(text[i]) && i + 1 < text.Length && char.IsAsciiLetterOrDigit(text[i + 1])));

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static bool IsJoiner(char c) => c is '-' or '.' or '/';
}
