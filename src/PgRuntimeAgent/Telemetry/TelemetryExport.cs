using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Telemetry;

/// <summary>
/// The OpenTelemetry SDK's providers over the agent's meters and sources: one for the web host's <c>/metrics</c>
/// (Prometheus, <see cref="PrometheusMeters"/>) and, when <c>telemetry.otlp_endpoint</c> is set, an OTLP export of
/// traces and metrics (<see cref="StartOtlp"/>) run by <c>pgra run</c> and <c>pgra serve</c>.
/// </summary>
internal sealed partial class TelemetryExport : IAsyncDisposable
{
    /// <summary>The .NET runtime's own meter (GC, thread pool, CPU time, working set, exceptions; built into .NET 9 and later).</summary>
    public const string RuntimeMeter = "System.Runtime";

    /// <summary>The service name every export carries (<c>service.name</c>; Prometheus's <c>target_info</c>).</summary>
    public const string ServiceName = "pgra";

    private readonly MeterProvider _meters;
    private readonly TracerProvider _tracers;
    private readonly AgentStateMetrics? _state;

    private TelemetryExport(MeterProvider meters, TracerProvider tracers, AgentStateMetrics? state)
    {
        _meters = meters;
        _tracers = tracers;
        _state = state;
    }

    /// <summary>The agent's version (the assembly's informational version).</summary>
    public static string Version { get; } =
        typeof(TelemetryExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    /// <summary>The resource every provider describes the agent with.</summary>
    public static void Resource(ResourceBuilder resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        resource.AddService(ServiceName, serviceVersion: Version);
    }

    /// <summary>A meter provider for the web host's <c>/metrics</c>: the agent's meters and the runtime's, read by the Prometheus exporter.</summary>
    public static MeterProvider PrometheusMeters() =>
        Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(Resource)
            .AddMeter(AgentTelemetry.Wildcard, RuntimeMeter)
            // Every scrape collects afresh (the exporter would otherwise answer from a cache for 300 ms).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)
            .Build();

    /// <summary>
    /// Starts exporting the agent's traces and metrics to <c>telemetry.otlp_endpoint</c>; null when it is not set. With
    /// <paramref name="journal"/> and <paramref name="approvals"/>, the state gauges are exported too.
    /// </summary>
    public static TelemetryExport? StartOtlp(TelemetrySettings settings, IJournal? journal, ApprovalBook? approvals, TimeProvider time, SecretStore? secrets,
        ILoggerFactory? logging)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.OtlpEndpoint is not { } endpoint)
        {
            return null;
        }

        var logger = (logging ?? NullLoggerFactory.Instance).CreateLogger("PgRuntimeAgent.Telemetry");
        var state = journal is not null && approvals is not null && AgentStateMetrics.Current is null
            ? new AgentStateMetrics(journal, approvals, time, TimeSpan.FromSeconds(settings.StateRefreshSeconds), secrets, logger).Register()
            : null;
        var interval = (int)Math.Clamp(settings.OtlpExportIntervalSeconds * 1000, 1000, 3_600_000);
        var meters = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(Resource)
            .AddMeter(AgentTelemetry.Wildcard, RuntimeMeter)
            .AddOtlpExporter((exporter, reader) =>
            {
                Configure(exporter, settings, endpoint, "v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
            })
            .Build();
        var tracers = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(Resource)
            .AddSource(AgentTelemetry.Wildcard)
            .AddOtlpExporter(exporter => Configure(exporter, settings, endpoint, "v1/traces"))
            .Build();
        LogOtlpStarted(logger, SignalEndpoint(settings, endpoint, "v1/{signal}").ToString(), settings.OtlpProtocol == OtlpProtocol.Grpc ? "grpc" : "http/protobuf",
            (interval / 1000.0).ToString(CultureInfo.InvariantCulture));
        return new TelemetryExport(meters, tracers, state);
    }

    /// <summary>Where one signal goes: OTLP/HTTP takes a path per signal under the base URL; gRPC the endpoint itself.</summary>
    internal static Uri SignalEndpoint(TelemetrySettings settings, Uri endpoint, string signalPath)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(endpoint);
        if (settings.OtlpProtocol == OtlpProtocol.Grpc)
        {
            return endpoint;
        }

        var text = endpoint.ToString();
        return new Uri(new Uri(text.EndsWith('/') ? text : text + "/"), signalPath);
    }

    private static void Configure(OtlpExporterOptions exporter, TelemetrySettings settings, Uri endpoint, string signalPath)
    {
        exporter.Protocol = settings.OtlpProtocol == OtlpProtocol.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        exporter.Endpoint = SignalEndpoint(settings, endpoint, signalPath);
    }

    /// <summary>Flushes what is buffered (bounded), then stops both providers.</summary>
    public async ValueTask DisposeAsync()
    {
        _tracers.ForceFlush(2000);
        _meters.ForceFlush(2000);
        _tracers.Dispose();
        _meters.Dispose();
        if (_state is not null)
        {
            await _state.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 9100, Level = LogLevel.Information, Message = "OTLP export on: traces and metrics to {Endpoint} ({Protocol}), metrics every {Interval} s")]
    private static partial void LogOtlpStarted(ILogger logger, string endpoint, string protocol, string interval);
}
