using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRuntimeAgent.Skills;

public enum SkillRunStatus
{
    /// <summary>Reached the last step or an <c>end</c> target.</summary>
    Completed,

    /// <summary>A check did not hold and had no else/on_fail: the skill does not apply to this state.</summary>
    Stopped,

    /// <summary>A wait or verify timed out, an action failed, or a <c>fail</c> target was reached.</summary>
    Failed,

    /// <summary>An action is waiting for an operator's approval; the run ends here.</summary>
    AwaitingApproval,

    /// <summary>The policy or a guardrail refused an action and no on_fail handled it.</summary>
    Refused,

    /// <summary>The run could not be carried out (an expression could not be evaluated, the host failed, a loop).</summary>
    Error,
}

public enum SkillStepStatus
{
    /// <summary>The condition held (check, wait, verify).</summary>
    Passed,

    /// <summary>The condition did not hold (a check's else branch, a wait or verify that timed out).</summary>
    Failed,

    /// <summary>The step's <c>when</c> guard was false.</summary>
    Skipped,

    /// <summary>Dry run: a wait/verify after a planned action is assumed to pass (nothing was executed to wait for).</summary>
    Assumed,

    Succeeded,
    Planned,
    PendingApproval,
    Refused,
    Recorded,

    /// <summary>An investigate step the model answered (its answer is recorded for the incident).</summary>
    Answered,

    Error,
}

/// <summary>One evaluated input of a step: the expression as written (null for a composed value) and what it gave.</summary>
public sealed record SkillEvaluation(string Field, string? Expression, JsonElement Value);

/// <summary>Everything one step did, enough to journal and to replay it.</summary>
/// <param name="Sequence">1-based order of execution within the run (a step may run more than once in a loop).</param>
/// <param name="Snapshot">Digest of the snapshot the step last evaluated against.</param>
/// <param name="Next">Where the run went after this step: a step id, <c>end</c>, <c>fail</c>, or null when it stopped here.</param>
/// <param name="Polls">How many times a wait/verify evaluated its condition.</param>
public sealed record SkillStepRun(
    int Sequence,
    string StepId,
    SkillStepKind Kind,
    SkillStepStatus Status,
    IReadOnlyList<SkillEvaluation> Inputs,
    JsonElement Result,
    string? Next,
    DateTimeOffset StartedAt,
    double ElapsedMs,
    string Snapshot,
    int Polls,
    string? ActionClass,
    string? JournalId,
    string? Message);

/// <summary>What one decision of the run was, without timings: equal decisions compare equal (replay).</summary>
public sealed record SkillDecision(string StepId, SkillStepKind Kind, SkillStepStatus Status, string? Next, string? ActionClass, string? Parameters);

/// <summary>The record of one skill run, journaled as it is and replayable.</summary>
public sealed record SkillRun
{
    public required string Skill { get; init; }

    /// <summary>Digest of the skill file that ran (<see cref="Skills.Skill.Digest"/>).</summary>
    public required string SkillDigest { get; init; }

    public required string Cluster { get; init; }

    public required bool DryRun { get; init; }

    public JsonElement? Trigger { get; init; }

    public JsonElement? Parameters { get; init; }

    /// <summary>The cluster's active findings the run saw as <c>$findings</c> (null: none given).</summary>
    public JsonElement? Findings { get; init; }

    public required SkillRunStatus Status { get; init; }

    /// <summary>Why the run ended where it did, for a human.</summary>
    public required string Message { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required DateTimeOffset FinishedAt { get; init; }

    public required IReadOnlyList<SkillStepRun> Steps { get; init; }

    /// <summary>The decisions in order (step, outcome, where it went, action and parameters); timing-free.</summary>
    [JsonIgnore]
    public IReadOnlyList<SkillDecision> Decisions => Steps
        .Select(s => new SkillDecision(
            s.StepId,
            s.Kind,
            s.Status,
            s.Next,
            s.ActionClass,
            s.Kind == SkillStepKind.Action ? s.Inputs.FirstOrDefault(i => i.Field == "with")?.Value.GetRawText() : null))
        .ToList();
}
