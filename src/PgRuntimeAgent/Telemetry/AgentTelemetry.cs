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
            Meter.CreateHistogram<double>("pgra.sensing.snapshot.duration", "s", "Time to take one cluster snapshot (every sensor, fused).",
                advice: Buckets(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30));

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
            Meter.CreateHistogram<double>("pgra.acting.action.duration", "s", "Time from the policy stage to the action's outcome.",
                advice: Buckets(0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800));

        /// <summary>
        /// <c>pgra.acting.approvals.pending</c>, tags cluster: actions waiting for an operator's decision, read from the
        /// approval book at most once per <c>telemetry.state_refresh_seconds</c> (<see cref="AgentStateMetrics"/>).
        /// </summary>
        public static ObservableGauge<long> ApprovalsPending { get; } =
            Meter.CreateObservableGauge("pgra.acting.approvals.pending", () => AgentStateMetrics.Observe(s => s.ApprovalsPending), "{approval}",
                "Actions waiting for an operator's approval (pgra approvals).");
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
            Meter.CreateHistogram<double>("pgra.journal.append.duration", "s", "Time to append one entry (write lock, hash chain, insert).",
                advice: Buckets(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1));

        /// <summary><c>pgra.journal.failures</c>, tags operation: a backend call that failed (the journal threw JournalException).</summary>
        public static Counter<long> Failures { get; } =
            Meter.CreateCounter<long>("pgra.journal.failures", "{call}", "Journal calls the backend failed.");

        /// <summary><c>pgra.journal.entries</c>: the journal's head sequence number (entries ever appended), read with the other state gauges.</summary>
        public static ObservableGauge<long> Entries { get; } =
            Meter.CreateObservableGauge("pgra.journal.entries", () => AgentStateMetrics.Observe(s => s.JournalEntries), "{entry}",
                "Entries in the journal (its head sequence number).");
    }

    /// <summary>Detection: findings the agent's loop raised (a finding seen for the first time, not every snapshot that still shows it).</summary>
    public static class Detection
    {
        public const string Name = Prefix + ".Detection";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.detection.findings</c>, tags cluster, code (a finding code), severity.</summary>
        public static Counter<long> FindingsRaised { get; } =
            Meter.CreateCounter<long>("pgra.detection.findings", "{finding}", "Findings raised by the agent's loop, by code and severity.");
    }

    /// <summary>Incidents: how many are open, from the journal.</summary>
    public static class Incidents
    {
        public const string Name = Prefix + ".Incidents";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.incidents.open</c>, tags cluster, severity: incidents not resolved (open or mitigating), read with the other state gauges.</summary>
        public static ObservableGauge<long> Open { get; } =
            Meter.CreateObservableGauge("pgra.incidents.open", () => AgentStateMetrics.Observe(s => s.IncidentsOpen), "{incident}",
                "Incidents not resolved yet (open or mitigating).");
    }

    /// <summary>Brain: the language model's exchanges (<c>pgra ask</c>, <c>diagnose --llm</c>, investigate steps).</summary>
    public static class Brain
    {
        public const string Name = Prefix + ".Brain";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.brain.model.calls</c>, tags provider, model (from <c>llm:</c>), status (answered, step-limit, empty, timed-out, failed).</summary>
        public static Counter<long> ModelCalls { get; } =
            Meter.CreateCounter<long>("pgra.brain.model.calls", "{call}", "Questions put to the language model, by how they ended.");

        /// <summary><c>pgra.brain.model.tokens</c>, tags provider, model, type (input, output): tokens as the provider counted them.</summary>
        public static Counter<long> ModelTokens { get; } =
            Meter.CreateCounter<long>("pgra.brain.model.tokens", "{token}", "Tokens sent to and received from the language model.");
    }

    /// <summary>MCP: every tool call of an MCP client (stdio or HTTP), as journaled.</summary>
    public static class Mcp
    {
        public const string Name = Prefix + ".Mcp";

        public static Meter Meter { get; } = new(Name);

        /// <summary><c>pgra.mcp.calls</c>, tags tool, transport (stdio, http), ok (true, false).</summary>
        public static Counter<long> Calls { get; } =
            Meter.CreateCounter<long>("pgra.mcp.calls", "{call}", "Tool calls of MCP clients, by tool and whether they were ok.");

        /// <summary><c>pgra.mcp.call.duration</c> (s), tags tool, transport, ok.</summary>
        public static Histogram<double> CallDuration { get; } =
            Meter.CreateHistogram<double>("pgra.mcp.call.duration", "s", "Wall time of one MCP tool call.",
                advice: Buckets(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30));
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
            Meter.CreateHistogram<double>("pgra.inventory.read.duration", "s", "Time to read, build and validate one inventory.",
                advice: Buckets(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1));
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
    public static IReadOnlyList<string> MeterNames { get; } =
        [Sensing.Name, Acting.Name, Policy.Name, Journal.Name, Detection.Name, Incidents.Name, Brain.Name, Mcp.Name, Inventory.Name, Lab.Name];

    /// <summary>The pattern an OpenTelemetry provider subscribes with to hear every meter and source above.</summary>
    public const string Wildcard = Prefix + ".*";

    /// <summary>Bucket boundaries (seconds) a histogram advises its listeners to use; OpenTelemetry's default ones are for milliseconds.</summary>
    private static InstrumentAdvice<double> Buckets(params double[] bounds) => new() { HistogramBucketBoundaries = bounds };
}
