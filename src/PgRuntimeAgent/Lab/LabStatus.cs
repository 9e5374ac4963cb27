using System.Net.Sockets;

namespace PgRuntimeAgent.Lab;

/// <summary>One lab component as found now: its process (by pid file) and its health probe.</summary>
internal sealed record LabComponentStatus(
    string Name,
    string Kind,
    string? Member,
    string User,
    int? Pid,
    string Process,
    string Address,
    string Health,
    bool Healthy);

internal sealed record LabMemberRole(string Name, string Role, string State, string? Lag);

internal sealed record LabStatusReport(
    string Dir,
    bool Provisioned,
    bool Healthy,
    string? Leader,
    int StreamingReplicas,
    IReadOnlyList<LabMemberRole> Members,
    IReadOnlyList<LabComponentStatus> Components,
    IReadOnlyList<string> ActiveFaults);

/// <summary><c>pgra lab status</c>: every component with pid, address and health.</summary>
internal static class LabStatus
{
    public static async Task<LabStatusReport> GetAsync(string dir, TimeProvider time, CancellationToken cancellationToken)
    {
        var manifest = await LabManifest.TryLoadAsync(dir, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            return new LabStatusReport(dir, false, false, null, 0, [], [], []);
        }

        using var cluster = new LabCluster(manifest, time);
        var probes = manifest.Services.Select(s => ProbeAsync(manifest, cluster.Http, s, cancellationToken)).ToList();
        var healthTask = cluster.HealthAsync(cancellationToken);
        var components = await Task.WhenAll(probes).ConfigureAwait(false);
        var health = await healthTask.ConfigureAwait(false);
        var active = LabFaultBook.Active(manifest).Select(a => $"{a.Scenario} on {a.Target}").ToList();
        var healthy = components.All(c => c.Healthy) && health.Healthy(manifest.Members.Count);
        return new LabStatusReport(dir, true, healthy, health.Leader, health.StreamingReplicas.Count,
            health.Members.Select(m => new LabMemberRole(m.Name, m.Role, m.State, m.Lag)).ToList(), components, active);
    }

    private static async Task<LabComponentStatus> ProbeAsync(LabManifest manifest, HttpClient http, LabService service, CancellationToken cancellationToken)
    {
        var pid = LabProcesses.ReadPidFile(manifest.PidFile(service));
        var state = pid is null ? null : LabProcesses.State(pid.Value);
        var alive = pid is not null && LabProcesses.IsAlive(pid.Value, service.User);
        var process = pid is null ? "no pid file" : !alive ? "not running" : state == 'T' ? "stopped (SIGSTOP)" : "running";
        var (healthy, health) = await CheckAsync(http, service, cancellationToken).ConfigureAwait(false);
        return new LabComponentStatus(service.Name, service.Kind, service.Member, service.User, alive ? pid : null, process,
            service.Address, health, healthy && alive && state != 'T');
    }

    private static async Task<(bool Ok, string Text)> CheckAsync(HttpClient http, LabService service, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            if (service.Health.StartsWith("http", StringComparison.Ordinal))
            {
                using var response = await http.GetAsync(new Uri(service.Health), HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                var code = (int)response.StatusCode;
                return (response.IsSuccessStatusCode, $"http {code}");
            }

            var colon = service.Address.LastIndexOf(':');
            using var client = new TcpClient();
            await client.ConnectAsync(service.Address[..colon], int.Parse(service.Address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), cts.Token).ConfigureAwait(false);
            return (true, "tcp ok");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, "timeout");
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException)
        {
            return (false, ex is SocketException se ? se.SocketErrorCode.ToString().ToLowerInvariant() : "unreachable");
        }
    }
}
