using System.Text.Json;
using PgRuntimeAgent.Brain;
using PgRuntimeAgent.Incidents;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Skills;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tests.Tools;
using static PgRuntimeAgent.Tests.Detection.DetectionKit;

namespace PgRuntimeAgent.Tests.Brain;

/// <summary>
/// A skill's investigate step through the agent loop's own host and the daemon's investigator with a scripted model:
/// the model gets the runbook and the run's evidence, reads through the catalogue's tools, and its answer lands in the
/// journal as the model's; a model that does not answer in the step's time is journaled as timed out and the skill goes
/// on; replay answers from the journal without asking again.
/// </summary>
public sealed class SkillInvestigatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Asking = """
        ---
        name: asking
        description: Asks the model, then records what became of it.
        ---
        # asking

        The runbook the operators wrote: look at the journal before anything else.

        ```yaml steps
        - id: ask
          investigate: "what happened on {{ $cluster }} lately?"
          timeout: 2s
        - id: after
          record: "the model's step ended {{ $steps.ask.status }}"
        ```

        """;

    private static readonly LlmSettings Settings = new() { Provider = "openai", Model = "model-x", MaxSteps = 4, TimeoutSeconds = 30 };

    private static SkillInvestigator Investigator(ToolsKit tools, ScriptedModel model) =>
        new(model, Settings, tools.Kit.Workspace.Secrets, tools.Kit.Journal, TimeProvider.System, tools.Reads, tools.Kit.Acting, null);

    [Fact]
    public async Task InvestigateStep_ModelReadsAndAnswers_AnswerJournaledAsTheModelsNoteAndTheRunGoesOn()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2, AgentLoopScheduleTests.Catalog(Asking));
        tools.Kit.World = Load("healthy");
        var model = new ScriptedModel((n, sent) => n == 1
            ? ScriptedModel.Call("journal_search", new() { ["cluster"] = "pg-test" })
            : ScriptedModel.Say($"Nothing happened: journal_search returned {ScriptedModel.ToolResult(sent).Length} characters."));
        tools.Kit.Investigate = Investigator(tools, model).InvestigateAsync;

        var run = await tools.Kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "asking", null, null, Ct);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var sent = string.Join("\n", model.Seen[0].Select(m => m.Text));
        Assert.Contains("what happened on pg-test lately?", sent, StringComparison.Ordinal);
        Assert.Contains("look at the journal before anything else", sent, StringComparison.Ordinal);
        var entry = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange));
        var exchange = entry.PayloadAs<BrainExchange>()!;
        Assert.Equal("answered", exchange.Status);
        Assert.Equal("journal_search", Assert.Single(exchange.ToolCalls).Tool);
        var step = run.Steps.Single(s => s.StepId == "ask");
        Assert.Equal(SkillStepStatus.Answered, step.Status);
        Assert.Equal(entry.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture), step.JournalId);
        var notes = (await tools.Kit.EntriesAsync(IncidentKinds.SkillNote)).Select(e => e.PayloadAs<SkillNote>()!).ToList();
        Assert.Equal([SkillRecordKinds.Investigation, SkillRecordKinds.Note], notes.Select(n => n.Kind));
        Assert.StartsWith("Nothing happened: journal_search returned", notes[0].Text, StringComparison.Ordinal);
        Assert.Equal("model-x", notes[0].Data!.Value.GetProperty("model").GetString());
        Assert.Equal("the model's step ended answered", notes[1].Text);
    }

    [Fact]
    public async Task InvestigateStep_ModelSilentPastTheStepsTimeout_JournaledTimedOutAndTheSkillGoesOn()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2, AgentLoopScheduleTests.Catalog(Asking));
        tools.Kit.World = Load("healthy");
        var model = new ScriptedModel((_, _) => null);
        tools.Kit.Investigate = Investigator(tools, model).InvestigateAsync;

        var run = await tools.Kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "asking", null, null, Ct);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        var exchange = Assert.Single(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange)).PayloadAs<BrainExchange>()!;
        Assert.Equal("timed-out", exchange.Status);
        Assert.Equal("no answer within 2 s", exchange.Error);
        Assert.Equal(SkillStepStatus.Failed, run.Steps.Single(s => s.StepId == "ask").Status);
        var note = Assert.Single(await tools.Kit.EntriesAsync(IncidentKinds.SkillNote)).PayloadAs<SkillNote>()!;
        Assert.Equal("the model's step ended timed-out", note.Text);
    }

    [Fact]
    public async Task InvestigateStep_NoModelConfigured_SkippedWithoutAJournaledExchange()
    {
        await using var tools = await ToolsKit.CreateAsync(level: 2, AgentLoopScheduleTests.Catalog(Asking));
        tools.Kit.World = Load("healthy");

        var run = await tools.Kit.Loop.RunSkillByHandAsync(AgentKit.Cluster, "asking", null, null, Ct);

        Assert.Equal(SkillRunStatus.Completed, run.Status);
        Assert.Equal(SkillStepStatus.Skipped, run.Steps.Single(s => s.StepId == "ask").Status);
        Assert.Empty(await tools.Kit.EntriesAsync(JournalKinds.BrainExchange));
        Assert.Equal("the model's step ended no-model", Assert.Single(await tools.Kit.EntriesAsync(IncidentKinds.SkillNote)).PayloadAs<SkillNote>()!.Text);
    }

    [Fact]
    public async Task Replay_InvestigateStep_AnsweredFromTheLiveRunWithoutAskingAgain()
    {
        var skill = AgentLoopScheduleTests.Catalog(Asking).Find("asking")!;
        var snapshot = Load("healthy");
        var live = await new SkillRunner().RunAsync(skill, new SkillRunRequest("pg-test") { Snapshot = SnapshotRecorder.ToElement(snapshot) },
            new StaticModelHost(snapshot), Ct);
        Assert.Equal(SkillStepStatus.Answered, live.Steps.Single(s => s.StepId == "ask").Status);

        var host = new ReplaySkillHost([snapshot], live);
        var replayed = await new SkillRunner().RunAsync(skill, new SkillRunRequest("pg-test") { Snapshot = SnapshotRecorder.ToElement(snapshot) }, host, Ct);

        Assert.Equal(live.Decisions, replayed.Decisions);
        Assert.Equal(["the live answer", "the model's step ended answered"], host.Notes.Select(n => n.Text));
    }

    /// <summary>A live host whose model answers "the live answer" (once: replay must not come back).</summary>
    private sealed class StaticModelHost(PgRuntimeAgent.Sensing.Snapshot.ClusterSnapshot snapshot) : ISkillHost
    {
        private int _asked;

        public TimeProvider Time => TimeProvider.System;

        public Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken) => Task.FromResult(SnapshotRecorder.ToElement(snapshot));

        public Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no actions here");

        public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task RecordAsync(SkillNote note, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _asked) == 1
                ? Task.FromResult(new SkillInvestigation(SkillInvestigation.Answered, "the live answer", "model-x", "9"))
                : throw new InvalidOperationException("asked twice");
    }
}
