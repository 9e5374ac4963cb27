using System.Globalization;
using PgRuntimeAgent.Sensing.Postgres;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Tests.Detection.Workload;

/// <summary>Statement counters as the leader's statements_top probe reports them (cumulative).</summary>
internal sealed record Stmt(string QueryId, long Calls, double TotalMs, string Query = "SELECT id, amount, status FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2");

/// <summary>The healthy lab snapshot with the leader's workload probes replaced: statements, table counters, advice.</summary>
internal static class WorkloadKit
{
    public const string Hot = "-7973933697010830831";
    public const string Other = "1234";

    public static ClusterSnapshot At(double seconds, IReadOnlyList<Stmt> statements, string statsReset = "2026-11-22T20:00:00.0000000+00:00",
        (long SeqScans, long SeqRead, long Live)? orders = null, IndexAdvice? advice = null, string? leader = null)
    {
        var s = DetectionKit.Healthy(seconds);
        var holder = leader ?? s.Leader!;
        if (leader is not null)
        {
            s = s with
            {
                Leader = leader,
                Patroni = s.Patroni! with { Leader = leader },
                Members = s.Members.Select(m => m with { InRecovery = m.Name != leader }).ToList(),
                Postgres = s.Postgres.Select(p => p with { InRecovery = p.Member != leader }).ToList(),
            };
        }

        var probes = new List<ProbeResult>
        {
            new()
            {
                Name = "statements_top", Status = "ok",
                Rows = statements.Select(st => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?>
                {
                    ["queryid"] = st.QueryId, ["datname"] = "test", ["calls"] = Str(st.Calls), ["total_exec_ms"] = Str(st.TotalMs),
                    ["mean_exec_ms"] = Str(st.Calls > 0 ? st.TotalMs / st.Calls : 0), ["rows"] = Str(st.Calls * 10), ["shared_blks_hit"] = "0",
                    ["shared_blks_read"] = "0", ["stats_reset"] = statsReset, ["query"] = st.Query,
                }).ToList(),
            },
        };
        if (orders is { } o)
        {
            probes.Add(new()
            {
                Name = "table_scans", Status = "ok",
                Rows = [new Dictionary<string, string?> { ["schemaname"] = "public", ["relname"] = "orders", ["n_live_tup"] = Str(o.Live), ["seq_scan"] = Str(o.SeqScans), ["seq_tup_read"] = Str(o.SeqRead), ["idx_scan"] = "0" }],
            });
        }

        if (advice is not null)
        {
            probes.Add(new() { Name = IndexAdvice.ProbeName, Status = "ok", Rows = [advice.ToRow()] });
        }

        return s with
        {
            Postgres = s.Postgres.Select(p => p.Member == holder ? p with { Probes = [.. p.Probes.Where(x => x.Name is not ("statements_top" or "table_scans")), .. probes] } : p).ToList(),
        };
    }

    public static IndexAdvice Advice(double costAfter = 19.7, bool uses = true, string status = "checked") => new()
    {
        QueryId = Hot, Database = "test", Status = status, Schema = "public", Table = "orders", Columns = "user_id,created_at",
        Definition = "CREATE INDEX ON \"public\".\"orders\" USING btree (\"user_id\", \"created_at\")", CostBefore = 6250.05,
        CostAfter = status == "checked" ? costAfter : null, UsesIndex = uses, Plan = "custom", AdvisedAt = DateTimeOffset.Parse("2026-11-22T21:11:00Z", CultureInfo.InvariantCulture),
    };

    private static string Str(double v) => v.ToString(CultureInfo.InvariantCulture);
}
