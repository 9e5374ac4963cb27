using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing.Postgres;

namespace PgRuntimeAgent.Reads;

/// <summary><c>postgres.probe</c>: one query of the PostgreSQL sensor's catalogue, on one member or every member.</summary>
internal sealed class PostgresProbeRead : IRead
{
    public const int MaxRows = 200;

    public const int DefaultRows = 50;

    public ReadDescriptor Descriptor { get; } = new()
    {
        Name = "postgres.probe",
        Summary = "Runs one of the PostgreSQL sensor's read-only probes (catalog views: activity, locks, replication, slots, archiver, settings, statements...) on a member, or on every member, with the monitor user in a read-only transaction under statement_timeout. Query texts are cut to 200 characters with literals masked.",
        Source = ReadSource.Postgres,
        Member = MemberUse.Optional,
        Parameters =
        [
            new ParameterSpec("probe", ParameterType.String,
                "The probe: " + string.Join("; ", PostgresProbeCatalogue.All.Select(p => $"{p.Name}: {p.Description}")))
            {
                Required = true,
                AllowedValues = [.. PostgresProbeCatalogue.All.Select(p => p.Name)],
            },
            new ParameterSpec("max_rows", ParameterType.Integer, "Most rows returned per member.")
            {
                Default = "50",
                Minimum = 1,
                Maximum = MaxRows,
            },
        ],
        Bound = $"at most {MaxRows} rows per member (default {DefaultRows}) and the probe's own LIMIT; read-only transaction, statement_timeout of sensing.postgres",
    };

    public async Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var cluster = context.Cluster(request.Cluster);
        var probe = request.Text("probe")!;
        var maxRows = (int)request.Integer("max_rows")!.Value;
        IReadOnlyList<PgMember> members = request.Member is { } m ? [cluster.FindMember(m)!] : cluster.Members;
        var results = await Task.WhenAll(members.Select(member => context.ProbePostgresAsync(cluster, member, probe, cancellationToken))).ConfigureAwait(false);
        var list = new JsonArray();
        foreach (var (observation, health) in results)
        {
            var result = observation.Probe(probe);
            var (rows, truncated) = ReadResults.Take(result?.Rows ?? [], maxRows);
            list.Add(new JsonObject
            {
                ["member"] = observation.Member,
                ["in_recovery"] = observation.InRecovery,
                ["status"] = result?.Status ?? "not-run",
                ["elapsed_ms"] = result?.ElapsedMs,
                ["rows"] = ReadResults.ToNode(rows),
                ["row_count"] = result?.Rows.Count ?? 0,
                ["truncated"] = truncated,
                ["error"] = result?.Error ?? observation.Error ?? (result is null ? health.Reason : null),
            });
        }

        return new JsonObject
        {
            ["probe"] = probe,
            ["description"] = PostgresProbeCatalogue.Find(probe)?.Description,
            ["max_rows"] = maxRows,
            ["members"] = list,
        };
    }
}
