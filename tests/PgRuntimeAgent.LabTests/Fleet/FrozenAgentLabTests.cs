using System.Diagnostics;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

using static PgRuntimeAgent.LabTests.Fleet.FleetDaemon;

namespace PgRuntimeAgent.LabTests.Fleet;

/// <summary>
/// Two real <c>pgra run</c> daemons sharing the lab's cluster through the lab's etcd. The owner is frozen with SIGSTOP
/// past its lease: the other takes the cluster within the ttl with a larger token; thawed, the frozen one knows by its
/// own clock that it lost the cluster, journals that, and no longer senses it.
/// </summary>
public sealed class FrozenAgentLabTests
{
    private const int Ttl = 4;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OwnerFrozenPastItsLease_TheOtherTakesOverWithinTheTtl_AndTheThawedAgentStopsWatchingTheCluster()
    {
        var lab = await LabGuard.RequireLabAsync();
        // The first agent is the one rendezvous hashing prefers for the cluster: the other, joining later, is not handed it.
        var (idA, idB) = ClusterLeases.Preferred(["agent-a", "agent-b"], lab.Cluster) == "agent-a" ? ("agent-a", "agent-b") : ("agent-b", "agent-a");
        var dir = Directory.CreateTempSubdirectory("pgra-fleet-lab-").FullName;
        var prefix = $"/pgra-test-{Guid.NewGuid():n}/";
        var settings = new FleetSettings { AgentId = "probe", Prefix = prefix };
        IReadOnlyList<Uri> etcd = [lab.EtcdUrl];
        using var a = Start(lab, dir, idA, prefix);
        FleetDaemon? b = null;
        try
        {
            var first = await WaitOwnerAsync(settings, etcd, lab.Cluster, o => o is not null, TimeSpan.FromSeconds(30));
            Assert.True(first?.Agent == idA, $"{idA} did not take {lab.Cluster}: {a.Output()}");
            b = Start(lab, dir, idB, prefix);
            await WaitAsync(async () => (await FleetView.ReadAsync(settings, etcd, Ct)).Agents.Any(x => x.Id == idB), TimeSpan.FromSeconds(30), () => b.Output());
            Assert.Equal(idA, (await FleetView.ReadAsync(settings, etcd, Ct)).Owners.Single(o => o.Cluster == lab.Cluster).Agent);
            await Task.Delay(TimeSpan.FromSeconds(5), Ct); // the owner's loop senses the cluster it owns (every 2 s)
            Assert.Equal(idA, (await FleetView.ReadAsync(settings, etcd, Ct)).Owners.Single(o => o.Cluster == lab.Cluster).Agent);

            // Freeze the owner: its lease runs out in etcd and the other takes the cluster.
            a.Signal("STOP");
            var frozen = Stopwatch.StartNew();
            var second = await WaitOwnerAsync(settings, etcd, lab.Cluster, o => o?.Agent == idB, TimeSpan.FromSeconds(30));
            var moved = frozen.Elapsed;
            PgRuntimeAgent.LabTests.Agent.AgentLab.Report($"fleet: {idA} frozen (SIGSTOP); {idB} owns {lab.Cluster} {moved.TotalSeconds:0.0} s later (ttl {Ttl} s), token {first!.Token} -> {second?.Token}");
            Assert.True(second?.Agent == idB, $"{idB} did not take {lab.Cluster}: {b.Output()}");
            Assert.True(moved < TimeSpan.FromSeconds(2 * Ttl + 1), $"the cluster moved {moved.TotalSeconds:0.0} s after the freeze (ttl {Ttl} s)");
            Assert.True(second!.Token > first.Token, $"token {second.Token} after {first.Token}");
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);

            // Thaw: the frozen agent's own clock says its lease ran out; it journals the loss and stops sensing pg-test.
            a.Signal("CONT");
            await WaitAsync(() => Task.FromResult(a.Output().Contains($"lost {lab.Cluster}", StringComparison.Ordinal)), TimeSpan.FromSeconds(20), () => a.Output());
            await Task.Delay(TimeSpan.FromSeconds(4), Ct);
            Assert.Equal(idB, (await FleetView.ReadAsync(settings, etcd, Ct)).Owners.Single(o => o.Cluster == lab.Cluster).Agent);
        }
        finally
        {
            await a.StopAsync();
            await File.WriteAllTextAsync(Path.Combine(dir, idA + ".log"), a.Output(), CancellationToken.None);
            if (b is not null)
            {
                await b.StopAsync();
                await File.WriteAllTextAsync(Path.Combine(dir, idB + ".log"), b.Output(), CancellationToken.None);
                b.Dispose();
            }
        }

        var notesA = await NotesAsync(Path.Combine(dir, idA + ".db"));
        var notesB = await NotesAsync(Path.Combine(dir, idB + ".db"));
        Assert.Equal([AgentEventNames.OwnershipGained, AgentEventNames.OwnershipLost], notesA.Select(n => n.Topic));
        Assert.Contains("lease", notesA[1].Summary, StringComparison.Ordinal);
        Assert.Equal(AgentEventNames.OwnershipGained, notesB[0].Topic);

        // The frozen agent sensed the cluster while it owned it; after the loss it journaled nothing more about it: no snapshot,
        // no finding, no intent.
        var all = await EntriesAfterAsync(Path.Combine(dir, idA + ".db"), 0);
        Assert.Contains(all, e => e.Kind == JournalKinds.Snapshot && e.Cluster == lab.Cluster && e.Seq < notesA[1].Seq);
        Assert.DoesNotContain(all, e => e.Cluster == lab.Cluster && e.Seq > notesA[1].Seq);
        Directory.Delete(dir, recursive: true);
    }

    private static async Task<List<JournalEntry>> NotesAsync(string path)
    {
        await using var journal = await SqliteJournal.OpenAsync(path, new SecretStore(), TimeProvider.System, Ct);
        return (await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Note] }, Ct))
            .Where(e => e.Topic is AgentEventNames.OwnershipGained or AgentEventNames.OwnershipLost).ToList();
    }

    private static async Task<IReadOnlyList<JournalEntry>> EntriesAfterAsync(string path, long seq)
    {
        await using var journal = await SqliteJournal.OpenAsync(path, new SecretStore(), TimeProvider.System, Ct);
        return await journal.QueryAsync(new JournalQuery { AfterSeq = seq }, Ct);
    }

    private static FleetDaemon Start(LabInfo lab, string dir, string id, string prefix) =>
        FleetDaemon.Start(lab, dir, id, FleetDaemon.LabSettings(lab, "http", "journal")
            + $"journal:\n  backend: sqlite\n  path: {Path.Combine(dir, id + ".db")}\n"
            + $"fleet:\n  agent_id: {id}\n  lease_ttl_seconds: {Ttl}\n  prefix: {prefix}\n");
}
