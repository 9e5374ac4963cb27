namespace PgRuntimeAgent.Acting;

/// <summary>How much the agent may do alone for a class of actions (SAE J3016 in spirit).</summary>
internal enum AutonomyLevel
{
    /// <summary>Observe: senses and records findings; proposes nothing of this class.</summary>
    Observe = 0,

    /// <summary>Recommend: records what it would do; an operator acts.</summary>
    Recommend = 1,

    /// <summary>Act after approval: the action waits as a pending approval.</summary>
    ActAfterApproval = 2,

    /// <summary>Act within guardrails: reacts to findings alone with reversible actions.</summary>
    ActWithinGuardrails = 3,

    /// <summary>Act proactively: also on schedules and predictions, and irreversible actions when reacting.</summary>
    ActProactively = 4,

    /// <summary>Full: every action of the class, proactive and irreversible included. Guardrails still hold.</summary>
    Full = 5,
}

/// <summary>Levels as the settings write them (whole numbers 0-5).</summary>
internal static class AutonomyLevels
{
    /// <summary>A configured number as a level: below 0 is <see cref="AutonomyLevel.Observe"/>, above 5 <see cref="AutonomyLevel.Full"/>.</summary>
    public static AutonomyLevel From(int level) => (AutonomyLevel)Math.Clamp(level, (int)AutonomyLevel.Observe, (int)AutonomyLevel.Full);

    /// <summary>The lower of two levels (a ceiling applied to a configured level).</summary>
    public static AutonomyLevel Min(AutonomyLevel a, AutonomyLevel b) => (AutonomyLevel)Math.Min((int)a, (int)b);
}
