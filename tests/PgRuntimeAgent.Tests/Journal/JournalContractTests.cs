using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Journal;

/// <summary>
/// The behaviour every journal backend must have. SQLite runs it in the unit tests, PostgreSQL in the lab tests
/// (the file is linked into both projects).
/// </summary>
public abstract class JournalContractTests : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    protected SecretStore Secrets { get; } = new();

    /// <summary>Opens the journal under test (a fresh, empty one the first time; the same one again afterwards).</summary>
    private protected abstract Task<IJournal> OpenJournalAsync(CancellationToken cancellationToken);

    /// <summary>Runs raw SQL against the backend, bypassing the journal (to tamper with it). Use {entries} for the table.</summary>
    protected abstract Task ExecuteRawAsync(string sql, CancellationToken cancellationToken);

    /// <summary>Everything the backend stored, as text (file bytes or every row), to scan for secrets.</summary>
    protected abstract Task<string> DumpRawAsync(CancellationToken cancellationToken);

    public virtual ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static JournalRecord Note(string summary, string? cluster = "pg-test", string? correlation = null, string kind = JournalKinds.Note,
        string? topic = null) => JournalRecord.Create(kind, summary, new { text = summary, n = 1 }, cluster, correlationId: correlation, topic: topic);

    private async Task<IJournal> FilledAsync(int count)
    {
        var journal = await OpenJournalAsync(Ct);
        for (var i = 1; i <= count; i++)
        {
            await journal.AppendAsync(Note($"entry {i}"), Ct);
            Time.Advance(TimeSpan.FromSeconds(1));
        }

        return journal;
    }

    [Fact]
    public async Task Append_ThreeEntries_NumbersAndChainsThem()
    {
        await using var journal = await OpenJournalAsync(Ct);

        var a = await journal.AppendAsync(Note("first"), Ct);
        Time.Advance(TimeSpan.FromSeconds(5));
        var b = await journal.AppendAsync(Note("second"), Ct);
        var c = await journal.AppendAsync(Note("third"), Ct);

        Assert.Equal([1L, 2L, 3L], new[] { a.Seq, b.Seq, c.Seq });
        Assert.Equal(JournalJson.GenesisHash, a.PrevHash);
        Assert.Equal(a.Hash, b.PrevHash);
        Assert.Equal(b.Hash, c.PrevHash);
        Assert.Equal(Time.GetUtcNow(), b.Time);
        Assert.Matches("^[0-9a-f]{64}$", c.Hash);
        var stored = await journal.GetAsync(2, Ct);
        Assert.Equal(b, stored);
    }

    [Fact]
    public async Task Append_PayloadKeysInAnyOrder_StoredCanonically()
    {
        await using var journal = await OpenJournalAsync(Ct);
        var payload = JsonNode.Parse("""{ "b": 1, "a": { "z": [3, 2, 1], "y": "x" } }""");

        var entry = await journal.AppendAsync(new JournalRecord { Kind = JournalKinds.Note, Summary = "s", Payload = payload }, Ct);

        Assert.Equal("""{"a":{"y":"x","z":[3,2,1]},"b":1}""", entry.Payload);
        Assert.Equal(JournalJson.ComputeHash(entry), entry.Hash);
    }

    [Fact]
    public async Task Query_ByClusterKindTopicTimeAndCorrelation_ReturnsMatchingEntriesInOrder()
    {
        await using var journal = await OpenJournalAsync(Ct);
        await journal.AppendAsync(Note("a", cluster: "pg-test"), Ct);
        Time.Advance(TimeSpan.FromMinutes(1));
        var since = Time.GetUtcNow();
        await journal.AppendAsync(Note("b", cluster: "pg-meta"), Ct);
        await journal.AppendAsync(Note("intent", correlation: "act-1", kind: JournalKinds.ActionIntent, topic: "patroni.switchover"), Ct);
        await journal.AppendAsync(Note("undo intent", correlation: "act-1.undo-ab12", kind: JournalKinds.ActionIntent, topic: "patroni.switchover"), Ct);
        await journal.AppendAsync(Note("other", correlation: "act-10", kind: JournalKinds.ActionIntent, topic: "sql.analyze"), Ct);

        var byCluster = await journal.QueryAsync(new JournalQuery { Cluster = "pg-test" }, Ct);
        var bySince = await journal.QueryAsync(new JournalQuery { Since = since }, Ct);
        var byCorrelation = await journal.QueryAsync(new JournalQuery { CorrelationId = "act-1" }, Ct);
        var byTopic = await journal.QueryAsync(new JournalQuery { Topic = "sql.analyze" }, Ct);
        var byKinds = await journal.QueryAsync(new JournalQuery { Kinds = [JournalKinds.Note] }, Ct);
        var lastTwo = await journal.QueryAsync(new JournalQuery { Limit = 2, Descending = true }, Ct);

        Assert.Equal(["a", "intent", "undo intent", "other"], byCluster.Select(e => e.Summary));
        Assert.Equal(["b", "intent", "undo intent", "other"], bySince.Select(e => e.Summary));
        Assert.Equal(["intent", "undo intent"], byCorrelation.Select(e => e.Summary));
        Assert.Equal(["other"], byTopic.Select(e => e.Summary));
        Assert.Equal(["a", "b"], byKinds.Select(e => e.Summary));
        Assert.Equal([5L, 4L], lastTwo.Select(e => e.Seq));
    }

    [Fact]
    public async Task TryAppendIntent_ClusterHasOpenIntent_RefusesUntilOutcome()
    {
        await using var journal = await OpenJournalAsync(Ct);
        var first = await journal.TryAppendIntentAsync(Note("i1", correlation: "act-1", kind: JournalKinds.ActionIntent), Ct);

        var second = await journal.TryAppendIntentAsync(Note("i2", correlation: "act-2", kind: JournalKinds.ActionIntent), Ct);
        var otherCluster = await journal.TryAppendIntentAsync(Note("i3", cluster: "pg-meta", correlation: "act-3", kind: JournalKinds.ActionIntent), Ct);
        var open = await journal.GetOpenIntentsAsync("pg-test", Ct);
        await journal.AppendAsync(Note("o1", correlation: "act-1", kind: JournalKinds.ActionOutcome), Ct);
        var third = await journal.TryAppendIntentAsync(Note("i4", correlation: "act-4", kind: JournalKinds.ActionIntent), Ct);
        var allOpen = await journal.GetOpenIntentsAsync(null, Ct);

        Assert.NotNull(first);
        Assert.Null(second);
        Assert.NotNull(otherCluster);
        Assert.Equal(["act-1"], open.Select(e => e.CorrelationId));
        Assert.NotNull(third);
        Assert.Equal(["act-3", "act-4"], allOpen.Select(e => e.CorrelationId));
    }

    [Fact]
    public async Task TryAppendIntent_StaleFencingToken_IsRefusedOnceAnotherAgentJournaledALargerOne()
    {
        await using var journal = await OpenJournalAsync(Ct);
        static JournalRecord Gained(string agent, long token, string cluster = "pg-test") =>
            JournalRecord.Create(JournalKinds.Note, $"{agent} took {cluster}", new { agent, owns = true, token }, cluster, topic: JournalKinds.FleetGained);
        static JournalRecord Intent(string id, long? token, string cluster = "pg-test") =>
            JournalRecord.Create(JournalKinds.ActionIntent, id, new { id }, cluster, correlationId: id) with { FencingToken = token };

        await journal.AppendAsync(Gained("agent-a", 100), Ct);
        var own = await journal.TryAppendIntentAsync(Intent("act-a1", 100), Ct);
        await journal.AppendAsync(Note("o", correlation: "act-a1", kind: JournalKinds.ActionOutcome), Ct);

        // agent-b takes the cluster (token 140) and journals it; agent-a, thawed, still believes in token 100.
        await journal.AppendAsync(Gained("agent-b", 140), Ct);
        var fenced = await Assert.ThrowsAsync<FencedException>(() => journal.TryAppendIntentAsync(Intent("act-a2", 100), Ct));
        var theirs = await journal.TryAppendIntentAsync(Intent("act-b1", 140), Ct);
        await journal.AppendAsync(Note("o", correlation: "act-b1", kind: JournalKinds.ActionOutcome), Ct);
        var otherCluster = await journal.TryAppendIntentAsync(Intent("act-a3", 100, "pg-meta"), Ct);
        var alone = await journal.TryAppendIntentAsync(Intent("act-x", null), Ct);

        Assert.NotNull(own);
        Assert.Contains("taken by agent-b with token 140", fenced.Message, StringComparison.Ordinal);
        Assert.Contains("token 100", fenced.Message, StringComparison.Ordinal);
        Assert.Empty(await journal.QueryAsync(new JournalQuery { CorrelationId = "act-a2" }, Ct));
        Assert.NotNull(theirs);
        Assert.NotNull(otherCluster);
        Assert.NotNull(alone);
        Assert.True((await journal.VerifyAsync(Ct)).Ok);
    }

    [Fact]
    public async Task Append_ConcurrentWriters_KeepOneValidChain()
    {
        const int writers = 4;
        const int each = 25;
        var journals = new List<IJournal>();
        for (var i = 0; i < writers; i++)
        {
            journals.Add(await OpenJournalAsync(Ct));
        }

        await Task.WhenAll(journals.Select((j, w) => Task.Run(async () =>
        {
            for (var i = 0; i < each; i++)
            {
                await j.AppendAsync(Note($"w{w} #{i}"), Ct);
            }
        }, Ct)));
        var verification = await journals[0].VerifyAsync(Ct);
        var all = await journals[0].QueryAsync(new JournalQuery(), Ct);
        foreach (var j in journals)
        {
            await j.DisposeAsync();
        }

        Assert.True(verification.Ok, verification.Message);
        Assert.Equal(writers * each, verification.Checked);
        Assert.Equal(Enumerable.Range(1, writers * each).Select(i => (long)i), all.Select(e => e.Seq));
        Assert.Equal(writers * each, all.Select(e => e.Summary).Distinct().Count());
    }

    [Fact]
    public async Task Verify_CleanJournal_IsOk()
    {
        await using var journal = await FilledAsync(10);

        var result = await journal.VerifyAsync(Ct);

        Assert.True(result.Ok, result.Message);
        Assert.Equal(10, result.Checked);
        Assert.Equal(10, result.LastSeq);
        Assert.Null(result.FirstBadSeq);
    }

    [Fact]
    public async Task Verify_EmptyJournal_IsOk()
    {
        await using var journal = await OpenJournalAsync(Ct);

        var result = await journal.VerifyAsync(Ct);

        Assert.True(result.Ok);
        Assert.Equal(0, result.Checked);
    }

    [Fact]
    public async Task Verify_ChangedSummary_NamesTheEntry()
    {
        await using var journal = await FilledAsync(10);

        await ExecuteRawAsync("UPDATE {entries} SET summary = 'nothing happened' WHERE seq = 4", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        Assert.Equal(4, result.FirstBadSeq);
        Assert.Equal("changed", result.Problem);
        Assert.Contains("#4", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ChangedPayload_NamesTheEntry()
    {
        await using var journal = await FilledAsync(5);

        await ExecuteRawAsync("UPDATE {entries} SET payload = '{\"n\":2,\"text\":\"entry 2\"}' WHERE seq = 2", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.Equal(2, result.FirstBadSeq);
        Assert.Equal("changed", result.Problem);
    }

    [Fact]
    public async Task Verify_ChangedAndRehashedEntry_NamesTheEntry()
    {
        await using var journal = await FilledAsync(6);
        var original = (await journal.GetAsync(3, Ct))!;
        var forged = original with { Summary = "forged" };
        var forgedHash = JournalJson.ComputeHash(forged);

        await ExecuteRawAsync($"UPDATE {{entries}} SET summary = 'forged', hash = '{forgedHash}' WHERE seq = 3", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        Assert.Equal(3, result.FirstBadSeq);
        Assert.Equal("changed", result.Problem);
    }

    [Fact]
    public async Task Verify_RemovedEntry_NamesTheMissingOne()
    {
        await using var journal = await FilledAsync(8);

        await ExecuteRawAsync("DELETE FROM {entries} WHERE seq = 5", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        Assert.Equal(5, result.FirstBadSeq);
        Assert.Equal("missing", result.Problem);
        Assert.Contains("#5 is missing", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_RemovedLastEntry_ReportsTruncation()
    {
        await using var journal = await FilledAsync(8);

        await ExecuteRawAsync("DELETE FROM {entries} WHERE seq >= 7", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        Assert.Equal(7, result.FirstBadSeq);
        Assert.Equal("truncated", result.Problem);
    }

    [Fact]
    public async Task Verify_SwappedEntries_ReportsReorder()
    {
        await using var journal = await FilledAsync(8);

        // Move entries 5 and 6 into each other's places (their sequence numbers swap).
        await ExecuteRawAsync("UPDATE {entries} SET seq = -5 WHERE seq = 5", Ct);
        await ExecuteRawAsync("UPDATE {entries} SET seq = 5 WHERE seq = 6", Ct);
        await ExecuteRawAsync("UPDATE {entries} SET seq = 6 WHERE seq = -5", Ct);
        var result = await journal.VerifyAsync(Ct);

        Assert.False(result.Ok);
        Assert.Equal(5, result.FirstBadSeq);
        Assert.Equal("reordered", result.Problem);
    }

    [Fact]
    public async Task Append_SecretsInSummaryAndPayload_NeverStored()
    {
        var patroni = Secrets.Add("pg-test/patroni_password", "Patroni.API-s3cret", "inventory:1");
        Secrets.Add("pg-test/admin_password", "DBUser.DBA-pass", "inventory:2");
        Secrets.Add("pg-test/weird", "quote\"back\\slash", "inventory:3");
        await using var journal = await OpenJournalAsync(Ct);

        await journal.AppendAsync(new JournalRecord
        {
            Kind = JournalKinds.ActionOutcome,
            Summary = "curl -u postgres:Patroni.API-s3cret http://127.0.0.11:8008/switchover",
            Cluster = "pg-test",
            Payload = new JsonObject
            {
                ["output"] = "password=DBUser.DBA-pass ok",
                ["quoted"] = "x quote\"back\\slash y",
                ["DBUser.DBA-pass"] = "key is a secret",
                ["ref"] = patroni.ToString(),
                ["nested"] = new JsonArray("Patroni.API-s3cret", 1, true),
            },
        }, Ct);
        var raw = await DumpRawAsync(Ct);
        var entries = await journal.QueryAsync(new JournalQuery(), Ct);

        Assert.NotEmpty(raw);
        foreach (var secret in Secrets.Values)
        {
            Assert.DoesNotContain(secret, raw, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, entries[0].Summary + entries[0].Payload, StringComparison.Ordinal);
        }

        Assert.Contains(SecretRef.Mask, entries[0].Summary, StringComparison.Ordinal);
        Assert.True((await journal.VerifyAsync(Ct)).Ok);
    }

    [Fact]
    public async Task ReadAll_AfterAppends_YieldsEveryEntryInOrder()
    {
        await using var journal = await FilledAsync(7);

        var seqs = new List<long>();
        await foreach (var entry in journal.ReadAllAsync(Ct))
        {
            seqs.Add(entry.Seq);
        }

        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], seqs);
    }

    [Fact]
    public async Task Open_ExistingJournal_KeepsEntriesAndChain()
    {
        await using (var first = await FilledAsync(3))
        {
        }

        await using var second = await OpenJournalAsync(Ct);
        var entry = await second.AppendAsync(Note("after reopen"), Ct);

        Assert.Equal(4, entry.Seq);
        Assert.True((await second.VerifyAsync(Ct)).Ok);
    }
}
