using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Web;

/// <summary>
/// <c>GET /api/v1/journal</c> (<c>?cluster=&amp;kind=&amp;since=&amp;until=&amp;limit=</c>: the newest <c>limit</c>
/// entries that match, oldest first, as <c>pgra journal list --json</c>), <c>GET /api/v1/journal/{seq}</c> (one entry,
/// as <c>pgra journal show N --json</c>) and <c>GET /api/v1/journal/verify</c> (the chain's verification, as
/// <c>pgra journal verify --json</c>). Entries are redacted when written and again on the way out.
/// </summary>
internal static class JournalApi
{
    public const int DefaultLimit = 100;

    public const int MaxLimit = 1000;

    public static void Map(RouteGroupBuilder api, AgentWebHostOptions options)
    {
        var secrets = options.Secrets;
        var journal = options.Acting.Journal;
        api.MapGet("/journal", ApiResults.Handler(context => ApiResults.GuardAsync(secrets, async () =>
        {
            var request = context.Request;
            ApiResults.OnlyQuery(request, "cluster", "kind", "since", "until", "limit");
            var now = options.Time.GetUtcNow();
            var kinds = Kinds(request);
            var since = ApiResults.Query(request, "since") is { } s ? JournalTimes.Parse(s, now, "query parameter 'since'") : (DateTimeOffset?)null;
            var until = ApiResults.Query(request, "until") is { } u ? JournalTimes.Parse(u, now, "query parameter 'until'") : (DateTimeOffset?)null;
            if (since is { } a && until is { } b && b <= a)
            {
                throw new InputException("query parameter 'until' must be later than 'since'");
            }

            var entries = await journal.QueryAsync(new JournalQuery
            {
                Cluster = ApiResults.Query(request, "cluster"),
                Kinds = kinds,
                Since = since,
                Until = until,
                Limit = ApiResults.Limit(request, "limit", DefaultLimit, MaxLimit),
                Descending = true,
                IncludeDamaged = true,
            }, context.RequestAborted).ConfigureAwait(false);
            return ApiResults.Json(secrets, JsonSerializer.Serialize(entries.OrderBy(e => e.Seq).Select(JournalEntryJson.ToJson).ToList(), ApiJson.Options));
        })));

        api.MapGet("/journal/verify", ApiResults.Handler(context => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            var result = await journal.VerifyAsync(context.RequestAborted).ConfigureAwait(false);
            return ApiResults.Json(secrets, JsonSerializer.Serialize(JournalEntryJson.Verification(journal.Location, result), ApiJson.Options));
        })));

        api.MapGet("/journal/{seq}", (string seq, HttpContext context) => ApiResults.GuardAsync(secrets, async () =>
        {
            ApiResults.OnlyQuery(context.Request);
            var text = seq.StartsWith('#') ? seq[1..] : seq;
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                throw new InputException($"'{(seq.Length > 40 ? seq[..40] + "..." : seq)}' in the path is not an entry number (1, 2, ...)");
            }

            var found = await journal.QueryAsync(new JournalQuery { AfterSeq = n - 1, Limit = 1, IncludeDamaged = true }, context.RequestAborted).ConfigureAwait(false);
            return found.FirstOrDefault(e => e.Seq == n) is { } entry
                ? ApiResults.Json(secrets, JsonSerializer.Serialize(JournalEntryJson.ToJson(entry), ApiJson.Options))
                : ApiResults.Error(secrets, StatusCodes.Status404NotFound, string.Create(CultureInfo.InvariantCulture, $"no entry #{n} in the journal"));
        }));
    }

    /// <summary><c>kind</c>, repeated or comma-separated; each must be a journal kind.</summary>
    private static IReadOnlyList<string> Kinds(HttpRequest request)
    {
        if (!request.Query.TryGetValue("kind", out var values))
        {
            return [];
        }

        var kinds = values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal).ToList();
        var unknown = kinds.Where(k => !JournalKinds.All.Contains(k, StringComparer.Ordinal)).ToList();
        if (kinds.Count == 0 || unknown.Count > 0)
        {
            throw new InputException($"query parameter 'kind' has {(kinds.Count == 0 ? "no kind" : "unknown kind " + string.Join(", ", unknown.Select(k => $"'{k}'")))}; the kinds are: {string.Join(", ", JournalKinds.All)}");
        }

        return kinds;
    }
}
