using PgRuntimeAgent.Lab;

namespace PgRuntimeAgent.LabTests.Lab;

/// <summary>`lab down` leaves nothing behind; `lab up` brings the same lab back and is idempotent.</summary>
public sealed class LabDownUpTests
{
    [Fact]
    public async Task DownThenUp_RunningLab_NoProcessNoListenerThenHealthyAgainAndIdempotent()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var pids = lab.Manifest.Services.Select(s => LabProcesses.ReadPidFile(lab.Manifest.PidFile(s))).OfType<int>().ToList();
        Assert.NotEmpty(pids);
        var ips = new[] { lab.Manifest.InfraIp }.Concat(lab.Members.Select(m => m.Ip)).ToHashSet();
        try
        {
            var down = await LabCli.RunAsync("lab", "down", "--dir", lab.Dir);
            Assert.True(down.ExitCode == 0, down.All);
            Assert.Empty(LabProcesses.ListeningOn(ips));
            Assert.DoesNotContain(pids, p => LabProcesses.IsAlive(p));
            Assert.All(lab.Members, m => Assert.False(LabDown.IsMountPoint(m.WalMount)));

            // A lab that is down: inject is an input error (exit 2) with a clear message.
            var inject = await LabCli.RunAsync("lab", "inject", "primary-crash", "--dir", lab.Dir);
            Assert.Equal(2, inject.ExitCode);
            Assert.Contains("is down", inject.Error, StringComparison.Ordinal);
        }
        finally
        {
            var up = await LabCli.RunAsync("lab", "up", "--dir", lab.Dir, "--skip-packages");
            Assert.True(up.ExitCode == 0, up.All);
        }

        var again = await LabCli.RunAsync("lab", "up", "--dir", lab.Dir, "--skip-packages");
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("0 change(s)", again.Out, StringComparison.Ordinal);
        using var cluster = lab.NewCluster();
        var (ok, health) = await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.True(ok, health.Describe());
    }
}
