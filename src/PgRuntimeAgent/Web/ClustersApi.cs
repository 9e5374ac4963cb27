using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>GET /api/v1/clusters</c> (every watched cluster at a glance, as <c>pgra status --json</c>),
/// <c>GET /api/v1/clusters/{name}/snapshot</c> (as <c>pgra snapshot --json</c>) and
/// <c>GET /api/v1/clusters/{name}/findings</c> (as <c>pgra detect --json</c>). Under <c>pgra run</c> they answer from
/// the last snapshot the loop took (<c>source: loop</c>) and its findings as the agent's detection holds them; without
/// the loop, or before its first snapshot, from a fresh snapshot bounded by <see cref="AgentWebHostOptions.SenseTimeout"/>
/// (<c>source: fresh</c>; findings then as <c>pgra detect</c> judges one snapshot). When several agents share the
/// clusters, a cluster another agent owns is answered from its last snapshot in the shared journal (<c>source: journal</c>).
/// </summary>
internal static class ClustersApi
{
    /// <summary>
    /// Which agent owns <paramref name="cluster"/> when several share the clusters (docs/fleet.md): the owner etcd named at
    /// the leases' last round, its fencing token, and whether it is this agent; null when this agent is alone.
    /// </summary>
    private static JsonObject? Owner(AgentWebHostOptions options, string cluster)
    {
        if (options.Leases is not { } leases)
        {
            return null;
        }

        var owner = leases.Owners.GetValueOrDefault(cluster);
        return new JsonObject
        {
            ["agent"] = owner?.Agent,
            ["token"] = owner?.Token,
            ["this_agent"] = leases.Owns(cluster),
        };
    }

