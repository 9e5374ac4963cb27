using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Acting;

/// <summary>A settable cluster state for the guardrails.</summary>
internal sealed class StaticClusterState : IClusterStateProvider
{
    public ClusterGuardState? State { get; set; }

    public Task<ClusterGuardState?> GetStateAsync(string cluster, CancellationToken cancellationToken) =>
        Task.FromResult(State is not null && State.Cluster == cluster ? State : null);
}

/// <summary>A journal in a temp file, a policy, the scripted actuator and a pipeline over them.</summary>
internal sealed class ActingHarness : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-acting-test-").FullName;

    private ActingHarness(FakeTimeProvider time, SecretStore secrets)
    {
        Time = time;
        Secrets = secrets;
    }

    public FakeTimeProvider Time { get; }

    public SecretStore Secrets { get; }

    public IJournal Journal { get; private set; } = null!;

    public ScriptedActuator Actuator { get; } = new();

    public StaticClusterState State { get; } = new();

    public PolicySettings Policy { get; set; } = new();

    public PipelineOptions Options { get; set; } = new() { OwnerAlive = owner => owner.IsAlive() };

    public string JournalPath => Path.Combine(_dir, "journal.db");

    public static async Task<ActingHarness> CreateAsync(PolicySettings? policy = null)
    {
        var harness = new ActingHarness(new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero)), new SecretStore());
        harness.Policy = policy ?? new PolicySettings();
        harness.Journal = await SqliteJournal.OpenAsync(harness.JournalPath, harness.Secrets, harness.Time, TestContext.Current.CancellationToken);
        harness.State.State = harness.HealthyState();
        return harness;
    }

    public ClusterGuardState HealthyState() => new()
    {
        Cluster = "pg-test",
        ObservedAt = Time.GetUtcNow(),
        LeaderKnown = true,
        Leader = "pg-test-1",
        MemberLagBytes = new Dictionary<string, long?>(StringComparer.Ordinal) { ["pg-test-2"] = 0, ["pg-test-3"] = 4_000_000 },
    };

    public PolicyGate Gate() => new(Policy, Journal, Time);

    public ApprovalBook Approvals() => new(Journal, Policy.ApprovalTtl(), Time);

    public ActionPipeline Pipeline(IJournal? journal = null, TimeProvider? time = null)
    {
        var j = journal ?? Journal;
        var t = time ?? Time;
        return new ActionPipeline(j, new PolicyGate(Policy, j, t), new ApprovalBook(j, Policy.ApprovalTtl(), t), new ActuatorRegistry([Actuator]), State, t, Options);
    }

    public async Task<IJournal> OpenSecondJournalAsync() =>
        await SqliteJournal.OpenAsync(JournalPath, Secrets, Time, TestContext.Current.CancellationToken);

    public async Task<IReadOnlyList<JournalEntry>> EntriesAsync(string? correlation = null) =>
        await Journal.QueryAsync(new JournalQuery { CorrelationId = correlation }, TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await Journal.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left behind in the temp directory
        }
    }
}
