using PgRuntimeAgent.Catalog;
using PgRuntimeAgent.Evals;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Skills;

namespace PgRuntimeAgent.Tests.Evals;

/// <summary>The cases under evals/ load clean and cover what issue #15 asks for.</summary>
public sealed class ShippedEvalCasesTests
{
    private static string EvalsDirectory => Path.Combine(TestPaths.RepoRoot, "evals");

    private static EvalCaseSet Shipped { get; } = EvalCaseLoader.LoadAll(EvalsDirectory);

    [Fact]
    public void LoadAll_ShippedCases_LoadWithoutAProblem()
    {
        Assert.True(Shipped.Problems.Count == 0, string.Join(Environment.NewLine, Shipped.Problems));
        Assert.Equal(Shipped.Files.Count, Shipped.Cases.Count);
        Assert.True(Shipped.Cases.Count >= 20, $"{Shipped.Cases.Count} cases");
    }

    [Fact]
    public void ShippedCases_CoverEveryLabScenarioAndCategory()
    {
        var injected = Shipped.Cases.SelectMany(c => c.Faults).Select(f => f.Scenario).ToHashSet(StringComparer.Ordinal);
        Assert.All(LabScenarios.All, s => Assert.Contains(s.Name, injected));
        Assert.All(EvalCategories.All, category => Assert.Contains(Shipped.Cases, c => c.Category == category));
    }

    [Theory]
    [InlineData("primary-freeze")]
    [InlineData("disk-full")]
    public void ShippedCases_EveryGrayFailureRunsAtBothTimings(string scenario)
    {
        var timings = Shipped.Cases.Where(c => c.Faults.Count == 1 && c.Faults[0].Scenario == scenario).Select(c => c.Timing).ToHashSet(StringComparer.Ordinal);

        Assert.Equal(LabUp.HaPresets.ToHashSet(StringComparer.Ordinal), timings);
    }

    [Fact]
    public void ShippedCases_HaveTheCombinationsAndQuietCasesTheIssueNames()
    {
        bool Has(params string[] scenarios) => Shipped.Cases.Any(c => scenarios.All(s => c.Faults.Any(f => f.Scenario == s)) && c.Faults.Count == scenarios.Length);

        Assert.True(Has("lock-pileup", "primary-crash"), "a lock pile-up during a failover");
        Assert.True(Has("archive-broken", "disk-full"), "archive failing while the disk fills");
        Assert.True(Has("long-transaction", "missing-index"), "a long transaction plus a missing index");
        Assert.Contains(Shipped.Cases, c => c.IsNoFault && c.Load == EvalLoad.Pgbench);
        Assert.Contains(Shipped.Cases, c => c.IsNoFault && c.Load == EvalLoad.Workload);
        Assert.Contains(Shipped.Cases, c => c.Faults.Any(f => f.Target == "replica"));
    }

    /// <summary>The soak: busy (pgbench, both cores burnt) and operated (a replica restart, a switchover) for 20 minutes, and nothing wrong.</summary>
    [Fact]
    public void ShippedCases_HaveTheTwentyMinuteNoiseSoak()
    {
        var soak = Assert.Single(Shipped.Cases, c => c.Name == "noise-soak");

        Assert.True(soak.IsNoFault);
        Assert.Equal(EvalCategories.Noise, soak.Category);
        Assert.Equal(EvalLoad.Pgbench, soak.Load);
        Assert.Equal(1200, soak.Limits.TimeLimitSeconds);
        Assert.Equal(2, soak.During.Count(s => s.Kind == EvalStepKind.Shell && s.AfterSeconds == 0));
        Assert.Contains(soak.During, s => s.Kind == EvalStepKind.Patroni && s.Text == EvalStep.Restart && s.On == "replica" && s.AfterSeconds == 300);
        Assert.Contains(soak.During, s => s.Kind == EvalStepKind.Patroni && s.Text == EvalStep.Switchover && s.AfterSeconds == 720);
        Assert.All(soak.During, s => Assert.True(s.AfterSeconds < soak.Limits.TimeLimitSeconds));
    }

    /// <summary>An expected action is one a shipped skill takes for one of the codes the case expects: the cases follow the runbooks.</summary>
    [Fact]
    public void ShippedCases_ExpectOnlyActionsTheirSkillsTake()
    {
        var skills = SkillCatalog.Load(Path.Combine(TestPaths.RepoRoot, "skills"));
        foreach (var c in Shipped.Cases)
        {
            var codes = c.Expect.RootCause.Concat(c.Expect.Findings).ToHashSet(StringComparer.Ordinal);
            var offered = skills.Skills.Where(s => s.Triggers.Findings.Any(codes.Contains)).SelectMany(s => s.Actions).ToHashSet(StringComparer.Ordinal);
            foreach (var action in c.Expect.Actions)
            {
                var cls = AgentCatalog.Default.FindAction(action.Kind)!.PolicyClass;
                Assert.True(offered.Contains(cls), $"{c.Name}: no skill triggered by {string.Join(", ", codes)} takes {action.Kind}");
            }
        }
    }

    [Fact]
    public void ShippedCases_AreNamedByTheirFileAndDescribed()
    {
        Assert.All(Shipped.Cases, c =>
        {
            Assert.Equal(Path.GetFileNameWithoutExtension(c.File), c.Name);
            Assert.True(c.Description.Length > 40, c.Name);
            Assert.True(c.Limits.TimeLimitSeconds <= (c.Name == "noise-soak" ? 1200 : 600), c.Name);
        });
        Assert.True(File.Exists(Path.Combine(EvalsDirectory, "README.md")));
    }
}
