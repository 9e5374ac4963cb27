using System.Globalization;
using System.Text.RegularExpressions;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Fleet;

/// <summary>
/// The <c>fleet:</c> section (docs/fleet.md): several agents share the clusters through etcd. Off until
/// <see cref="AgentId"/> is set; then each cluster is owned by one agent at a time through a lease of
/// <see cref="LeaseTtlSeconds"/>, and an agent senses and acts only on the clusters it owns.
/// </summary>
public sealed partial record FleetSettings : ISettingsChecks
{
    /// <summary>This agent's name among the agents (<c>fleet.agent_id</c>, unique per deployment); null: no fleet, the agent watches its clusters alone.</summary>
    public string? AgentId { get; init; }

    /// <summary>The lease's time to live: an agent that stops renewing loses its clusters this long after its last renewal.</summary>
    public int LeaseTtlSeconds { get; init; } = 10;

    /// <summary>The etcd key prefix the agents use (<c>/pgra/</c>): <c>agents/ID</c> and <c>owners/CLUSTER</c> live under it.</summary>
    public string Prefix { get; init; } = "/pgra/";

    /// <summary>etcd client URLs; empty: the inventory's etcd group (the DCS Patroni already uses).</summary>
    public IReadOnlyList<string> EtcdUrls { get; init; } = [];

    /// <summary>True when <see cref="AgentId"/> is set.</summary>
    public bool Enabled => AgentId is { Length: > 0 };

    /// <summary>The etcd URLs as parsed (checked at load).</summary>
    public IReadOnlyList<Uri> ParsedEtcdUrls() => EtcdUrls.Select(u => new Uri(u.EndsWith('/') ? u : u + "/")).ToList();

    IEnumerable<SettingsProblem> ISettingsChecks.Check(SecretStore secrets)
    {
        if (AgentId is { } id && !IdPattern().IsMatch(id))
        {
            yield return new SettingsProblem("agent_id", $"agent_id '{Printable(id)}' is not a name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "name the agent after its host and role, e.g. admin-1 or pgra-b");
        }

        if (LeaseTtlSeconds is < 3 or > 300)
        {
            yield return new SettingsProblem("lease_ttl_seconds", string.Create(CultureInfo.InvariantCulture, $"lease_ttl_seconds must be between 3 and 300, got {LeaseTtlSeconds}"),
                "the default is 10: a dead agent's clusters move to the others within it");
        }

        if (!(Prefix.StartsWith('/') && Prefix.EndsWith('/') && Prefix.Length >= 2 && !Prefix.Contains("//", StringComparison.Ordinal)))
        {
            yield return new SettingsProblem("prefix", $"prefix '{Printable(Prefix)}' must start and end with '/' (e.g. /pgra/)", "the default is /pgra/");
        }

        foreach (var url in EtcdUrls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || !string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query))
            {
                yield return new SettingsProblem("etcd_urls", "every etcd_urls entry must be an absolute http:// or https:// URL without a user, a password or a query",
                    "give etcd's client URLs, e.g. http://10.10.10.10:2379, or leave etcd_urls out to use the inventory's etcd group");
                yield break;
            }
        }
    }

    private static string Printable(string text) => text.Length > 64 ? text[..61] + "..." : text;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex IdPattern();
}
