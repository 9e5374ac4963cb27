using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Secrets;

/// <summary>
/// Secrets by their shape rather than by their value: the user info of a URL (<c>http://u:pw@host</c>) and the value
/// after a secret word (<c>password=...</c>, <c>pwd: ...</c>, <c>secret=...</c>). For text the agent did not write
/// and whose secrets it cannot know in advance: operators' notes and reasons before they are journaled, and values
/// echoed in error messages.
/// </summary>
public static partial class SecretText
{
    /// <summary>
    /// Masks the user info of every URL (<c>scheme://USERINFO@host</c> becomes <c>scheme://******@host</c>), even a
    /// URL too broken to parse. Text without <c>://</c> and <c>@</c> is returned as it is.
    /// </summary>
    public static string MaskUrlUserInfo(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Contains("//", StringComparison.Ordinal) || !text.Contains('@', StringComparison.Ordinal))
        {
            return text ?? "";
        }

        return UrlUserInfo().Replace(text, m => m.Groups["prefix"].Value + SecretRef.Mask + "@");
    }

    /// <summary>
    /// Free text typed by an operator (an approval note, a denial or an action's reason, a journal note) with
    /// everything shaped like a secret masked: URL user info, <c>user:password@host</c>, and the value after
    /// <c>password</c>, <c>passwd</c>, <c>pwd</c>, <c>secret</c>, <c>token</c> or <c>api_key</c> followed by <c>=</c>
    /// or <c>:</c>. Known secrets' texts are masked as well by the journal's <see cref="SecretStore"/>.
    /// </summary>
    public static string RedactFreeText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        var masked = MaskUrlUserInfo(text);
        masked = UserPasswordAtHost().Replace(masked, m => m.Groups["user"].Value + ":" + SecretRef.Mask + "@");
        return KeyValue().Replace(masked, m => m.Groups["key"].Value + m.Groups["sep"].Value + SecretRef.Mask);
    }

    /// <summary>True when <paramref name="key"/> names a secret in text: a secret settings key, or pwd.</summary>
    internal static bool IsSecretWord(string key) =>
        SecretNames.IsSecretKey(key) || key.EndsWith("pwd", StringComparison.OrdinalIgnoreCase);

    /// <summary>The key of a <c>key=</c>, <c>key: </c> or <c>"key": "</c> that <paramref name="before"/> ends with.</summary>
    internal static string? KeyBefore(string before) => KeyAtEnd().Match(before) is { Success: true } m ? m.Groups["key"].Value : null;

    /// <summary>True when <paramref name="before"/> ends inside a URL's user info, just after <c>user:</c>.</summary>
    internal static bool EndsInUserInfo(string before) => UserInfoAtEnd().IsMatch(before);

    [GeneratedRegex(@"(?<prefix>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@]+@")]
    private static partial Regex UrlUserInfo();

    [GeneratedRegex(@"(?<![\w/:*])(?<user>[A-Za-z0-9_.\-]+):(?<pw>[^\s@/:]+)@(?=[\w\[])")]
    private static partial Regex UserPasswordAtHost();

    [GeneratedRegex(@"(?<key>\b[A-Za-z0-9_\-]*(?:password|passwd|pwd|secret|token|api_?key)[A-Za-z0-9_\-]*)(?<sep>[""']?[ \t]*[=:][ \t]*)(?<value>'[^']*'|""[^""]*""|[^\s,;&]+)",
        RegexOptions.IgnoreCase)]
    private static partial Regex KeyValue();

    [GeneratedRegex(@"(?<key>[A-Za-z0-9_\-]+)[""']?[ \t]*[=:][ \t]*[""']?$")]
    private static partial Regex KeyAtEnd();

    [GeneratedRegex(@"://[^\s:/@]*:$")]
    private static partial Regex UserInfoAtEnd();
}
