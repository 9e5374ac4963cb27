using System.Text.Json.Nodes;
using PgRuntimeAgent.Catalog;

namespace PgRuntimeAgent.Reads;

/// <summary>
/// One on-demand read: what it is (<see cref="Descriptor"/>) and how it is done. A read sees only a
/// <see cref="ReadContext"/>, whose surface is queries, so it is read-only by construction; its result is bounded
/// (rows, lines, series, range) and says so (<c>limit</c>, <c>truncated</c>). Implementations are discovered by
/// <see cref="ReadCatalog"/>: a new read is one class in this folder with a parameterless constructor.
/// </summary>
internal interface IRead
{
    ReadDescriptor Descriptor { get; }

    /// <summary>
    /// Does the read. <paramref name="request"/> has been validated against <see cref="Descriptor"/>. Expected failures
    /// (a member unreachable, no metrics endpoint) are results made with <see cref="ReadResults.Failed"/>, not exceptions.
    /// </summary>
    Task<JsonNode> ReadAsync(ReadContext context, ReadRequest request, CancellationToken cancellationToken);
}
