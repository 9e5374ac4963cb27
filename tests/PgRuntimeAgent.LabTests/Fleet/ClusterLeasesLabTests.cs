using System.Text.Json.Nodes;
using PgRuntimeAgent.Fleet;
using PgRuntimeAgent.Sensing.Dcs;

namespace PgRuntimeAgent.LabTests.Fleet;

/// <summary>
/// Two agents' leases on the lab's real etcd (127.0.0.10:2379), each test under a prefix of its own: one owner per
/// cluster, a frozen owner's cluster moves to the other within the ttl, and the fencing token refuses the old owner.
/// </summary>
public sealed class ClusterLeasesLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ClusterLeases Agent(LabInfo lab, string id, string prefix, int ttl = 3) =>
        new(new FleetSettings { AgentId = id, LeaseTtlSeconds = ttl, Prefix = prefix }, [lab.EtcdUrl], [lab.Cluster], TimeProvider.System);

    private static string NewPrefix() => $"/pgra-test-{Guid.NewGuid():n}/";

    /// <summary>Rounds of both agents until one owns the cluster (the preferred one at once; the other after a ttl).</summary>
    private static async Task<(ClusterLeases Owner, ClusterLeases Other)> SettleAsync(ClusterLeases a, ClusterLeases b, string cluster)
    {
        for (var i = 0; i < 20; i++)
        {
            await a.RoundAsync(Ct);
            await b.RoundAsync(Ct);
            if (a.Owns(cluster) || b.Owns(cluster))
            {
                return a.Owns(cluster) ? (a, b) : (b, a);
            }

            await Task.Delay(500, Ct);
        }

        throw new InvalidOperationException($"neither agent took {cluster}: {a.Problem} / {b.Problem}");
    }

    [Fact]
    public async Task TwoAgents_OneOwnsTheCluster_AndAFrozenOwnersClusterMovesWithinTheTtlWithALargerToken()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        var a = Agent(lab, "agent-a", prefix);
        var b = Agent(lab, "agent-b", prefix);
        try
        {
            var (owner, other) = await SettleAsync(a, b, lab.Cluster);
            await other.RoundAsync(Ct);
            Assert.False(other.Owns(lab.Cluster));
            Assert.Equal(["agent-a", "agent-b"], other.Agents);
            Assert.Equal(owner.AgentId, other.Owners[lab.Cluster].Agent);
            var token = owner.TokenOf(lab.Cluster)!.Value;
            var confirmed = await owner.ConfirmAsync(lab.Cluster, Ct);
            Assert.True(confirmed.Held, confirmed.Detail);
            var refused = await other.ConfirmAsync(lab.Cluster, Ct);
            Assert.False(refused.Held);
            Assert.Contains($"does not own {lab.Cluster}", refused.Detail, StringComparison.Ordinal);

            // The owner freezes: it renews nothing. The other takes the cluster once the lease has run out in etcd.
            owner.Frozen = true;
            var frozenAt = System.Diagnostics.Stopwatch.StartNew();
            while (!other.Owns(lab.Cluster) && frozenAt.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(250, Ct);
                await other.RoundAsync(Ct);
            }

            var moved = frozenAt.Elapsed;
            Assert.True(other.Owns(lab.Cluster), $"{other.AgentId} did not take {lab.Cluster} in {moved.TotalSeconds:0.0} s: {other.Problem}");
            Assert.True(moved < TimeSpan.FromSeconds(3 + 3), $"took {moved.TotalSeconds:0.0} s with a 3 s ttl");
            Assert.True(other.TokenOf(lab.Cluster) > token);

            // Thawed, the old owner's own clock already says its lease ran out, and etcd agrees: it may not act.
            Assert.False(owner.Owns(lab.Cluster));
            var stale = await owner.ConfirmAsync(lab.Cluster, Ct);
            Assert.False(stale.Held);
            owner.Frozen = false;
            await owner.RoundAsync(Ct);
            Assert.False(owner.Owns(lab.Cluster));
            Assert.Equal(other.AgentId, owner.Owners[lab.Cluster].Agent);
            Assert.Contains("lost", owner.LastChange(lab.Cluster)!.Detail, StringComparison.Ordinal);
        }
        finally
        {
            await a.ReleaseAllAsync(Ct);
            await b.ReleaseAllAsync(Ct);
            await DeletePrefixAsync(lab, prefix);
        }
    }

    [Fact]
    public async Task AgentJoins_AfterATtlTheQuietClustersItIsPreferredForMoveToIt_ABusyOneStaysUntilQuiet_NeverTwoOwners()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        string[] clusters = [.. Enumerable.Range(1, 12).Select(i => $"pg-r{i:00}")];
        var busy = new HashSet<string>(StringComparer.Ordinal);
        ClusterLeases Make(string id) => new(new FleetSettings { AgentId = id, LeaseTtlSeconds = 3, Prefix = prefix }, [lab.EtcdUrl], clusters, TimeProvider.System)
        {
            CanHandOff = (c, _) => Task.FromResult(!busy.Contains(c)),
        };

        var a = Make("agent-a");
        var b = Make("agent-b");
        try
        {
            await a.RoundAsync(Ct);
            Assert.Equal(clusters, a.Owned());
            var forB = clusters.Where(c => ClusterLeases.Preferred(["agent-a", "agent-b"], c) == "agent-b").ToList();
            Assert.True(forB.Count >= 2, $"rendezvous hashing prefers agent-b for {forB.Count} of 12");
            busy.Add(forB[0]);

            // agent-b joins. agent-a hands nothing over until agent-b has lived a whole ttl, then at most a quarter of
            // its clusters per round, and only the quiet ones; no cluster has two owners at any round.
            var joined = System.Diagnostics.Stopwatch.StartNew();
            TimeSpan? firstMove = null;
            while (joined.Elapsed < TimeSpan.FromSeconds(20) && !forB.Skip(1).All(c => b.Owned().Contains(c)))
            {
                await b.RoundAsync(Ct);
                await a.RoundAsync(Ct);
                Assert.Empty(a.Owned().Intersect(b.Owned()));
                if (firstMove is null && a.Owned().Count < clusters.Length)
                {
                    firstMove = joined.Elapsed;
                    Assert.True(clusters.Length - a.Owned().Count <= clusters.Length / 4, $"{clusters.Length - a.Owned().Count} clusters left agent-a in one round");
                }

                await Task.Delay(500, Ct);
            }

            Assert.Equal(forB.Skip(1).Order(StringComparer.Ordinal), b.Owned());
            Assert.Equal(clusters.Except(forB.Skip(1)).Order(StringComparer.Ordinal), a.Owned());
            Assert.True(firstMove >= TimeSpan.FromSeconds(3), $"the first cluster moved {firstMove?.TotalSeconds:0.0} s after agent-b joined (ttl 3 s)");
            Assert.Contains("handed over to agent-b", a.LastChange(forB[1])!.Detail, StringComparison.Ordinal);
            Assert.True(b.TokenOf(forB[1]) is not null && (await b.ConfirmAsync(forB[1], Ct)).Held);
            Assert.False((await a.ConfirmAsync(forB[1], Ct)).Held);

            // The busy cluster moves once it is quiet.
            busy.Clear();
            for (var i = 0; i < 10 && !b.Owns(forB[0]); i++)
            {
                await a.RoundAsync(Ct);
                await b.RoundAsync(Ct);
                Assert.Empty(a.Owned().Intersect(b.Owned()));
                await Task.Delay(300, Ct);
            }

            Assert.True(b.Owns(forB[0]), $"{forB[0]} did not move once quiet");
        }
        finally
        {
            await a.ReleaseAllAsync(Ct);
            await b.ReleaseAllAsync(Ct);
        }
    }

    [Fact]
    public async Task FleetOwnerRead_NamesTheOwnerItsTokenAndTheLiveAgents_FromTheLabsEtcd()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        var a = Agent(lab, "agent-a", prefix);
        var dir = Directory.CreateTempSubdirectory("pgra-fleet-read-").FullName;
        try
        {
            await a.RoundAsync(Ct);
            Assert.True(a.Owns(lab.Cluster), a.Problem);
            var workspace = PgRuntimeAgent.Workspaces.Workspace.Load(lab.InventoryPath, lab.SettingsPath, new Dictionary<string, string?>(), dir, null);
            await using var context = new PgRuntimeAgent.Reads.ReadContext(workspace.Topology, workspace.Settings.Sensing, workspace.Settings.Endpoints,
                workspace.Settings.Journal, workspace.Secrets, TimeProvider.System, dir)
            {
                Fleet = new FleetSettings { AgentId = "probe", Prefix = prefix },
                FleetEtcd = [lab.EtcdUrl],
            };

            var read = await PgRuntimeAgent.Reads.ReadCatalog.RunAsync(context, "fleet.owner", new PgRuntimeAgent.Reads.ReadRequest { Cluster = lab.Cluster }, Ct);

            Assert.True((bool)read["ok"]!, read.ToJsonString());
            var owner = read["result"]!["owner"]!;
            Assert.Equal(("agent-a", a.TokenOf(lab.Cluster)!.Value, false), ((string?)owner["agent"], (long)owner["token"]!, (bool)owner["this_agent"]!));
            Assert.Contains(read["result"]!["agents"]!.AsArray(), x => (string?)x!["id"] == "agent-a");
        }
        finally
        {
            await a.ReleaseAllAsync(Ct);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ConfirmAsync_AfterTheOwnerKeyWasTakenInEtcdBehindTheAgentsBack_RefusesAndNamesTheNewHolder()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        var a = Agent(lab, "agent-a", prefix, ttl: 10);
        try
        {
            for (var i = 0; i < 5 && !a.Owns(lab.Cluster); i++)
            {
                await a.RoundAsync(Ct);
            }

            Assert.True(a.Owns(lab.Cluster), a.Problem);
            Assert.True((await a.ConfirmAsync(lab.Cluster, Ct)).Held);

            // By hand, as an operator or a confused second agent would: the key is deleted and written again for another agent.
            var etcd = new EtcdGateway([lab.EtcdUrl]);
            var key = EtcdGateway.B64(prefix + "owners/" + lab.Cluster);
            await etcd.PostAsync("v3/kv/deleterange", new JsonObject { ["key"] = key }, TimeSpan.FromSeconds(3), Ct);
            await etcd.PostAsync("v3/kv/put", new JsonObject { ["key"] = key, ["value"] = EtcdGateway.B64("intruder") }, TimeSpan.FromSeconds(3), Ct);

            // The agent's local lease is alive, so only etcd can refuse it: it does, and the agent lets the cluster go.
            Assert.True(a.Owns(lab.Cluster));
            var check = await a.ConfirmAsync(lab.Cluster, Ct);
            Assert.False(check.Held);
            Assert.Contains("intruder holds it now", check.Detail, StringComparison.Ordinal);
            Assert.False(a.Owns(lab.Cluster));
        }
        finally
        {
            await a.ReleaseAllAsync(Ct);
            await DeletePrefixAsync(lab, prefix);
        }
    }

    [Fact]
    public async Task SameAgentIdTwice_TheSecondTakesNothingWhileTheFirstLives()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        var first = Agent(lab, "agent-a", prefix);
        var second = Agent(lab, "agent-a", prefix);
        try
        {
            await first.RoundAsync(Ct);
            await second.RoundAsync(Ct);
            Assert.True(first.Owns(lab.Cluster), first.Problem);
            Assert.False(second.Owns(lab.Cluster));
            Assert.Contains("another live agent is registered as 'agent-a'", second.Problem, StringComparison.Ordinal);
        }
        finally
        {
            await first.ReleaseAllAsync(Ct);
            await second.ReleaseAllAsync(Ct);
            await DeletePrefixAsync(lab, prefix);
        }
    }

    [Fact]
    public async Task PgraFleet_ListsTheAgentsAndEachClustersOwnerWithItsToken_AndExits1ForAClusterNobodyOwns()
    {
        var lab = await LabGuard.RequireLabAsync();
        var prefix = NewPrefix();
        var dir = Directory.CreateTempSubdirectory("pgra-fleet-cli-").FullName;
        var settings = Path.Combine(dir, "pgra.yml");
        await File.WriteAllTextAsync(settings, $"fleet:\n  prefix: {prefix}\n", Ct);
        var a = Agent(lab, "agent-a", prefix, ttl: 10);
        try
        {
            for (var i = 0; i < 5 && !a.Owns(lab.Cluster); i++)
            {
                await a.RoundAsync(Ct);
            }

            Assert.True(a.Owns(lab.Cluster), a.Problem);
            var token = a.TokenOf(lab.Cluster)!.Value;
            var (jsonCode, json, jsonError) = await PgraAsync("-i", lab.InventoryPath, "--settings", settings, "fleet", "--json");
            var (textCode, text, _) = await PgraAsync("-i", lab.InventoryPath, "--settings", settings, "fleet");
            await a.ReleaseAllAsync(Ct);
            var (freeCode, free, _) = await PgraAsync("-i", lab.InventoryPath, "--settings", settings, "fleet");

            Assert.True(jsonCode == 0, $"exit {jsonCode}: {jsonError}");
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var agent = Assert.Single(doc.RootElement.GetProperty("agents").EnumerateArray());
            Assert.Equal("agent-a", agent.GetProperty("id").GetString());
            Assert.Equal(Environment.ProcessId, agent.GetProperty("pid").GetInt32());
            var cluster = Assert.Single(doc.RootElement.GetProperty("clusters").EnumerateArray());
            Assert.Equal((lab.Cluster, "agent-a"), (cluster.GetProperty("cluster").GetString(), cluster.GetProperty("owner").GetString()));
            Assert.Equal(token, cluster.GetProperty("token").GetInt64());
            Assert.Equal(0, textCode);
            Assert.Contains($"owned by agent-a (token {token})", text, StringComparison.Ordinal);
            Assert.Equal(1, freeCode);
            Assert.Contains("no owner: no agent senses or acts on it", free, StringComparison.Ordinal);
        }
        finally
        {
            await a.ReleaseAllAsync(Ct);
            await DeletePrefixAsync(lab, prefix);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(int Code, string Out, string Error)> PgraAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await PgRuntimeAgent.Cli.CliApp.RunAsync(args, stdout, stderr, Ct);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static async Task DeletePrefixAsync(LabInfo lab, string prefix)
    {
        var etcd = new EtcdGateway([lab.EtcdUrl]);
        await etcd.PostAsync("v3/kv/deleterange", new JsonObject { ["key"] = EtcdGateway.B64(prefix), ["range_end"] = EtcdGateway.PrefixEnd(prefix) },
            TimeSpan.FromSeconds(3), CancellationToken.None);
    }
}
