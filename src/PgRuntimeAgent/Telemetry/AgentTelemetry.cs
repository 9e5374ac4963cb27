using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PgRuntimeAgent.Telemetry;

/// <summary>
/// The agent's own traces and metrics: one <see cref="ActivitySource"/> and one <see cref="Meter"/> per area, named
/// <c>PgRuntimeAgent.&lt;Area&gt;</c>, with the instruments below (docs/observability.md lists them). They cost
/// nothing until a listener (OpenTelemetry, dotnet-counters, dotnet-trace, a test) subscribes. Tags carry names
/// (cluster, sensor, kind, verdict, status), never values read from a database and never a secret.
/// </summary>
internal static class AgentTelemetry
{
    /// <summary>The prefix every source and meter name starts with (subscribe to <c>PgRuntimeAgent.*</c>).</summary>
    public const string Prefix = "PgRuntimeAgent";

    /// <summary>Sensing: one activity per cluster snapshot, its duration, and each sensor that could not see.</summary>
    public static class Sensing
    {
        public const string Name = Prefix + ".Sensing";

        public static ActivitySource Source { get; } = new(Name);

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.sensing.snapshot.duration</c> (s), tags cluster.</summary>
        public static Histogram<double> SnapshotDuration { get; } =
            Meter.CreateHistogram<double>("pgra.sensing.snapshot.duration", "s", "Time to take one cluster snapshot (every sensor, fused).");

        /// <summary><c>pgra.sensing.sensor.unhealthy</c>, tags cluster, sensor, health: a sensor that was degraded or unknown in a snapshot.</summary>
        public static Counter<long> SensorUnhealthy { get; } =
            Meter.CreateCounter<long>("pgra.sensing.sensor.unhealthy", "{snapshot}", "Snapshots in which a sensor was degraded or unknown.");
    }

    /// <summary>Acting: one activity per action run through the pipeline, and its result.</summary>
    public static class Acting
    {
        public const string Name = Prefix + ".Acting";

        public static ActivitySource Source { get; } = new(Name);

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.acting.actions</c>, tags cluster, kind, status (succeeded, refused, awaiting-approval...).</summary>
        public static Counter<long> Actions { get; } =
            Meter.CreateCounter<long>("pgra.acting.actions", "{action}", "Actions run through the pipeline, by how they ended.");

        /// <summary><c>pgra.acting.action.duration</c> (s), tags kind, status: from the policy stage to the outcome.</summary>
        public static Histogram<double> ActionDuration { get; } =
            Meter.CreateHistogram<double>("pgra.acting.action.duration", "s", "Time from the policy stage to the action's outcome.");
    }

    /// <summary>Policy: each decision of the policy stage.</summary>
    public static class Policy
    {
        public const string Name = Prefix + ".Policy";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.policy.decisions</c>, tags cluster, class, verdict.</summary>
        public static Counter<long> Decisions { get; } =
            Meter.CreateCounter<long>("pgra.policy.decisions", "{decision}", "Policy decisions, by verdict.");
    }

    /// <summary>Journal: appends and the backend's failures.</summary>
    public static class Journal
    {
        public const string Name = Prefix + ".Journal";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.journal.append.duration</c> (s), tags kind: one append (lock, chain, write).</summary>
        public static Histogram<double> AppendDuration { get; } =
            Meter.CreateHistogram<double>("pgra.journal.append.duration", "s", "Time to append one entry (write lock, hash chain, insert).");

        /// <summary><c>pgra.journal.failures</c>, tags operation: a backend call that failed (the journal threw JournalException).</summary>
        public static Counter<long> Failures { get; } =
            Meter.CreateCounter<long>("pgra.journal.failures", "{call}", "Journal calls the backend failed.");
    }

    /// <summary>Inventory: every read of a Pigsty inventory, and what it found.</summary>
    public static class Inventory
    {
        public const string Name = Prefix + ".Inventory";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.inventory.reads</c>, tags result (valid, invalid): one inventory read and validated.</summary>
        public static Counter<long> Reads { get; } =
            Meter.CreateCounter<long>("pgra.inventory.reads", "{read}", "Inventories read and validated, by result.");

        /// <summary><c>pgra.inventory.read.duration</c> (s), tags result: parse, build and validate one inventory.</summary>
        public static Histogram<double> ReadDuration { get; } =
            Meter.CreateHistogram<double>("pgra.inventory.read.duration", "s", "Time to read, build and validate one inventory.");
    }

    /// <summary>Lab: faults injected and healed by hand or by the drills.</summary>
    public static class Lab
    {
        public const string Name = Prefix + ".Lab";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.lab.faults</c>, tags scenario, operation (inject, heal), result (ok, unhealthy).</summary>
        public static Counter<long> Faults { get; } =
            Meter.CreateCounter<long>("pgra.lab.faults", "{fault}", "Lab faults injected and healed, by scenario and result.");
    }

    /// <summary>Every source's name (for a listener that wants all of them).</summary>
    public static IReadOnlyList<string> SourceNames { get; } = [Sensing.Name, Acting.Name];

    /// <summary>Every meter's name.</summary>
    public static IReadOnlyList<string> MeterNames { get; } = [Sensing.Name, Acting.Name, Policy.Name, Journal.Name, Inventory.Name, Lab.Name];
}
