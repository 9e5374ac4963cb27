using System.Diagnostics;
using System.Security.Cryptography;
using Npgsql;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.LabTests.Agent;
using PgRuntimeAgent.Secrets;

using static PgRuntimeAgent.LabTests.Fleet.FleetDaemon;

namespace PgRuntimeAgent.LabTests.Fleet;

/// <summary>
/// Three real <c>pgra run</c> daemons share pg-test through the lab's etcd and one journal in pg-meta (the lab's
/// PostgreSQL on the admin address, outside the cluster under test). A full WAL disk takes pg-test's primary down;
/// the agent that owns the cluster is killed with SIGKILL right after it journaled its first intent. Another agent
/// takes the cluster within the lease ttl, settles that intent from the shared journal and finishes the failover:
/// one fence and one promotion (one new timeline), the post-mortem names both agents, and <c>pgra journal verify</c> passes.
/// </summary>
public sealed class FleetFailoverLabTests
{
    private const int Ttl = 4;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DiskFull_OwnerKilledRightAfterItsIntent_AnotherAgentTakesOverAndFinishes_OneFenceOnePromotion()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var (connectionString, password) = lab.JournalDatabase("pgra-fleet-test");
        var schema = "pgra_fleet_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var dir = Directory.CreateTempSubdirectory("pgra-fleet-drill-").FullName;
        var prefix = $"/pgra-test-{Guid.NewGuid():n}/";
        var view = new FleetSettings { AgentId = "probe", Prefix = prefix };
        IReadOnlyList<Uri> etcd = [lab.EtcdUrl];
        var settings = FleetDaemon.LabSettings(lab, "http", "journal", "detection", "policy", "notify")
            .Replace("  interval_seconds: 2\n", "  interval_seconds: 1\n", StringComparison.Ordinal)
            + $"journal:\n  backend: postgres\n  connection_string: \"{connectionString}\"\n  password: \"{password}\"\n  schema: {schema}\n"
            + "policy:\n  classes: { member.fence: 3, patroni.failover: 3 }\n"
            // The loopback lab's disk-full thresholds (FaultDrill.LoopbackDetection); after a failover the inventory's
            // declared primary differs from the leader, which is not this test's business.
            + "detection:\n  silenced: [inventory-drift]\n  thresholds:\n    primary-disk-full: { free_ratio: 0, log_window_seconds: 20 }\n";
        string Settings(string id) => settings + $"fleet:\n  agent_id: {id}\n  lease_ttl_seconds: {Ttl}\n  prefix: {prefix}\n";

