using System.Globalization;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Incidents;

/// <summary>Renders a post-mortem as markdown (for a person at 3 AM) and JSON, and writes both files.</summary>
internal static class PostMortemWriter
{
    /// <summary>Builds the post-mortem of <paramref name="incidentId"/> from the journal; null when there is no such incident.</summary>
    public static async Task<PostMortemReport?> BuildAsync(IJournal journal, string incidentId, CancellationToken cancellationToken)
    {
        var data = await IncidentStore.LoadAsync(journal, incidentId, cancellationToken).ConfigureAwait(false);
        return data is null ? null : PostMortemBuilder.Build(data);
    }

    /// <summary>Writes <c>&lt;id&gt;.md</c> and <c>&lt;id&gt;.json</c> into <paramref name="directory"/>; returns both paths.</summary>
    public static async Task<(string Markdown, string Json)> WriteAsync(PostMortemReport report, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        var md = Path.Combine(directory, report.Incident + ".md");
        var json = Path.Combine(directory, report.Incident + ".json");
        await File.WriteAllTextAsync(md, Markdown(report), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(json, Json(report), cancellationToken).ConfigureAwait(false);
        return (md, json);
    }

    public static string Json(PostMortemReport report) => JsonSerializer.Serialize(report, IncidentJson.Options);

    public static string Markdown(PostMortemReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var b = new StringBuilder();
        void L(string text = "") => b.Append(text).Append('\n');
        string T(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) : "-";
        string N(double? v, string unit) => v is { } x ? x.ToString("0.#", CultureInfo.InvariantCulture) + unit : "unknown";
        string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

        L($"# Post-mortem {r.Incident}: {r.Cluster}");
        L();
        L($"**{r.RootCauseCode}** · severity {FindingJson.SeverityName(r.Severity)} · {r.State.ToString().ToLowerInvariant()} · opened {T(r.OpenedAt)} · resolved {T(r.ResolvedAt)}");
        L();
        L("## Summary");
        L();
        L(r.Summary);
        L();
        L("## Impact");
        L();
        L("| | |");
        L("|---|---|");
        L($"| Write outage | {N(r.Outage.Seconds, " s")} (bounds {N(r.Outage.MinSeconds, " s")} to {N(r.Outage.MaxSeconds, " s")}) |");
        L($"| Writes stopped | {T(r.Outage.Start)}: {Cell(r.Outage.StartMethod)} |");
        L($"| Writes back | {T(r.Outage.End)}: {Cell(r.Outage.EndMethod)} |");
        L($"| Data loss | {Cell(r.DataLoss.Statement)} |");
        L($"| Leader | {r.OldLeader ?? "?"} (timeline {r.OldTimeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}) → {r.NewLeader ?? "unchanged"}{(r.NewTimeline is { } nt ? $" (timeline {nt.ToString(CultureInfo.InvariantCulture)})" : "")} |");
        L($"| First symptom → detection | {T(r.FirstSymptom)} → {T(r.DetectedAt)} ({N(r.TimeToDetectSeconds, " s")}) |");
        L();
        L("## Timeline (UTC)");
        L();
        L("| time | event | what | journal |");
        L("|---|---|---|---|");
        foreach (var e in r.Timeline)
        {
            L($"| {e.At.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} | {e.Kind} | {Cell(SnapshotFacts.Short(e.What, 200))} | {(e.JournalSeq is { } s ? "#" + s.ToString(CultureInfo.InvariantCulture) : "")} |");
        }

        L();
        L("## Root cause");
        L();
        L(r.RootCause);
        L();
        if (r.Evidence.Count > 0)
        {
            L("Evidence:");
            L();
            L("```");
            foreach (var e in r.Evidence)
            {
                L($"{T(e.At)} [{e.Source}{(e.Member is null ? "" : " " + e.Member)}] {e.Observation}");
            }

            L("```");
            L();
        }

        if (r.Findings.Count > 0)
        {
            L("Findings:");
            L();
            foreach (var f in r.Findings)
            {
                L($"- {f}");
            }

            L();
        }

        L("## What the agent did and why");
        L();
        if (r.Actions.Count == 0)
        {
            L("Nothing: no skill ran and no action was taken on the cluster.");
        }

        foreach (var a in r.Actions)
        {
            var where = string.Join(", ", new[] { a.Skill is null ? null : $"skill {a.Skill}", a.Step is null ? null : $"step {a.Step}", a.ActionId }.OfType<string>());
            L($"- {T(a.At)} **{a.What}**{(where.Length > 0 ? $" ({where})" : "")}{(a.Agent is null ? "" : $" by agent {a.Agent}")}: {a.Outcome ?? "?"}{(a.Level is { } lv ? $", policy level {lv.ToString(CultureInfo.InvariantCulture)} (needs {a.RequiredLevel?.ToString(CultureInfo.InvariantCulture) ?? "?"})" : "")}. {a.Why} [journal {string.Join(", ", a.JournalSeqs.Select(s => "#" + s.ToString(CultureInfo.InvariantCulture)))}]");
        }

        L();
        if (r.Agents.Count > 0)
        {
            L("## Agents");
            L();
            foreach (var a in r.Agents)
            {
                L($"- **{a.Agent}**: {a.Part}.");
            }

            L();
        }

        L("## What could not be determined");
        L();
        if (r.Unknowns.Count == 0)
        {
            L("Nothing material.");
        }

        foreach (var u in r.Unknowns)
        {
            L($"- {u}");
        }

        L();
        L("## Follow-ups");
        L();
        if (r.FollowUps.Count == 0)
        {
            L("None.");
        }

        foreach (var f in r.FollowUps)
        {
            L($"- [ ] {f}");
        }

        if (r.ModelNarratives.Count > 0)
        {
            L();
            L("## The model's reading (written by a language model, not verified by the agent)");
            L();
            foreach (var n in r.ModelNarratives)
            {
                L($"**{n.Model}**, asked by skill {n.Skill} at step {n.Step} ({T(n.At)}; journal #{n.JournalSeq.ToString(CultureInfo.InvariantCulture)}{(n.Exchange is null ? "" : ", exchange #" + n.Exchange)}){(n.Question is null ? "" : ": _" + n.Question + "_")}");
                L();
                foreach (var line in n.Text.Split('\n'))
                {
                    L("> " + line.TrimEnd('\r'));
                }

                L();
            }
        }

        L();
        L($"_Rendered from the journal alone ({r.SnapshotCount.ToString(CultureInfo.InvariantCulture)} snapshots); `pgra replay {r.Incident}` re-checks the decisions._");
        return b.ToString();
    }
}
