using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Skills;

/// <summary>Builds cluster snapshot JSON with the fields listed in src/PgRuntimeAgent/Skills/SNAPSHOT-FIELDS.md.</summary>
internal sealed class SnapshotBuilder
{
    private readonly JsonObject root;

    private SnapshotBuilder(JsonObject root) => this.root = root;

    /// <summary>pg-test: pg-test-1 leader (writable), pg-test-2 lag 4096, pg-test-3 lag 0; inventory agrees.</summary>
    public static SnapshotBuilder Healthy() => new(new JsonObject
    {
        ["schema_version"] = 1,
        ["cluster"] = "pg-test",
        ["taken_at"] = "2026-11-22T10:00:00+00:00",
        ["leader"] = "pg-test-1",
        ["timeline"] = 1,
        ["inventory"] = new JsonObject
        {
            ["source_path"] = "/etc/pigsty/pigsty.yml",
            ["declared_primary"] = "pg-test-1",
            ["maximum_lag_on_failover_bytes"] = 1048576,
            ["ttl_seconds"] = 30,
            ["backup_stanza"] = "pg-test",
        },
        ["patroni"] = new JsonObject
        {
            ["leader"] = "pg-test-1",
            ["paused"] = false,
            ["config"] = new JsonObject { ["ttl_seconds"] = 30, ["loop_wait_seconds"] = 5, ["maximum_lag_on_failover_bytes"] = 1048576 },
        },
        ["members"] = new JsonArray(
            Member("pg-test-1", "primary", "leader", "running", false, null),
            Member("pg-test-2", "replica", "replica", "streaming", true, 4096),
            Member("pg-test-3", "replica", "replica", "streaming", true, 0)),
        ["postgres"] = new JsonArray(
            new JsonObject { ["member"] = "pg-test-1", ["reachable"] = true, ["archiver_failed_count"] = 0 }),
        ["backup"] = new JsonObject
        {
            ["stanza"] = "pg-test",
            ["backup_running"] = false,
            ["last_backup_age_seconds"] = 7200.0,
            ["last_full"] = new JsonObject { ["label"] = "20261122-010000F", ["type"] = "full" },
        },
        ["metrics"] = new JsonObject
        {
            ["readings"] = new JsonArray(
                new JsonObject { ["name"] = "fs_free_ratio", ["status"] = "ok", ["values"] = new JsonObject { ["pg-test-1"] = "0.61", ["pg-test-2"] = "0.64", ["pg-test-3"] = "0.66" } },
                new JsonObject { ["name"] = "archiver_failures_15m", ["status"] = "ok", ["values"] = new JsonObject { ["pg-test-1"] = "0", ["pg-test-2"] = "0", ["pg-test-3"] = "0" } }),
        },
        ["sensors"] = new JsonArray(
            new JsonObject { ["sensor"] = "patroni", ["target"] = null, ["health"] = "ok", ["reason"] = null },
            new JsonObject { ["sensor"] = "postgres", ["target"] = null, ["health"] = "ok", ["reason"] = null }),
        ["drift"] = new JsonArray(),
    });

    private static JsonObject Member(string name, string declared, string role, string state, bool inRecovery, long? lag) => new()
    {
        ["name"] = name,
        ["declared_role"] = declared,
        ["patroni_role"] = role,
        ["patroni_state"] = state,
        ["reachable"] = true,
        ["postgres_running"] = true,
        ["postgres_reachable"] = true,
        ["in_recovery"] = inRecovery,
        ["timeline"] = 1,
        ["lag_bytes"] = lag,
        ["lag_unknown"] = false,
        ["lag_seconds"] = lag is null ? null : 0.0,
        ["no_failover"] = false,
    };

    public SnapshotBuilder Set(string path, JsonNode? value)
    {
        var parts = path.Split('.');
        var node = (JsonObject)root;
        foreach (var part in parts[..^1])
        {
            node = (JsonObject)node[part]!;
        }

        node[parts[^1]] = value;
        return this;
    }

    public SnapshotBuilder Leader(string? name)
    {
        root["leader"] = name;
        ((JsonObject)root["patroni"]!)["leader"] = name;
        return this;
    }

    public SnapshotBuilder MemberSet(string member, string field, JsonNode? value)
    {
        var m = ((JsonArray)root["members"]!).Single(n => (string?)n!["name"] == member)!;
        m[field] = value;
        return this;
    }

    /// <summary>The leader's postmaster is frozen: Patroni still says leader/running, SQL cannot be opened.</summary>
    public SnapshotBuilder FrozenLeader(string member = "pg-test-1") =>
        MemberSet(member, "postgres_reachable", false).MemberSet(member, "in_recovery", null);

    /// <summary>Patroni promoted <paramref name="newLeader"/> and the old leader is gone.</summary>
    public SnapshotBuilder FailedOverTo(string newLeader, string oldLeader = "pg-test-1") =>
        Leader(newLeader)
            .MemberSet(newLeader, "patroni_role", "leader").MemberSet(newLeader, "in_recovery", false).MemberSet(newLeader, "lag_bytes", null)
            .MemberSet(newLeader, "patroni_state", "running").MemberSet(newLeader, "timeline", 2)
            .MemberSet(oldLeader, "patroni_role", "unknown").MemberSet(oldLeader, "patroni_state", "stopped")
            .MemberSet(oldLeader, "reachable", false).MemberSet(oldLeader, "postgres_reachable", false).MemberSet(oldLeader, "in_recovery", null)
            .Set("timeline", 2);

