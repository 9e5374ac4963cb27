using System.Text.RegularExpressions;

namespace PgRuntimeAgent.Secrets;

/// <summary>
/// Which keys and values hold secrets, by Pigsty's and Ansible's naming: every <c>*_password</c>, anything with
/// <c>secret</c> in its name, <c>cipher_pass</c>, S3/MinIO <c>access_key</c> / <c>secret_key</c> / <c>s3_key</c>,
/// tokens and API keys; plus passwords embedded in URLs (<c>postgres://user:pass@host</c>) and libpq conninfo
/// strings (<c>password=...</c>).
/// </summary>
internal static partial class SecretNames
{
    private static readonly string[] NotSecretSuffixes =
        ["_file", "_path", "_dir", "_encryption", "_enc", "_type", "_mode", "_length", "_policy", "_expire", "_expire_in", "_enabled", "_method"];

    /// <summary>True when a value under this key is a secret.</summary>
    public static bool IsSecretKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        const StringComparison ic = StringComparison.OrdinalIgnoreCase;
        var candidate = key.Contains("pass", ic) || key.Contains("secret", ic) || key.Contains("token", ic) || key.EndsWith("key", ic);
        if (!candidate)
        {
            return false;
        }

        foreach (var suffix in NotSecretSuffixes)
        {
            if (key.EndsWith(suffix, ic))
            {
                return false;
            }
        }

        return key.Contains("password", ic)
            || key.Contains("passwd", ic)
            || key.Contains("secret", ic)
            || Exact(key, "pass") || Exact(key, "cipher_pass") || Exact(key, "token") || Exact(key, "s3_key") || Exact(key, "api_key")
            || Exact(key, "apikey") || Exact(key, "private_key") || Exact(key, "pgsodium_key") || Exact(key, "encryption_key")
            || key.EndsWith("_pass", ic)
            || key.EndsWith("_token", ic)
            || key.EndsWith("access_key", ic)
            || key.EndsWith("_api_key", ic);
    }

    private static bool Exact(string key, string name) => string.Equals(key, name, StringComparison.OrdinalIgnoreCase);

    /// <summary>Cheap test before <see cref="EmbeddedSecrets"/>: can the value hold a URL password or a conninfo password?</summary>
    public static bool MayEmbedSecret(string? value) =>
        value is { Length: > 8 }
        && ((value.Contains("://", StringComparison.Ordinal) && value.Contains('@', StringComparison.Ordinal))
            || value.Contains("password", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// True for keys whose value identifies rather than authenticates (S3 access key ids): kept in the store but not
    /// scrubbed from unrelated text (see <see cref="SecretStore.Add(string, string, string, bool)"/>).
    /// </summary>
    public static bool IsIdentifierKey(string? key) =>
        key is not null && (key.EndsWith("access_key", StringComparison.OrdinalIgnoreCase) || string.Equals(key, "s3_key", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Keys whose values name something (a user, a database, a cluster, a member): <c>name</c> in pg_users and
    /// pg_databases, <c>pg_cluster</c>, <c>*_username</c>, <c>pg_dbsu</c>, <c>owner</c>, <c>dbname</c>.
    /// </summary>
    public static bool IsNameKey(string? key) =>
        key is "name" or "pg_cluster" or "pg_dbsu" or "owner" or "dbname" or "database" or "pg_instance"
        || (key is not null && (key.EndsWith("_username", StringComparison.Ordinal) || key.EndsWith("_user", StringComparison.Ordinal)));

    /// <summary>Keys whose mapping values are all passwords (Pigsty's <c>nginx_users: { name: password }</c>).</summary>
    public static bool IsPasswordMapKey(string? key) => key is "nginx_users";

    /// <summary>Secrets embedded in a plain value: the password of a URL's user info or of a libpq conninfo.</summary>
    public static IEnumerable<string> EmbeddedSecrets(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            yield break;
        }

        if (value.Contains("://", StringComparison.Ordinal) && value.Contains('@', StringComparison.Ordinal))
        {
            foreach (Match m in UrlUserInfo().Matches(value))
            {
                var secret = Uri.UnescapeDataString(m.Groups["pw"].Value);
                if (secret.Length > 0)
                {
                    yield return secret;
                }

                if (!string.Equals(secret, m.Groups["pw"].Value, StringComparison.Ordinal))
                {
                    yield return m.Groups["pw"].Value;
                }
            }
        }

        if (value.Contains("password", StringComparison.OrdinalIgnoreCase) && value.Contains('=', StringComparison.Ordinal))
        {
            foreach (Match m in Conninfo().Matches(value))
            {
                var secret = m.Groups["pw"].Value.Trim('\'');
                if (secret.Length > 0)
                {
                    yield return secret;
                }
            }
        }
    }

    [GeneratedRegex(@"[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:(?<pw>[^@\s/]+)@")]
    private static partial Regex UrlUserInfo();

    [GeneratedRegex(@"(?:^|[\s;])password\s*=\s*(?<pw>'[^']*'|[^\s;]+)", RegexOptions.IgnoreCase)]
    private static partial Regex Conninfo();
}
