using PgRuntimeAgent.Detection;
using PgRuntimeAgent.Incidents;

namespace PgRuntimeAgent.Tests.Incidents;

/// <summary>
/// The post-mortem's loss statement when a member took writes without the leader key or a timeline was discarded
/// (safety issue: "the split-brain post-mortem said 'Data-loss bound: 0 bytes'" while 2,094 acknowledged writes of the
/// new leader were lost). "0 bytes" is a proof; these hazards take the proof away whatever the failover said.
/// </summary>
public sealed class PostMortemLossBoundTests
{
    private static readonly DateTimeOffset T = new(2026, 12, 2, 3, 0, 0, TimeSpan.Zero);

    private static readonly DataLoss NoFailover = new(0, null, null, null, null, "no failover: the primary kept its WAL");

    private static Finding Raised(string code, string member, string observation, string? summary = null) => new()
    {
        Code = code,
        Severity = FindingSeverity.Critical,
        Cluster = "pg-test",
        Members = [member],
        Summary = summary ?? $"{code} on {member}",
        Evidence = [new FindingEvidence(T, "postgres", member, observation)],
        FirstSeen = T,
        LastSeen = T,
    };

    [Fact]
    public void Hazards_SplitBrainWhereTheMemberWithoutTheKeyAcceptedWrites_NoZeroByteBoundAndSaysWhatIsInvisible()
    {
        var unknowns = new List<string>();

        var loss = PostMortemBuilder.Hazards(NoFailover,
            [Raised(FindingCodes.SplitBrain, "pg-test-1", "pg-test-1 accepts writes (not in recovery) while etcd names pg-test-2")], unknowns);

        Assert.Null(loss.Bytes);
        Assert.Equal(0, loss.AtLeastBytes);
        Assert.StartsWith("at least 0 bytes, upper bound unknown", loss.Statement, StringComparison.Ordinal);
        Assert.Contains("pg-test-1 accepted writes without the leader key", loss.Method, StringComparison.Ordinal);
        Assert.Contains(unknowns, u => u.StartsWith("pg-test-1 accepted writes without the leader key", StringComparison.Ordinal));
    }

    [Fact]
    public void Hazards_DeposedPrimaryThatWasOnlyFrozen_KeepsTheProvenBound()
    {
        // A frozen ex-leader fenced before it answered again never accepted a write without the key.
        var unknowns = new List<string>();

        var loss = PostMortemBuilder.Hazards(NoFailover,
            [Raised(FindingCodes.DeposedPrimary, "pg-test-1", "pg-test-1 was the leader when it last answered and now times out")], unknowns);

        Assert.Equal(0, loss.Bytes);
        Assert.Empty(unknowns);
    }

    [Fact]
    public void Hazards_TimelineRollback_AddsTheDiscardedWalToTheFloor()
    {
        var unknowns = new List<string>();
        var asynchronous = new DataLoss(null, "0/3000100", T, "0/3000000", 13, "asynchronous replication") { AtLeastBytes = 256 };

        var loss = PostMortemBuilder.Hazards(asynchronous,
            [Raised(FindingCodes.TimelineRollback, "pg-test-3", "pg-test-3 is writable on timeline 12 after pg-test-2 was writable on 13",
                "timeline 13 of pg-test-2 was discarded: at least 4096 bytes of WAL")], unknowns);

        Assert.Null(loss.Bytes);
        Assert.Equal(256 + 4096, loss.AtLeastBytes);
        Assert.Contains(unknowns, u => u.StartsWith("a timeline was discarded", StringComparison.Ordinal));
    }
}
