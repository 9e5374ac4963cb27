using System.Text.Json;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// What the skill runner needs from the rest of the agent, kept small so the runner can be driven by the daemon
/// (live sensing and the action pipeline), by replay (journaled snapshots) or by a test.
/// </summary>
public interface ISkillHost
{
    /// <summary>The clock the runner times steps with and that <see cref="DelayAsync"/> waits on.</summary>
    TimeProvider Time { get; }

    /// <summary>A fresh snapshot of the cluster as the JSON object a ClusterSnapshot serialises to.</summary>
    Task<JsonElement> GetSnapshotAsync(string cluster, CancellationToken cancellationToken);

    /// <summary>
    /// Sends one action through the pipeline (plan, policy gate, precheck, journal intent, execute, verify, journal
    /// outcome). With <see cref="SkillActionRequest.DryRun"/> the pipeline plans and prechecks only and answers
    /// <see cref="SkillActionStatus.Planned"/>. Expected failures are outcomes, not exceptions.
    /// </summary>
    Task<SkillActionOutcome> ExecuteActionAsync(SkillActionRequest request, CancellationToken cancellationToken);

    /// <summary>Waits between polls of a wait/verify step (a test host advances a fake clock here).</summary>
    Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken);

    /// <summary>Journals a note, follow-up or proposed patch for the cluster's incident. Not called in a dry run.</summary>
    Task RecordAsync(SkillNote note, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the configured language model an investigate step's question with the run's evidence, within the step's
    /// time limit. A host without a model answers <see cref="SkillInvestigation.NoModel"/>; a model that is down, slow
    /// or wrong is an answer's status, never an exception. Not called in a dry run.
    /// </summary>
    Task<SkillInvestigation> InvestigateAsync(SkillInvestigationRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(SkillInvestigation.NoModel);
}

/// <summary>An investigate step's question, with what the model is given beside it.</summary>
/// <param name="Question">The step's rendered question.</param>
/// <param name="Runbook">The skill's prose (its markdown body), so the model reads the runbook the operators wrote.</param>
/// <param name="Evidence">The run so far: the trigger and every step's result, as JSON text.</param>
/// <param name="Timeout">The step's <c>timeout:</c>, or null for the model settings' own limit.</param>
public sealed record SkillInvestigationRequest(
    string Cluster,
    string Skill,
    string StepId,
    string Question,
    string Runbook,
    string Evidence,
    TimeSpan? Timeout,
    JsonElement? Trigger);

/// <summary>What the model answered to an investigate step.</summary>
/// <param name="Status">answered, no-model, empty, step-limit, timed-out or failed (the brain's exchange statuses).</param>
/// <param name="JournalId">The journal entry of the exchange (its sequence number), when one was journaled.</param>
/// <param name="Actions">Ids of the actions the model requested through the policy gate (each journaled on its own).</param>
public sealed record SkillInvestigation(string Status, string Answer, string? Model = null, string? JournalId = null, string? Error = null,
    IReadOnlyList<string>? Actions = null)
{
    public const string Answered = "answered";

    public static SkillInvestigation NoModel { get; } = new("no-model", "", Error: "no language model is configured (llm: in the settings)");

    public bool IsAnswered => Status == Answered && Answer.Length > 0;
}

/// <summary>An action a skill step asks the pipeline for.</summary>
/// <param name="Parameters">The step's <c>with:</c> after evaluation: always a JSON object.</param>
/// <param name="AutonomyCeiling">The skill's own ceiling for this class (min with the policy level), or null.</param>
/// <param name="Timeout">The step's <c>timeout:</c> for the whole action, or null for the pipeline's default.</param>
/// <param name="Trigger">The finding (or alert) that started the run, as given to the runner.</param>
/// <param name="SnapshotDigest">Digest of the snapshot the decision was taken on (see <see cref="SkillStepRun.Snapshot"/>).</param>
public sealed record SkillActionRequest(
    string Cluster,
    string ActionClass,
    JsonElement Parameters,
    string Skill,
    string StepId,
    string? Reason,
    bool DryRun,
    int? AutonomyCeiling,
    TimeSpan? Timeout,
    JsonElement? Trigger,
    string SnapshotDigest);

public enum SkillActionStatus
{
    /// <summary>Executed and verified by the pipeline.</summary>
    Succeeded,

    /// <summary>Executed (or prechecked) and failed; the pipeline journaled why.</summary>
    Failed,

    /// <summary>Not executed: a guardrail or the autonomy level forbids it (recommend-only levels land here).</summary>
    Refused,

    /// <summary>Not executed yet: waiting for an operator's approval (journaled with the evidence).</summary>
    PendingApproval,

    /// <summary>Dry run: planned and prechecked, not executed.</summary>
    Planned,
}

/// <summary>What the pipeline answered.</summary>
/// <param name="JournalId">Id of the journal entry for the intent/outcome (or the pending approval).</param>
/// <param name="Output">Anything the actuator returns that later steps may read (<c>$steps.ID.output</c>).</param>
public sealed record SkillActionOutcome(SkillActionStatus Status, string? JournalId = null, string? Message = null, JsonElement? Output = null);

/// <summary>A note a skill records for the incident: a plain note, a follow-up for the post-mortem, or a patch.</summary>
public sealed record SkillNote(string Cluster, string Skill, string StepId, string Kind, string Text, JsonElement? Data);