    public static void Map(RouteGroupBuilder api, AgentWebHostOptions options)
    {
        var secrets = options.Secrets;
        api.MapGet("/clusters", ApiResults.Handler(context => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            var names = Watched(options);
            var views = await Task.WhenAll(names.Select(n => ViewAsync(options, n, context.RequestAborted))).ConfigureAwait(false);
            var now = options.Time.GetUtcNow();
            var clusters = new JsonArray();
            foreach (var (name, view) in names.Zip(views))
            {
                if (view.Snapshot is not { } s)
                {
                    clusters.Add(new JsonObject { ["cluster"] = name, ["source"] = "none", ["error"] = view.Error, ["owner"] = Owner(options, name) });
                    continue;
                }

                var status = JsonSerializer.SerializeToNode(ClusterStatuses.Of(s), SnapshotJson.Options)!.AsObject();
                status["source"] = view.Source;
                status["taken_at"] = FindingJson.Time(s.TakenAt);
                status["age_seconds"] = Math.Round(Math.Max(0, (now - s.TakenAt).TotalSeconds), 1);
                status["active_findings"] = view.Active?.Count;
                // Whether the leader takes writes (the fleet's first question); null when no member's SQL was reached.
                status["writable"] = s.Members.All(m => m.PostgresReachable is null) ? null : SnapshotFacts.LeaderWritable(s);
                status["owner"] = Owner(options, name);
                clusters.Add(status);
            }

            var doc = new JsonObject
            {
                ["schema_version"] = ClusterSnapshot.CurrentSchemaVersion,
                ["taken_at"] = FindingJson.Time(now),
                ["inventory"] = options.Reads.Topology.SourcePath,
                ["agent_loop"] = options.Live is not null,
                ["agent_id"] = options.Leases?.AgentId,
                ["clusters"] = clusters,
            };
            return ApiResults.Json(secrets, doc);
        })));

        api.MapGet("/clusters/{name}/snapshot", (string name, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            if (Unknown(options, name) is { } notFound)
            {
                return notFound;
            }

            var view = await ViewAsync(options, name, context.RequestAborted).ConfigureAwait(false);
            if (view.Snapshot is not { } s)
            {
                return ApiResults.Error(secrets, StatusCodes.Status504GatewayTimeout, view.Error!);
            }

            context.Response.Headers["X-Pgra-Snapshot-Source"] = view.Source;
            return ApiResults.Json(secrets, SnapshotJson.Serialize(s));
        }));

        api.MapGet("/clusters/{name}/findings", (string name, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            if (Unknown(options, name) is { } notFound)
            {
                return notFound;
            }

            var view = await ViewAsync(options, name, context.RequestAborted).ConfigureAwait(false);
            if (view.Snapshot is not { } s)
            {
                return ApiResults.Error(secrets, StatusCodes.Status504GatewayTimeout, view.Error!);
            }

            JsonObject doc;
            if (view.Active is { } active)
            {
                doc = DetectVerdictJson.ToJson(name, s.TakenAt, snapshots: null, couldNotSense: null, active, []);
            }
            else
            {
                var context0 = DetectionContext.For(options.Reads.Topology.FindCluster(name));
                doc = DetectVerdictJson.ToJson(name, OneOffDetection.Judge(name, options.Detection, context0, [s]), 1);
            }

            doc["source"] = view.Source;
            return ApiResults.Json(secrets, doc);
        }));
        // The lag chart of the console: the loop's samples of the last minutes (kept in memory, an hour at most).
        api.MapGet("/clusters/{name}/history", (string name, HttpContext context) => ApiResults.GuardAsync(secrets, () =>
        {
            ApiResults.OnlyQuery(context.Request, "minutes");
            if (Unknown(options, name) is { } notFound)
            {
                return Task.FromResult(notFound);
            }

            var minutes = ApiResults.Limit(context.Request, "minutes", 60, 60);
            var samples = options.Live?.History(name, options.Time.GetUtcNow().AddMinutes(-minutes)) ?? [];
            var doc = new JsonObject
            {
                ["cluster"] = name,
                ["source"] = options.Live is null ? "none" : "loop",
                ["minutes"] = minutes,
                ["samples"] = new JsonArray([.. samples.Select(x => (JsonNode)new JsonObject
                {
                    ["at"] = x.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                    ["leader"] = x.Leader,
                    ["writable"] = x.Writable,
                    ["timeline"] = x.Timeline,
                    ["members"] = new JsonArray([.. x.Members.Select(mm => (JsonNode)new JsonObject { ["name"] = mm.Name, ["role"] = mm.Role, ["lag_bytes"] = mm.LagBytes })]),
                })]),
            };
            return Task.FromResult(ApiResults.Json(secrets, doc));
        }));
    }

    /// <summary>The clusters the loop watches; without a loop, every cluster of the inventory.</summary>
    private static IReadOnlyList<string> Watched(AgentWebHostOptions options) =>
        options.Live?.Clusters ?? (options.Clusters.Count > 0 ? options.Clusters : [.. options.Reads.Topology.Clusters.Select(c => c.Name)]);

    private static IResult? Unknown(AgentWebHostOptions options, string name) =>
        Watched(options).Contains(name, StringComparer.Ordinal)
            ? null
            : ApiResults.Error(options.Secrets, StatusCodes.Status404NotFound, $"no cluster '{name}' is watched here",
                [$"clusters: {string.Join(", ", Watched(options))}"]);

    /// <summary>The cluster's last snapshot in the journal (the owner journals one on every change of shape and every few cycles); null when none.</summary>
    private static async Task<ClusterSnapshot?> JournaledAsync(AgentWebHostOptions options, string cluster, CancellationToken cancellationToken)
    {
        try
        {
            var last = await options.Acting.Journal.QueryAsync(new Journal.JournalQuery { Cluster = cluster, Kinds = [Journal.JournalKinds.Snapshot], Descending = true, Limit = 1 },
                cancellationToken).ConfigureAwait(false);
            return last.Count == 0 ? null : Incidents.SnapshotRecorder.Read(last[0]);
        }
        catch (Exception ex) when (ex is Journal.JournalException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException)
        {
            return null;
        }
    }

    private sealed record View(ClusterSnapshot? Snapshot, string Source, IReadOnlyList<Finding>? Active, string? Error);

    /// <summary>The loop's last snapshot of <paramref name="cluster"/>, else a fresh one within the sensing bound.</summary>
    private static async Task<View> ViewAsync(AgentWebHostOptions options, string cluster, CancellationToken cancellationToken)
    {
        if (options.Leases is { } leases && !leases.Owns(cluster))
        {
            // Several agents (docs/fleet.md): another agent senses this cluster. Its last journaled snapshot in the shared
            // journal, not this agent's own view (stale since it lost the cluster) and not a fresh one per request.
            if (await JournaledAsync(options, cluster, cancellationToken).ConfigureAwait(false) is { } journaled)
            {
                return new View(journaled, "journal", null, null);
            }
        }
        else if (options.Live?.Latest(cluster) is { } latest)
        {
            return new View(latest.Snapshot, "loop", latest.Active, null);
        }

        if (options.Sense is not { } sense)
        {
            return new View(null, "none", null, $"no snapshot of {cluster} yet, and this host does not sense by itself");
        }

        using var timeout = new CancellationTokenSource(options.SenseTimeout, options.Time);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return new View(await sense(cluster, bound.Token).WaitAsync(bound.Token).ConfigureAwait(false), "fresh", null, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new View(null, "none", null, string.Create(CultureInfo.InvariantCulture,
                $"no snapshot of {cluster} within {options.SenseTimeout.TotalSeconds:0.#} s (the web host's bound on a fresh snapshot)"));
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidOperationException)
        {
            return new View(null, "none", null, $"no snapshot of {cluster}: {ex.Message}");
        }
    }
}
