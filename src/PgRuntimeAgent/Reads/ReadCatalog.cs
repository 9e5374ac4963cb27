using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Reads;

/// <summary>
/// Every <see cref="IRead"/> of this assembly, found by reflection (no central list), sorted by name; and the one
/// way a read is run: validate the request, read, bound the size, redact secrets, wrap in the result envelope.
/// </summary>
internal static class ReadCatalog
{
    /// <summary>The largest result (serialized JSON characters) a read may return; larger ones are refused.</summary>
    public const int MaxResultChars = 1024 * 1024;

    public static IReadOnlyList<IRead> All { get; } = Discover(typeof(ReadCatalog).Assembly);

    public static IReadOnlyList<ReadDescriptor> Descriptors { get; } = [.. All.Select(r => r.Descriptor)];

    public static IRead? Find(string name) => All.FirstOrDefault(r => string.Equals(r.Descriptor.Name, name, StringComparison.Ordinal));

    /// <summary>Every concrete <see cref="IRead"/> in <paramref name="assembly"/>, by name; duplicate names are a bug.</summary>
    public static IReadOnlyList<IRead> Discover(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var reads = assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IRead).IsAssignableFrom(t))
            .Select(t => (IRead)Activator.CreateInstance(t, nonPublic: true)!)
            .OrderBy(r => r.Descriptor.Name, StringComparer.Ordinal)
            .ToList();
        var duplicate = reads.GroupBy(r => r.Descriptor.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? reads : throw new InvalidOperationException($"two reads are named {duplicate.Key}");
    }

    /// <summary>
    /// Runs the read <paramref name="name"/>: an unknown name or a bad request is an <see cref="InputException"/>;
    /// otherwise the envelope <c>{read, cluster, member, at, ok, error, result}</c> with every secret masked.
    /// </summary>
    public static async Task<JsonObject> RunAsync(ReadContext context, string name, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var read = Find(name) ?? throw new InputException($"no read '{name}'", [$"reads: {string.Join(", ", All.Select(r => r.Descriptor.Name))}"]);
        var validated = request.Validate(read.Descriptor, context.Topology);
        var at = context.Time.GetUtcNow();
        var result = await read.ReadAsync(context, validated, cancellationToken).ConfigureAwait(false);
        var error = result is JsonObject o && o[ReadResults.ErrorKey] is JsonValue v && v.TryGetValue<string>(out var e) ? e : null;
        var text = result.ToJsonString();
        if (text.Length > MaxResultChars)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"the result ({text.Length} characters) is larger than the bound of {MaxResultChars}: narrow the parameters (limit, range, sections)");
            text = "null";
        }

        var envelope = new JsonObject
        {
            ["read"] = read.Descriptor.Name,
            ["cluster"] = validated.Cluster,
            ["member"] = validated.Member,
            ["at"] = at,
            ["ok"] = error is null,
            ["error"] = error,
            ["result"] = error is null ? JsonNode.Parse(text) : null,
        };
        return JsonNode.Parse(context.RedactJson(envelope.ToJsonString()))!.AsObject();
    }
}