    public JsonElement Build() => JsonSerializer.SerializeToElement(root.DeepClone());
}

/// <summary>
/// A scripted world for the runner: snapshots change at given times (on a fake clock that DelayAsync advances) or
/// when an action runs; actions answer what the test says; notes and requests are kept.
/// </summary>
internal sealed class ScriptedSkillHost : ISkillHost
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero));
    private readonly DateTimeOffset start;
    private readonly List<(TimeSpan At, JsonElement Snapshot)> timeline = [];
    private readonly SortedDictionary<int, JsonElement> afterActions = [];
    private int actionsDone;

    public ScriptedSkillHost(JsonElement initial)
    {
        start = time.GetUtcNow();
        timeline.Add((TimeSpan.Zero, initial));
    }

    public TimeProvider Time => time;

    public FakeTimeProvider Clock => time;

    public List<SkillActionRequest> Requests { get; } = [];

    public List<SkillNote> Notes { get; } = [];

    public List<TimeSpan> Delays { get; } = [];

    public int SnapshotFetches { get; private set; }

    /// <summary>How actions answer; default: every action succeeds.</summary>
    public Func<SkillActionRequest, SkillActionOutcome> Answer { get; set; } =
        r => new SkillActionOutcome(r.DryRun ? SkillActionStatus.Planned : SkillActionStatus.Succeeded, $"j-{r.StepId}", "done");

    /// <summary>From <paramref name="after"/> (fake time since the start) on, fetches return <paramref name="snapshot"/>.</summary>
    public ScriptedSkillHost At(TimeSpan after, JsonElement snapshot)
    {
        timeline.Add((after, snapshot));
        timeline.Sort((a, b) => a.At.CompareTo(b.At));
        return this;
    }

    /// <summary>After the <paramref name="count"/>-th successful action (1 by default), fetches return <paramref name="snapshot"/>.</summary>
    public ScriptedSkillHost AfterAction(JsonElement snapshot, int count = 1)
    {
        afterActions[count] = snapshot;
        return this;
    }

    public Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken)
    {
        SnapshotFetches++;
        var changed = afterActions.Where(a => a.Key <= actionsDone).Select(a => (JsonElement?)a.Value).LastOrDefault();
        if (changed is { } after)
        {
            return Task.FromResult(after);
        }

        var elapsed = time.GetUtcNow() - start;
        return Task.FromResult(timeline.Last(t => t.At <= elapsed).Snapshot);
    }

    public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken)
    {
        Requests.Add(request);
        var outcome = Answer(request);
        if (outcome.Status == SkillActionStatus.Succeeded)
        {
            actionsDone++;
        }

        return Task.FromResult(outcome);
    }

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        Delays.Add(delay);
        time.Advance(delay);
        return Task.CompletedTask;
    }

    public Task RecordAsync(SkillNote note, CancellationToken cancellationToken)
    {
        Notes.Add(note);
        return Task.CompletedTask;
    }

    /// <summary>How the model answers an investigate step; null: no model is configured.</summary>
    public Func<SkillInvestigationRequest, SkillInvestigation>? Model { get; set; }

    public List<SkillInvestigationRequest> Questions { get; } = [];

    public Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken)
    {
        Questions.Add(request);
        return Task.FromResult(Model is null ? SkillInvestigation.NoModel : Model(request));
    }
}

internal static class SkillTestKit
{
    public static string SkillsDirectory => Path.Combine(TestPaths.RepoRoot, "skills");

    public static Skill LoadShipped(string name)
    {
        var catalog = SkillCatalog.Load(SkillsDirectory);
        return catalog.Find(name) ?? throw new InvalidOperationException(
            $"skill {name} did not load: {string.Join(Environment.NewLine, catalog.Diagnostics)}");
    }

    /// <summary>
    /// The default vocabulary without the action catalogue's parameter lists: for tests of how values are read and
    /// evaluated, whose steps pass made-up parameters.
    /// </summary>
    internal static SkillVocabulary AnyParameters { get; } = SkillVocabulary.Default with { Actions = new Dictionary<string, PgRuntimeAgent.Catalog.ActionDescriptor>() };

    /// <summary>Parses skill text that must be valid; fails the test with the diagnostics otherwise.</summary>
    public static Skill Parse(string text, string file = "test-skill.md", SkillVocabulary? vocabulary = null)
    {
        var result = SkillParser.Parse(file, text, vocabulary);
        Assert.True(result.Skill is not null, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Skill!;
    }

    public static JsonElement Trigger(string code, string? member = "pg-test-1") =>
        JsonSerializer.SerializeToElement(new JsonObject { ["code"] = code, ["cluster"] = "pg-test", ["member"] = member });

    public static JsonElement Json(string json) => JsonSerializer.Deserialize<JsonElement>(json);

    public static Task<SkillRun> RunAsync(Skill skill, ScriptedSkillHost host, JsonElement? trigger = null, bool dryRun = false, JsonElement? parameters = null) =>
        new SkillRunner().RunAsync(skill, new SkillRunRequest("pg-test") { Trigger = trigger, DryRun = dryRun, Parameters = parameters }, host,
            TestContext.Current.CancellationToken);

    public static string Steps(SkillRun run) => string.Join(" ", run.Steps.Select(s => $"{s.StepId}:{s.Status}"));
}
