using System.Globalization;
using System.Net;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Telemetry;

/// <summary>How an OTLP endpoint is spoken to.</summary>
public enum OtlpProtocol
{
    /// <summary>OTLP over gRPC (a collector's port 4317).</summary>
    Grpc,

    /// <summary>OTLP over HTTP with protobuf bodies (port 4318; the agent appends <c>/v1/traces</c> and <c>/v1/metrics</c>).</summary>
    HttpProtobuf,
}

/// <summary>
/// The <c>telemetry:</c> section: the agent's own traces and metrics (docs/observability.md). Prometheus scrapes
/// <c>/metrics</c> on the web host (<c>http:</c>); OTLP export is off until <see cref="OtlpEndpoint"/> is set, and a
/// non-loopback endpoint must be allowed explicitly (<see cref="OtlpAllowRemote"/>): there is no default remote
/// endpoint.
/// </summary>
public sealed record TelemetrySettings : ISettingsChecks
{
    /// <summary>Where to export traces and metrics over OTLP (<c>http://127.0.0.1:4317</c>); null: no OTLP export.</summary>
    public Uri? OtlpEndpoint { get; init; }

    public OtlpProtocol OtlpProtocol { get; init; } = OtlpProtocol.Grpc;

    /// <summary>Allow an <see cref="OtlpEndpoint"/> that is not a loopback address (a collector on another machine).</summary>
    public bool OtlpAllowRemote { get; init; }

    /// <summary>How often metrics are pushed to the OTLP endpoint.</summary>
    public double OtlpExportIntervalSeconds { get; init; } = 30;

    /// <summary>The state gauges (approvals pending, incidents open, journal entries) read the journal at most this often.</summary>
    public double StateRefreshSeconds { get; init; } = 15;

    /// <summary>True when OTLP export is configured.</summary>
    public bool OtlpEnabled => OtlpEndpoint is not null;

    /// <summary>True when <paramref name="endpoint"/>'s host is a loopback address or <c>localhost</c> (host names are not resolved).</summary>
    public static bool IsLoopback(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var host = endpoint.IdnHost.Trim('[', ']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    IEnumerable<SettingsProblem> ISettingsChecks.Check(SecretStore secrets)
    {
        if (OtlpEndpoint is { } endpoint)
        {
            if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                yield return new SettingsProblem("otlp_endpoint", endpoint.IsAbsoluteUri ? $"otlp_endpoint must be an http:// or https:// URL, got {endpoint.Scheme}://" : "otlp_endpoint must be an absolute http:// or https:// URL",
                    "give the collector's OTLP address, e.g. http://127.0.0.1:4317 (grpc) or http://127.0.0.1:4318 (http_protobuf)");
            }
            else if (!string.IsNullOrEmpty(endpoint.UserInfo) || !string.IsNullOrEmpty(endpoint.Query) || !string.IsNullOrEmpty(endpoint.Fragment))
            {
                yield return new SettingsProblem("otlp_endpoint", "otlp_endpoint must not carry a user, a password, a query or a fragment",
                    "give the collector's address only (scheme, host, port, path)");
            }
            else if (!IsLoopback(endpoint) && !OtlpAllowRemote)
            {
                yield return new SettingsProblem("otlp_endpoint",
                    $"'{endpoint.GetLeftPart(UriPartial.Authority)}' is not a loopback address: the agent's traces and metrics (cluster names, action kinds) would leave this machine",
                    "send them to a collector on 127.0.0.1, or set otlp_allow_remote: true to export to this one on purpose");
            }
        }

        if (!(OtlpExportIntervalSeconds >= 1 && OtlpExportIntervalSeconds <= 3600))
        {
            yield return new SettingsProblem("otlp_export_interval_seconds",
                string.Create(CultureInfo.InvariantCulture, $"otlp_export_interval_seconds must be between 1 and 3600, got {OtlpExportIntervalSeconds}"), "the default is 30");
        }

        if (!(StateRefreshSeconds >= 1 && StateRefreshSeconds <= 3600))
        {
            yield return new SettingsProblem("state_refresh_seconds",
                string.Create(CultureInfo.InvariantCulture, $"state_refresh_seconds must be between 1 and 3600, got {StateRefreshSeconds}"),
                "the default is 15 (about Prometheus's scrape interval)");
        }
    }
}
