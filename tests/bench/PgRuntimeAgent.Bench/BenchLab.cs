using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.Bench;

/// <summary>The running loopback lab a benchmark needs, or a line saying it is skipped.</summary>
internal static class BenchLab
{
    /// <summary>The lab's manifest when the lab runs and has a leader; otherwise prints that <paramref name="what"/> is skipped and returns null.</summary>
    public static async Task<LabManifest?> RunningAsync(TextWriter output, string what, CancellationToken cancellationToken)
    {
        var manifest = await LabManifest.TryLoadAsync(LabPaths.ResolveDir(null), cancellationToken).ConfigureAwait(false);
        using (var probe = manifest is null ? null : new LabCluster(manifest))
        {
            if (manifest is not null && probe is not null && await probe.LeaderAsync(cancellationToken).ConfigureAwait(false) is not null)
            {
                return manifest;
            }
        }

        await output.WriteLineAsync($"lab: not running (`pgra lab up` as root); {what} skipped").ConfigureAwait(false);
        return null;
    }
}
