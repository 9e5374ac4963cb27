using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Bench.Journal;

/// <summary>
/// SQLite journal throughput: appends of snapshot-sized entries (one writer, then two concurrent writers), full-chain
/// verification and a cluster query. Each append is one durable transaction (WAL, synchronous=FULL).
/// </summary>
internal sealed class JournalBenchmark : IBenchmark
{
    public string Name => "journal";

    public string Description => "SQLite journal: append (1 and 2 writers), verify and query throughput";

    private const int Appends = 2000;

    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("pgra-bench-journal-").FullName;
        try
        {
            var secrets = new SecretStore();
            secrets.Add("bench/password", "Bench.Secret-Value", "bench");
            var path = Path.Combine(dir, "journal.db");
            var payload = SnapshotLikePayload();
            await using (var journal = await SqliteJournal.OpenAsync(path, secrets, TimeProvider.System, cancellationToken))
            {
                var latencies = new double[Appends];
                var total = Stopwatch.StartNew();
                for (var i = 0; i < Appends; i++)
                {
                    var one = Stopwatch.StartNew();
                    await journal.AppendAsync(new JournalRecord
                    {
                        Kind = JournalKinds.Snapshot,
                        Summary = $"snapshot {i}",
                        Cluster = i % 2 == 0 ? "pg-test" : "pg-meta",
                        Payload = payload,
                    }, cancellationToken);
                    latencies[i] = one.Elapsed.TotalMilliseconds;
                }

                total.Stop();
                Array.Sort(latencies);
                var bytes = payload.ToJsonString().Length;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"append, 1 writer : {Appends} entries of ~{bytes} B in {total.Elapsed.TotalSeconds:0.00} s = {Appends / total.Elapsed.TotalSeconds:0} entries/s; latency p50 {latencies[Appends / 2]:0.00} ms, p99 {latencies[Appends * 99 / 100]:0.00} ms"));

                var verify = Stopwatch.StartNew();
                var result = await journal.VerifyAsync(cancellationToken);
                verify.Stop();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"verify           : {result.Checked} entries in {verify.Elapsed.TotalSeconds:0.00} s = {result.Checked / verify.Elapsed.TotalSeconds:0} entries/s (ok={result.Ok})"));

                var query = Stopwatch.StartNew();
                var found = await journal.QueryAsync(new JournalQuery { Cluster = "pg-test", Kinds = [JournalKinds.Snapshot], Limit = 100, Descending = true }, cancellationToken);
                query.Stop();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"query            : last 100 snapshots of one cluster in {query.Elapsed.TotalMilliseconds:0.0} ms ({found.Count} rows)"));
            }

            var concurrentPath = Path.Combine(dir, "concurrent.db");
            await using var a = await SqliteJournal.OpenAsync(concurrentPath, secrets, TimeProvider.System, cancellationToken);
            await using var b = await SqliteJournal.OpenAsync(concurrentPath, secrets, TimeProvider.System, cancellationToken);
            var both = Stopwatch.StartNew();
            await Task.WhenAll(new[] { a, b }.Select(j => Task.Run(async () =>
            {
                for (var i = 0; i < Appends / 2; i++)
                {
                    await j.AppendAsync(new JournalRecord { Kind = JournalKinds.Snapshot, Summary = "s", Cluster = "pg-test", Payload = payload }, cancellationToken);
                }
            }, cancellationToken)));
            both.Stop();
            var check = await a.VerifyAsync(cancellationToken);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"append, 2 writers: {Appends} entries in {both.Elapsed.TotalSeconds:0.00} s = {Appends / both.Elapsed.TotalSeconds:0} entries/s; chain ok={check.Ok}, {check.Checked} entries"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"file size        : {new FileInfo(path).Length / 1024.0 / 1024.0:0.0} MiB for {Appends} entries"));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>About the size of a three-member cluster snapshot.</summary>
    private static JsonObject SnapshotLikePayload()
    {
        var members = new JsonArray();
        for (var m = 1; m <= 3; m++)
        {
            members.Add(new JsonObject
            {
                ["name"] = $"pg-test-{m}",
                ["role"] = m == 1 ? "leader" : "replica",
                ["state"] = "streaming",
                ["timeline"] = 7,
                ["lagBytes"] = m * 1024,
                ["lsn"] = "0/5A3C1F28",
                ["patroni"] = new JsonObject { ["healthy"] = true, ["latencyMs"] = 3.2, ["tags"] = new JsonObject { ["nofailover"] = false } },
                ["metrics"] = new JsonObject { ["tps"] = 1234.5, ["connections"] = 87, ["diskFreeBytes"] = 53_687_091_200, ["walBytes"] = 1_073_741_824 },
                ["logs"] = new JsonArray("LOG:  checkpoint complete: wrote 1532 buffers (9.4%)", "LOG:  automatic vacuum of table \"test.public.pgbench_accounts\""),
            });
        }

        return new JsonObject
        {
            ["cluster"] = "pg-test",
            ["observedAt"] = "2026-03-01T12:00:00.0000000Z",
            ["members"] = members,
            ["leader"] = "pg-test-1",
            ["sensors"] = new JsonObject { ["patroni"] = "ok", ["metrics"] = "ok", ["logs"] = "ok", ["backup"] = "ok" },
        };
    }
}