        var daemons = new List<FleetDaemon>();
        FaultDrillResult? drill = null;
        FleetDaemon? owner = null;
        JournalEntry? killedAfter = null;
        long before = 0;
        try
        {
            // agent-a takes the cluster first; agent-b and agent-c join.
            daemons.Add(FleetDaemon.Start(lab, dir, "agent-a", Settings("agent-a")));
            var first = await WaitOwnerAsync(view, etcd, lab.Cluster, o => o is not null, TimeSpan.FromSeconds(60));
            Assert.True(first is not null, $"nobody took {lab.Cluster}: {daemons[0].Output()}");
            daemons.Add(FleetDaemon.Start(lab, dir, "agent-b", Settings("agent-b")));
            daemons.Add(FleetDaemon.Start(lab, dir, "agent-c", Settings("agent-c")));
            await WaitAsync(async () => (await FleetView.ReadAsync(view, etcd, Ct)).Agents.Count == 3, TimeSpan.FromSeconds(60),
                () => string.Join("\n---\n", daemons.Select(d => d.Output())));
            // Rebalancing: once the others have lived a ttl, the quiet cluster moves to the agent rendezvous hashing prefers.
            var preferred = ClusterLeases.Preferred(["agent-a", "agent-b", "agent-c"], lab.Cluster)!;
            var joined = Stopwatch.StartNew();
            var settled = await WaitOwnerAsync(view, etcd, lab.Cluster, o => o?.Agent == preferred, TimeSpan.FromSeconds(30));
            Assert.True(settled is not null, $"{lab.Cluster} did not move to {preferred}, which rendezvous hashing prefers");
            AgentLab.Report(preferred == first!.Agent
                ? $"fleet drill: {first.Agent} took {lab.Cluster} and is the agent rendezvous hashing prefers among the three: it keeps it"
                : $"fleet drill: {first.Agent} handed {lab.Cluster} to {preferred} (rendezvous hashing prefers it) {joined.Elapsed.TotalSeconds:0.0} s after the others joined (ttl {Ttl} s), token {first.Token} -> {settled!.Token}");
            owner = daemons.Single(d => d.Id == preferred);
            await Task.Delay(TimeSpan.FromSeconds(5), Ct); // the owner has sensed the healthy cluster a few times

            await using var journal = await PostgresJournal.OpenAsync(connectionString, password, schema, new SecretStore(), TimeProvider.System, Ct);
            before = (await journal.QueryAsync(new JournalQuery { Descending = true, Limit = 1 }, Ct)).FirstOrDefault()?.Seq ?? 0;
            drill = await AgentLab.DrillAsync(lab, new FaultDrillOptions
            {
                Scenario = "disk-full",
                Cap = TimeSpan.FromSeconds(150),
                Watchers = "three pgra run daemons",
                AfterInject = async (ctx, ct) =>
                {
                    // The owner's first intent on the cluster: kill it with SIGKILL at once, in the middle of that action.
                    var until = Stopwatch.StartNew();
                    while (until.Elapsed < TimeSpan.FromSeconds(90) && killedAfter is null)
                    {
                        killedAfter = (await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.ActionIntent], Cluster = lab.Cluster, AfterSeq = before }, ct))
                            .FirstOrDefault();
                        if (killedAfter is null)
                        {
                            await Task.Delay(50, ct);
                        }
                    }

                    Assert.True(killedAfter is not null, $"{owner.Id} journaled no intent within 90 s of the fault: {owner.Output()}");
                    owner.Signal("KILL");
                    AgentLab.Report($"fleet drill: {owner.Id} killed (SIGKILL) {(TimeProvider.System.GetUtcNow() - ctx.InjectedAt).TotalSeconds:0.0} s after the fault, right after its intent #{killedAfter.Seq}: {killedAfter.Summary}");
                },
            }, agent: null);

            AgentLab.Report(drill.Describe());
            var next = await WaitOwnerAsync(view, etcd, lab.Cluster, o => o is not null && o.Agent != owner.Id, TimeSpan.FromSeconds(5));
            Assert.True(next is not null, $"no other agent owns {lab.Cluster}");

            // The new owner resolves the incident once writes are back.
            await WaitAsync(async () => (await IncidentStore.ListAsync(journal, Ct)).Any(i => i.Cluster == lab.Cluster && i.State == IncidentState.Resolved && i.OpenedSeq > before),
                TimeSpan.FromSeconds(120), () => string.Join("\n---\n", daemons.Select(d => $"{d.Id}:\n{d.Output()}")));
        }
        finally
        {
            foreach (var d in daemons)
            {
                await d.StopAsync();
                await File.WriteAllTextAsync(Path.Combine(dir, d.Id + ".log"), d.Output(), CancellationToken.None);
                d.Dispose();
            }
        }

        await using (var journal = await PostgresJournal.OpenAsync(connectionString, password, schema, new SecretStore(), TimeProvider.System, Ct))
        {
            var entries = await journal.QueryAsync(new JournalQuery { Cluster = lab.Cluster }, Ct);
            var gained = entries.Where(e => e.Kind == JournalKinds.Note && e.Topic == JournalKinds.FleetGained && e.Seq > killedAfter!.Seq).ToList();
            var takeover = Assert.Single(gained);
            using var note = System.Text.Json.JsonDocument.Parse(takeover.Payload);
            var successor = daemons.Single(d => d.Id == note.RootElement.GetProperty("agent").GetString());
            Assert.NotEqual(owner!.Id, successor.Id);
            Assert.Equal(owner.Id, note.RootElement.GetProperty("previous_agent").GetString());
            Assert.Contains($"over from {owner.Id}", takeover.Summary, StringComparison.Ordinal);
            var movedAfter = takeover.Time - killedAfter!.Time;
            AgentLab.Report($"fleet drill: {successor.Id} took {lab.Cluster} over {movedAfter.TotalSeconds:0.0} s after {owner.Id}'s intent (ttl {Ttl} s): {takeover.Summary}");
            Assert.True(movedAfter < TimeSpan.FromSeconds(2 * Ttl + 2), $"the takeover came {movedAfter.TotalSeconds:0.0} s after the killed agent's intent (ttl {Ttl} s)");

            // The killed agent's intent is settled by the new owner; exactly one fence and one failover happened.
            var outcomes = entries.Where(e => e.Kind == JournalKinds.ActionOutcome).Select(e => (Entry: e, Outcome: e.PayloadAs<OutcomePayload>()!)).ToList();
            var settled = Assert.Single(outcomes, o => o.Entry.CorrelationId == killedAfter.CorrelationId);
            Assert.True(settled.Outcome.Reconciled, $"the killed agent's intent was not reconciled: {settled.Entry.Summary}");
            Assert.Equal(successor.Id, settled.Outcome.Agent);
            var fences = outcomes.Where(o => o.Outcome.Action.Kind == "member.fence" && o.Outcome.Status == ActionOutcomeStatus.Succeeded).ToList();
            var failovers = outcomes.Where(o => o.Outcome.Action.Kind == "patroni.failover" && o.Outcome.Status == ActionOutcomeStatus.Succeeded).ToList();
            AgentLab.Report("fleet drill outcomes: " + string.Join(" | ", outcomes.Select(o => $"#{o.Entry.Seq} {o.Outcome.Agent ?? "?"} {o.Entry.Summary}")));
            // When the killed owner's fence ran before the kill, its intent is reconciled as succeeded and the new
            // owner's skill does not fence again (a note says so); otherwise the new owner fences, once.
            foreach (var skipped in entries.Where(e => e.Kind == JournalKinds.Note && e.Summary.StartsWith("not repeated: ", StringComparison.Ordinal)))
            {
                AgentLab.Report($"fleet drill: #{skipped.Seq} {skipped.Summary}");
            }

            Assert.Single(fences);
            Assert.Empty(await journal.GetOpenIntentsAsync(lab.Cluster, Ct));
            Assert.True(drill!.Restored, drill.Describe());
            Assert.NotEqual(drill.LeaderBefore, drill.LeaderAfter);

            // Any agent reads the shared journal: the post-mortem names both agents and who did what.
            var incident = (await IncidentStore.ListAsync(journal, Ct)).Last(i => i.Cluster == lab.Cluster && i.OpenedSeq > before);
            var report = PostMortemBuilder.Build((await IncidentStore.LoadAsync(journal, incident.Id, Ct))!);
            AgentLab.Report($"fleet drill post-mortem {report.Incident}: {report.Summary}");
            foreach (var part in report.Agents)
            {
                AgentLab.Report($"  {part.Agent}: {part.Part}");
            }

            // One failover: leadership moved once (one new timeline), by the agent's patroni.failover or, once the fence
            // released the key early enough in the crash loop, by Patroni's own race; never both.
            AgentLab.Report($"fleet drill: {report.OldLeader} (timeline {report.OldTimeline}) -> {report.NewLeader} (timeline {report.NewTimeline}); failovers by an agent: {failovers.Count}");
            Assert.True(failovers.Count <= 1, $"{failovers.Count} failovers");
            Assert.Equal(drill.LeaderBefore, report.OldLeader);
            Assert.Equal(drill.LeaderAfter, report.NewLeader);
            Assert.Equal(report.OldTimeline + 1, report.NewTimeline);
            Assert.Contains(report.Agents, a => a.Agent == owner.Id && a.Actions.Count > 0);
            Assert.Contains(report.Agents, a => a.Agent == successor.Id && a.TookOverFrom == owner.Id && a.Reconciled.Count == 1);
            Assert.Contains($"then {successor.Id} (took over from {owner.Id}", report.Summary, StringComparison.Ordinal);
        }

        // `pgra journal verify` with another agent's settings: the chain written by three processes is intact.
        var other = daemons.First(d => d.Id != owner.Id);
        var (code, output) = await PgraAsync(lab, other.SettingsPath, "journal", "verify");
        AgentLab.Report($"fleet drill: pgra journal verify (shared journal, schema {schema}): exit {code}: {output.Trim()}");
        Assert.True(code == 0, output);

        await DropSchemaAsync(connectionString, password, schema);
        Directory.Delete(dir, recursive: true);
    }

    private static async Task<(int Code, string Output)> PgraAsync(LabInfo lab, string settings, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = RepoPaths.Root };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "pgra.dll"), "-i", lab.InventoryPath, "--settings", settings }.Concat(args))
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        return (p.ExitCode, await stdout + await stderr);
    }

    private static async Task DropSchemaAsync(string connectionString, string password, string schema)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Password = password }.ConnectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
        await drop.ExecuteNonQueryAsync(CancellationToken.None);
    }
}
