using System.Globalization;
using System.Text.Json;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Incidents;

/// <summary>
/// One agent's part in an incident when several agents share the clusters and the journal (docs/fleet.md): when it
/// owned the cluster, with which fencing token, from whom it took it, and the actions it wrote or settled.
/// </summary>
public sealed record IncidentAgent(
    string Agent,
    DateTimeOffset? OwnedFrom,
    long? Token,
    string? TookOverFrom,
    long? PreviousToken,
    DateTimeOffset? LostAt,
    IReadOnlyList<string> Actions,
    IReadOnlyList<string> Reconciled,
    string Part);

/// <summary>Reads the agents' parts from the incident's journal entries: <c>fleet.gained</c>/<c>fleet.lost</c> notes, and the agent named on each intent and outcome.</summary>
internal static class PostMortemAgents
{
    public static IReadOnlyList<IncidentAgent> Build(IncidentData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var parts = new Dictionary<string, Part>(StringComparer.Ordinal);
        Part Of(string agent) => parts.TryGetValue(agent, out var p) ? p : parts[agent] = new Part(agent, parts.Count);

        foreach (var e in data.Related.OrderBy(e => e.Seq))
        {
            if (e.Kind == JournalKinds.Note && e.Topic is JournalKinds.FleetGained or JournalKinds.FleetLost && Note(e) is { } note)
            {
                // Who held the cluster before the incident opened is not part of it.
                if (note.PreviousAgent is { } previous && e.Time >= data.Incident.OpenedAt)
                {
                    Of(previous).Token ??= note.PreviousToken;
                }

                var p = Of(note.Agent);
                if (e.Topic == JournalKinds.FleetGained)
                {
                    p.OwnedFrom = e.Time;
                    p.Token = note.Token ?? p.Token;
                    p.From = note.PreviousAgent;
                    p.PreviousToken = note.PreviousToken;
                }
                else
                {
                    p.LostAt = e.Time;
                    p.LostWhy = e.Summary;
                }
            }
            else if (e.Kind == JournalKinds.ActionIntent && PostMortemBuilder.Safe<IntentPayload>(e) is { Agent: { } writer } intent)
            {
                Of(writer).Actions.Add($"{intent.Action.Kind}{(intent.Action.Member is null ? "" : " " + intent.Action.Member)} ({e.CorrelationId})");
                Of(writer).Token ??= intent.FencingToken;
            }
            else if (e.Kind == JournalKinds.ActionOutcome && PostMortemBuilder.Safe<OutcomePayload>(e) is { Agent: { } settler, Reconciled: true } outcome)
            {
                Of(settler).Reconciled.Add($"{outcome.Action.Kind}{(outcome.Action.Member is null ? "" : " " + outcome.Action.Member)} ({e.CorrelationId}): {ActionPipeline.Kebab(outcome.Status)}");
            }
        }

        return parts.Values.OrderBy(p => p.Order).Select(p => new IncidentAgent(p.Agent, p.OwnedFrom, p.Token, p.From, p.PreviousToken, p.LostAt,
            p.Actions, p.Reconciled, Describe(p))).ToList();
    }

    private static string Describe(Part p)
    {
        var said = new List<string>();
        if (p.OwnedFrom is { } from)
        {
            said.Add(p.From is { } previous
                ? $"took the cluster over from {previous} at {Clock(from)} (token {Token(p.PreviousToken)} → {Token(p.Token)})"
                : $"owned the cluster from {Clock(from)} (token {Token(p.Token)})");
        }
        else if (p.Token is { } token)
        {
            said.Add($"owned the cluster with token {token.ToString(CultureInfo.InvariantCulture)}");
        }

        if (p.Actions.Count > 0)
        {
            said.Add("wrote the intent of " + string.Join(", ", p.Actions));
        }

        if (p.Reconciled.Count > 0)
        {
            said.Add("settled the open intent of " + string.Join(", ", p.Reconciled));
        }

        if (p.LostAt is { } lost)
        {
            said.Add($"lost the cluster at {Clock(lost)} ({p.LostWhy})");
        }

        return said.Count == 0 ? "named in the journal" : string.Join("; ", said);
    }

    private static string Token(long? token) => token?.ToString(CultureInfo.InvariantCulture) ?? "?";

    private static string Clock(DateTimeOffset t) => t.UtcDateTime.ToString("HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static FleetNote? Note(JournalEntry e)
    {
        try
        {
            using var doc = JsonDocument.Parse(e.Payload);
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("agent", out var agent) || agent.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            return new FleetNote(agent.GetString()!, Number(r, "token"), Text(r, "previous_agent"), Number(r, "previous_token"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static long? Number(JsonElement r, string name) => r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    private static string? Text(JsonElement r, string name) => r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private sealed record FleetNote(string Agent, long? Token, string? PreviousAgent, long? PreviousToken);

    private sealed class Part(string agent, int order)
    {
        public string Agent { get; } = agent;

        public int Order { get; } = order;

        public DateTimeOffset? OwnedFrom { get; set; }

        public long? Token { get; set; }

        public string? From { get; set; }

        public long? PreviousToken { get; set; }

        public DateTimeOffset? LostAt { get; set; }

        public string? LostWhy { get; set; }

        public List<string> Actions { get; } = [];

        public List<string> Reconciled { get; } = [];
    }
}
