using System.Globalization;

namespace PgRuntimeAgent.Lab;

/// <summary>
/// Patroni's timing on the lab: <c>fast</c> (ttl 10, loop_wait 2, retry_timeout 4, primary_start_timeout 10, the
/// lab's own) or <c>norm</c> (Pigsty's default 30/5/10/25). A PATCH of the dynamic configuration through the
/// leader's REST API; every member applies it at its next HA loop.
/// </summary>
internal static class LabHaTiming
{
    public static IReadOnlyList<string> Presets { get; } = ["fast", "norm"];

    public static (int Ttl, int LoopWait, int RetryTimeout, int PrimaryStartTimeout) Of(string preset) => preset switch
    {
        "fast" => (10, 2, 4, 10),
        "norm" => (30, 5, 10, 25),
        _ => throw new InputException($"unknown Patroni timing '{preset}'", ["fast (the lab's: ttl 10) or norm (Pigsty's default: ttl 30)"]),
    };

    /// <summary>Sets <paramref name="preset"/> (retrying for up to 60 s while there is no leader), then waits out one old loop_wait; returns what was set.</summary>
    public static async Task<string> SetAsync(LabCluster cluster, string preset, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var (ttl, loopWait, retry, start) = Of(preset);
        var body = string.Create(CultureInfo.InvariantCulture,
            $$"""{"ttl": {{ttl}}, "loop_wait": {{loopWait}}, "retry_timeout": {{retry}}, "primary_start_timeout": {{start}}}""");
        var started = cluster.Time.GetTimestamp();
        while (true)
        {
            var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
            var (status, answer) = leader is null ? (0, "no leader") : await cluster.SendAsync(HttpMethod.Patch, leader, "/config", body, cancellationToken).ConfigureAwait(false);
            if (status == 200)
            {
                break;
            }

            if (cluster.Time.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
            {
                throw new IOException($"PATCH /config ({preset}) answered {status.ToString(CultureInfo.InvariantCulture)}: {answer}");
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cluster.Time, cancellationToken).ConfigureAwait(false);
        }

        // Every member applies the new timing at its next HA loop (at most the old loop_wait, 5 s).
        await Task.Delay(TimeSpan.FromSeconds(6), cluster.Time, cancellationToken).ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture, $"Patroni timing: {preset} (ttl {ttl}, loop_wait {loopWait}, retry_timeout {retry}, primary_start_timeout {start})");
    }
}
