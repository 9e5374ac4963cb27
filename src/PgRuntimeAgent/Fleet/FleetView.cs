using System.Text.Json;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Sensing.Dcs;

namespace PgRuntimeAgent.Fleet;

/// <summary>One agent as registered in etcd.</summary>
public sealed record FleetAgent(string Id, string? Host, int? Pid, string? Since);

/// <summary>What etcd says of the fleet now: the live agents and each cluster's owner (<c>pgra fleet</c>).</summary>
/// <param name="Error">Why etcd could not be read; null when it was.</param>
public sealed record FleetView(IReadOnlyList<FleetAgent> Agents, IReadOnlyList<ClusterOwner> Owners, string? Error)
{
    /// <summary>Reads <c>PREFIX/agents/</c> and <c>PREFIX/owners/</c>; never throws for etcd's answers or an unreachable etcd.</summary>
    public static async Task<FleetView> ReadAsync(FleetSettings settings, IReadOnlyList<Uri> endpoints, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var etcd = new EtcdGateway(endpoints);
        var agents = await RangeAsync(etcd, settings.Prefix + "agents/", cancellationToken).ConfigureAwait(false);
        var owners = await RangeAsync(etcd, settings.Prefix + "owners/", cancellationToken).ConfigureAwait(false);
        if (agents.Error is not null || owners.Error is not null)
        {
            return new FleetView([], [], agents.Error ?? owners.Error);
        }

        return new FleetView(
            agents.Kvs.Select(kv => Agent(kv.Key, kv.Value)).OrderBy(a => a.Id, StringComparer.Ordinal).ToList(),
            owners.Kvs.Select(kv => new ClusterOwner(kv.Key, kv.Value, kv.CreateRevision, kv.Lease)).OrderBy(o => o.Cluster, StringComparer.Ordinal).ToList(),
            null);
    }

    private static FleetAgent Agent(string id, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            string? Text(string name) => r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            int? pid = r.ValueKind == JsonValueKind.Object && r.TryGetProperty("pid", out var p) && p.TryGetInt32(out var n) ? n : null;
            return new FleetAgent(id, Text("host"), pid, Text("since"));
        }
        catch (JsonException)
        {
            return new FleetAgent(id, null, null, null);
        }
    }

    /// <summary>Every key under <paramref name="prefix"/>, with the prefix cut off, else why etcd could not be read.</summary>
    internal static async Task<(List<EtcdKv> Kvs, string? Error)> RangeAsync(EtcdGateway etcd, string prefix, CancellationToken cancellationToken)
    {
        var (_, root, errors) = await etcd.PostAsync("v3/kv/range", new JsonObject { ["key"] = EtcdGateway.B64(prefix), ["range_end"] = EtcdGateway.PrefixEnd(prefix) },
            TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        return root is { } r ? (Kvs(r, prefix), null) : ([], $"cannot read {prefix} from etcd: {errors}");
    }

    /// <summary>The keys of a range answer that start with <paramref name="prefix"/>, decoded, with the prefix cut off.</summary>
    internal static List<EtcdKv> Kvs(JsonElement range, string prefix)
    {
        var list = new List<EtcdKv>();
        if (range.ValueKind != JsonValueKind.Object || !range.TryGetProperty("kvs", out var kvs) || kvs.ValueKind != JsonValueKind.Array)
        {
            return list;
        }

        foreach (var kv in kvs.EnumerateArray())
        {
            var key = kv.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? EtcdGateway.TryBase64(k.GetString()!) : null;
            var value = kv.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? EtcdGateway.TryBase64(v.GetString()!) ?? "" : "";
            if (key is not null && key.StartsWith(prefix, StringComparison.Ordinal))
            {
                list.Add(new EtcdKv(key[prefix.Length..], value, EtcdGateway.Number(kv, "create_revision") ?? 0, EtcdGateway.Number(kv, "lease") ?? 0));
            }
        }

        return list;
    }
}

/// <summary>One etcd key as the fleet reads it: the key without its prefix, the value, its create revision and lease.</summary>
internal sealed record EtcdKv(string Key, string Value, long CreateRevision, long Lease);
