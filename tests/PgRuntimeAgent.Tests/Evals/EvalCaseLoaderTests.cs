using PgRuntimeAgent.Evals;
using PgRuntimeAgent.Yaml;

namespace PgRuntimeAgent.Tests.Evals;

/// <summary>A case file is read with every key checked against what exists, and every problem located at file:line:column.</summary>
public sealed class EvalCaseLoaderTests
{
    private const string Good = """
        description: A full WAL disk on the leader, then a lock pile-up.
        category: combined
        timing: norm
        load: workload
        faults:
          - scenario: disk-full
          - scenario: lock-pileup
            target: leader
            after_seconds: 10
            fixed: false
        autonomy:
          default: 0
          patroni.failover: 3
          member: 3
        approvals: approve
        expect:
          root_cause: [primary-disk-full]
          findings: [lock-pileup]
          actions:
            - { kind: member.fence, member: disk-full }
            - { kind: patroni.failover, member: other }
          tolerated:
            - inventory.propose_patch
            - { kind: sql.terminate_backend, object: fault }
        limits:
          rpo_bytes: 65536
          max_split_brain_seconds: 1.5
          time_limit_seconds: 150
        steps:
          setup:
            - sql: SELECT 1
              on: replica
            - shell: echo hi
              timeout_seconds: 5
          teardown:
            - sql: SELECT 2
        """;

    /// <summary>The smallest valid case; the bad inputs below change one of its nine lines.</summary>
    private static readonly string[] Minimal =
    [
        "description: d",                    // 1
        "category: crash",                   // 2
        "faults:",                           // 3
        "  - scenario: primary-crash",       // 4
        "expect:",                           // 5
        "  root_cause: [leader-missing]",    // 6
        "  actions: none",                   // 7
        "limits:",                           // 8
        "  time_limit_seconds: 60",          // 9
    ];

    private static (EvalCase? Case, List<YamlProblem> Problems) Parse(string text, string file = "case.yml")
    {
        var problems = new List<YamlProblem>();
        var result = EvalCaseLoader.Parse(text, "/evals/" + file, file, problems);
        return (result, problems);
    }

    /// <summary><see cref="Minimal"/> with line <paramref name="line"/> (1-based) replaced (null: removed), and lines appended.</summary>
    private static string Variant(int line = 0, string? replacement = null, params string[] append)
    {
        var lines = Minimal.ToList();
        if (line > 0)
        {
            if (replacement is null)
            {
                lines.RemoveAt(line - 1);
            }
            else
            {
                lines[line - 1] = replacement;
            }
        }

        return string.Join('\n', lines.Concat(append)) + "\n";
    }

    [Fact]
    public void Parse_AMegabyteLongValue_IsNamedByItsStartAndLength_NotEchoedWhole()
    {
        var huge = new string('u', 1_000_000);
        var (c, problems) = Parse(Variant(4, "  - scenario: " + huge));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.Contains($"unknown scenario '{huge[..60]}...' (1000000 characters)", problem.Message, StringComparison.Ordinal);
        Assert.True(problem.ToString().Length < 2_000, $"{problem.ToString().Length} characters");
        Assert.Equal("'short' stays", EvalCaseLoader.Clipped("'short' stays"));
    }

    [Fact]
    public void Parse_GoodCase_ReadsEveryKey()
    {
        var (c, problems) = Parse(Good);

        Assert.Empty(problems);
        Assert.NotNull(c);
        Assert.Equal("case", c.Name);
        Assert.Equal("combined", c.Category);
        Assert.Equal("norm", c.Timing);
        Assert.Equal(EvalLoad.Workload, c.Load);
        Assert.Equal(EvalApprovals.Approve, c.Approvals);
        Assert.Equal(["disk-full@leader", "lock-pileup@leader+10s"], c.Faults.Select(f => f.Describe()));
        Assert.True(c.Faults[0].Fixed);
        Assert.False(c.Faults[1].Fixed);
        Assert.Equal(0, c.Autonomy.DefaultLevel);
        Assert.Equal(3, c.Autonomy.LevelFor("patroni.failover"));
        Assert.Equal(3, c.Autonomy.LevelFor("member.fence"));
        Assert.Equal(0, c.Autonomy.LevelFor("sql.terminate_backend"));
        Assert.Equal(["primary-disk-full"], c.Expect.RootCause);
        Assert.Equal(["lock-pileup"], c.Expect.Findings);
        Assert.Equal(["member.fence@disk-full", "patroni.failover@other"], c.Expect.Actions.Select(a => a.Describe()));
        Assert.Equal(EvalMemberRule.Fault, c.Expect.Actions[0].Member);
        Assert.Equal("disk-full", c.Expect.Actions[0].Scenario);
        Assert.True(c.Expect.Tolerated[1].ObjectFromFault);
        Assert.Equal(65536, c.Limits.RpoBytes);
        Assert.Equal(1.5, c.Limits.MaxSplitBrainSeconds);
        Assert.Equal(150, c.Limits.TimeLimitSeconds);
        Assert.Equal([EvalStepKind.Sql, EvalStepKind.Shell], c.Setup.Select(s => s.Kind));
        Assert.Equal("replica", c.Setup[0].On);
        Assert.Equal(5, c.Setup[1].TimeoutSeconds);
        Assert.Equal("SELECT 2", Assert.Single(c.Teardown).Text);
    }

    [Fact]
    public void Parse_MinimalCase_TakesTheDefaults()
    {
        var (c, problems) = Parse(Variant());

        Assert.Empty(problems);
        Assert.NotNull(c);
        Assert.Equal("fast", c.Timing);
        Assert.Equal(EvalLoad.None, c.Load);
        Assert.Equal(EvalApprovals.None, c.Approvals);
        Assert.Equal("primary-crash@leader", Assert.Single(c.Faults).Describe());
        Assert.Equal(1, c.Autonomy.LevelFor("patroni.failover"));
        Assert.Empty(c.Expect.Actions);
        Assert.Null(c.Limits.RpoBytes);
        Assert.Equal(0, c.Limits.MaxSplitBrainSeconds);
    }

    [Theory]
    [InlineData(4, "  - scenario: primary-crsh", null, "case.yml:4:15", "unknown scenario 'primary-crsh'", "did you mean 'primary-crash'?")]
    [InlineData(6, "  root_cause: [leader-mising]", null, "case.yml:6:16", "unknown finding code 'leader-mising'", "did you mean 'leader-missing'?")]
    [InlineData(7, "  actions: [patroni.failovr]", null, "case.yml:7:13", "unknown action kind 'patroni.failovr'", "did you mean 'patroni.failover'?")]
    [InlineData(2, "category: crashes", null, "case.yml:2:11", "unknown category 'crashes'", "did you mean 'crash'?")]
    [InlineData(9, "  time_limit_seconds: soon", null, "case.yml:9:23", "'soon' is not a number of seconds", "plain number")]
    [InlineData(9, "  time_limit_seconds: 0", null, "case.yml:9:23", "'0' is not a number of seconds from 1 to 3600", "plain number")]
    [InlineData(0, null, "timeing: norm", "case.yml:10:1", "unknown key 'timeing' in a case", "did you mean 'timing'?")]
    [InlineData(0, null, "timing: slow", "case.yml:10:9", "unknown timing 'slow'", "fast, norm")]
    [InlineData(0, null, "load: heavy", "case.yml:10:7", "unknown load 'heavy'", "none, workload, pgbench")]
    [InlineData(0, null, "autonomy: { patroni.failover: 7 }", "case.yml:10:31", "'7' is not an autonomy level", "from 0 (observe) to 5 (full)")]
    [InlineData(0, null, "autonomy: { patroni.failovr: 3 }", "case.yml:10:13", "unknown action class 'patroni.failovr'", "did you mean 'patroni.failover'?")]
    [InlineData(0, null, "name: another", "case.yml:10:7", "the name 'another' differs from the file name 'case'", "rename the file")]
    [InlineData(7, "  actions: [patroni.failover]", "autonomy: { patroni: 0 }", "case.yml:7:13", "patroni.failover is at autonomy 0 in this case", "raise autonomy.patroni.failover")]
    [InlineData(7, "  actions: [none, member.fence]", null, "case.yml:7:13", "'none' stands alone", "write actions: none")]
    [InlineData(7, "  actions: [{ kind: member.fence, member: replication-stop }]", null, "case.yml:7:43", "unknown member rule 'replication-stop'", "any, fault, other, primary-crash")]
    [InlineData(7, "  actions: none\n  tolerate: none", null, "case.yml:8:3", "unknown key 'tolerate' in expect", "did you mean 'tolerated'?")]
    [InlineData(7, null, null, "case.yml:6:3", "expect has no actions", "actions: none")]
    [InlineData(0, null, "steps: { setup: [ { sql: SELECT 1, shell: ls } ] }", "case.yml:10:19", "the step has both sql and shell", "'- shell: COMMAND'")]
    [InlineData(0, null, "steps: { teardown: [ { shell: ls, on: leader } ] }", "case.yml:10:39", "a shell step runs on the admin node", "remove 'on'")]
    [InlineData(0, null, "steps: { setup: [ { sql: SELECT 1, on: the-primary } ] }", "case.yml:10:40", "'the-primary' is neither leader, replica nor a member name", "named member")]
    [InlineData(0, null, "approvals: yes", "case.yml:10:12", "unknown approvals 'yes'", "none, approve, deny")]
    [InlineData(0, null, "steps: { setup: [ { sql: SELECT 1, after_seconds: 5 } ] }", "case.yml:10:36", "after_seconds is only for steps.during", "move the step to steps.during")]
    [InlineData(0, null, "steps: { teardown: [ { patroni: restart, after_seconds: 5 } ] }", "case.yml:10:42", "after_seconds is only for steps.during", "remove it")]
    [InlineData(0, null, "steps: { during: [ { shell: ls, after_seconds: 60 } ] }", "case.yml:10:48", "the step starts after 60 s, at or past the time limit (60 s)", "raise limits.time_limit_seconds")]
    [InlineData(0, null, "steps: { during: [ { sql: SELECT 1, after_seconds: -1 } ] }", "case.yml:10:52", "'-1' is not a number of seconds from 0 to 3600", "plain number")]
    [InlineData(0, null, "steps: { during: [ { patroni: failover } ] }", "case.yml:10:31", "unknown patroni verb 'failover'", "patroni verbs: switchover, restart")]
    [InlineData(0, null, "steps: { during: [ { patroni: switchover, on: replica } ] }", "case.yml:10:47", "a switchover leaves the leader", "leave 'on' out")]
    [InlineData(0, null, "steps: { during: [ { on: leader } ] }", "case.yml:10:20", "the step has none of sql, shell and patroni", "'- patroni: switchover|restart'")]
    [InlineData(0, null, "steps: { duing: [] }", "case.yml:10:10", "unknown key 'duing' in steps", "did you mean 'during'?")]
    public void Parse_BadInput_ReportsFileLineColumnAndWhatToDo(int line, string? replacement, string? append, string where, string message, string hint)
    {
        var (c, problems) = Parse(Variant(line, replacement, append is null ? [] : [append]));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.Equal(ProblemSeverity.Error, problem.Severity);
        Assert.StartsWith(where + ": ", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Contains(hint, problem.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    target: replica", "case.yml:5:13", "primary-crash hits the leader; the lab cannot inject it on a replica")]
    [InlineData("    target: pg test", "case.yml:5:13", "'pg test' is neither leader, replica nor a member name")]
    [InlineData("    targt: leader", "case.yml:5:5", "unknown key 'targt' in faults[0]")]
    [InlineData("    after_seconds: 5", "case.yml:5:20", "the first fault starts the case: its after_seconds is 0")]
    [InlineData("    fixed: maybe", "case.yml:5:12", "'maybe' is not true or false")]
    public void Parse_BadFault_IsLocatedOnItsLine(string faultLine, string where, string message)
    {
        var lines = Minimal.ToList();
        lines.Insert(4, faultLine);

        var (c, problems) = Parse(string.Join('\n', lines));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.StartsWith(where + ": ", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ReplicaScenarioOnTheLeader_IsRefused()
    {
        var (c, problems) = Parse(Variant(4, "  - { scenario: replication-stop, target: leader }", "autonomy: 1"));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.Equal("case.yml:4:43", problem.Location);
        Assert.Contains("replication-stop hits a replica", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SameScenarioTwice_IsRefused()
    {
        var (c, problems) = Parse(Variant(4, "  - primary-crash\n  - scenario: primary-crash\n    after_seconds: 5"));

        Assert.Null(c);
        Assert.Contains(problems, p => p.Location == "case.yml:5:15" && p.Message.Contains("already faults[0]", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_FaultAfterTheTimeLimit_IsRefused()
    {
        var (c, problems) = Parse(Variant(4, "  - primary-crash\n  - scenario: lock-pileup\n    after_seconds: 60"));

        Assert.Null(c);
        Assert.Contains(problems, p => p.Location == "case.yml:6:20" && p.Message.Contains("at or past the time limit (60 s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_DuringSteps_LoadWithTheirTimesAndKinds()
    {
        var (c, problems) = Parse(Variant(0, null,
            "steps:",
            "  during:",
            "    - shell: timeout 50 sh -c 'while :; do :; done'",
            "      timeout_seconds: 55",
            "    - sql: SELECT 1",
            "      on: replica",
            "      after_seconds: 2.5",
            "    - patroni: restart",
            "      after_seconds: 10",
            "    - patroni: switchover",
            "      after_seconds: 30",
            "    - patroni: restart",
            "      on: pg-test-1",
            "      after_seconds: 59.5",
            "    - patroni: switchover",
            "      on: pg-test-2",
            "  setup:",
            "    - sql: SELECT 2"));

        Assert.Empty(problems);
        Assert.NotNull(c);
        Assert.Equal([EvalStepKind.Shell, EvalStepKind.Sql, EvalStepKind.Patroni, EvalStepKind.Patroni, EvalStepKind.Patroni, EvalStepKind.Patroni],
            c.During.Select(s => s.Kind));
        Assert.Equal([0, 2.5, 10, 30, 59.5, 0], c.During.Select(s => s.AfterSeconds));
        Assert.Equal(["shell (55 s)", "sql on replica", "patroni restart on replica", "patroni switchover on leader", "patroni restart on pg-test-1",
            "patroni switchover on pg-test-2"], c.During.Select(s => s.Describe()));
        Assert.Equal([EvalStep.Restart, EvalStep.Switchover], c.During.Skip(2).Take(2).Select(s => s.Text));
        Assert.Equal(60, c.During[2].TimeoutSeconds);
        Assert.Equal(0, Assert.Single(c.Setup).AfterSeconds);
        Assert.Empty(c.Teardown);
    }

    [Fact]
    public void Parse_NoDuringSteps_IsAnEmptyList()
    {
        var (c, problems) = Parse(Good);

        Assert.Empty(problems);
        Assert.NotNull(c);
        Assert.Empty(c.During);
        Assert.All(c.Setup.Concat(c.Teardown), s => Assert.Equal(0, s.AfterSeconds));
    }

    [Fact]
    public void Parse_AfterSecondsInSetup_IsAnErrorAtItsKey()
    {
        var (c, problems) = Parse(Variant(0, null,
            "steps:",
            "  setup:",
            "    - patroni: switchover",
            "      after_seconds: 30"));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.Equal("case.yml:13:7", problem.Location);
        Assert.Equal("steps.setup[0].after_seconds", problem.Subject);
        Assert.Contains("after_seconds is only for steps.during", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuringStepAtOrPastTheTimeLimit_IsAnErrorAtItsValue()
    {
        var (c, problems) = Parse(Variant(9, "  time_limit_seconds: 120",
            "steps:",
            "  during:",
            "    - patroni: restart",
            "      after_seconds: 119",
            "    - patroni: switchover",
            "      after_seconds: 120"));

        Assert.Null(c);
        var problem = Assert.Single(problems);
        Assert.Equal("case.yml:15:22", problem.Location);
        Assert.Contains("the step starts after 120 s, at or past the time limit (120 s)", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_PatroniStepInSetupAndTeardown_Loads()
    {
        var (c, problems) = Parse(Variant(0, null, "steps: { setup: [ { patroni: switchover } ], teardown: [ { patroni: restart, on: leader, timeout_seconds: 90 } ] }"));

        Assert.Empty(problems);
        Assert.NotNull(c);
        Assert.Equal("patroni switchover on leader", Assert.Single(c.Setup).Describe());
        var restart = Assert.Single(c.Teardown);
        Assert.Equal((EvalStepKind.Patroni, "restart", "leader", 90.0), (restart.Kind, restart.Text, restart.On, restart.TimeoutSeconds));
    }

    [Fact]
    public void Load_ShippedSoakCase_RunsBurnersARestartAndASwitchoverOverTwentyMinutes()
    {
        var set = EvalCaseLoader.LoadAll(Path.Combine(TestPaths.RepoRoot, "evals", "noise-soak.yml"));

        Assert.Empty(set.Problems);
        var soak = Assert.Single(set.Cases);
        Assert.Equal("noise-soak", soak.Name);
        Assert.Equal(EvalCategories.Noise, soak.Category);
        Assert.True(soak.IsNoFault);
        Assert.Equal(EvalLoad.Pgbench, soak.Load);
        Assert.Equal(1200, soak.Limits.TimeLimitSeconds);
        Assert.Empty(soak.Expect.Actions);
        Assert.Empty(soak.Setup);
        Assert.Equal(
            [(EvalStepKind.Shell, 0.0), (EvalStepKind.Shell, 0.0), (EvalStepKind.Patroni, 300.0), (EvalStepKind.Patroni, 720.0)],
            soak.During.Select(s => (s.Kind, s.AfterSeconds)));
        Assert.All(soak.During.Take(2), burner =>
        {
            Assert.Contains("timeout 1140 sh -c 'while :; do :; done'", burner.Text, StringComparison.Ordinal);
            Assert.Equal(1200, burner.TimeoutSeconds);
        });
        Assert.Equal(["patroni restart on replica", "patroni switchover on leader"], soak.During.Skip(2).Select(s => s.Describe()));
    }

    [Fact]
    public void Parse_NoFaultCase_MustBeNoiseAndExpectNothing()
    {
        var (quiet, none) = Parse("description: d\ncategory: noise\nfaults: none\nexpect:\n  actions: none\nlimits:\n  time_limit_seconds: 60\n");
        Assert.Empty(none);
        Assert.NotNull(quiet);
        Assert.True(quiet.IsNoFault);

        var (_, wrongCategory) = Parse("description: d\ncategory: crash\nfaults: []\nexpect:\n  actions: none\nlimits:\n  time_limit_seconds: 60\n");
        Assert.Contains(wrongCategory, p => p.Location == "case.yml:2:11" && p.Message.Contains("its category is 'noise'", StringComparison.Ordinal));

        var (_, withCode) = Parse("description: d\ncategory: noise\nfaults: none\nexpect:\n  root_cause: [lock-pileup]\n  actions: none\nlimits:\n  time_limit_seconds: 60\n");
        Assert.Contains(withCode, p => p.Location == "case.yml:5:15" && p.Message.Contains("expects no finding", StringComparison.Ordinal));

        var (_, noiseWithFault) = Parse(Variant(2, "category: noise"));
        Assert.Contains(noiseWithFault, p => p.Location == "case.yml:2:11" && p.Message.Contains("has no fault, and this one has", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_EveryProblemOfAFile_IsReportedNotJustTheFirst()
    {
        var (c, problems) = Parse(Variant(2, "category: crashes", "timeing: norm", "autonomy: { sql.terminate: 3 }"));

        Assert.Null(c);
        Assert.Equal(["case.yml:2:11", "case.yml:10:1", "case.yml:11:13"], problems.Select(p => p.Location));
    }

    [Fact]
    public void Parse_SyntaxErrorOrEmptyFile_IsALocatedProblemNotAnException()
    {
        var (broken, syntax) = Parse("description: d\ncategory: [crash\n");
        Assert.Null(broken);
        Assert.StartsWith("case.yml:", Assert.Single(syntax).ToString(), StringComparison.Ordinal);
        Assert.Contains("YAML syntax error", syntax[0].Message, StringComparison.Ordinal);

        var (empty, emptyProblems) = Parse("");
        Assert.Null(empty);
        Assert.Equal("case.yml: the file is empty; a case is a YAML mapping with description, category, faults, expect and limits (docs/evals.md)",
            Assert.Single(emptyProblems).ToString());

        var (list, listProblems) = Parse("- a\n- b\n");
        Assert.Null(list);
        Assert.Contains("a mapping (key: value lines) is expected", Assert.Single(listProblems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FileNameThatIsNotACaseName_IsAProblem()
    {
        var (c, problems) = Parse(Variant(), "Disk Full.yml");

        Assert.Null(c);
        Assert.Contains("the file name 'Disk Full' is not a case name", Assert.Single(problems).Message, StringComparison.Ordinal);
    }

    /// <summary>Every shipped case with one character removed (every 5th position), and cut short: problems, never an exception.</summary>
    [Fact]
    public void Parse_MutatedShippedCases_NeverThrow()
    {
        var parsed = 0;
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "evals"), "*.yml"))
        {
            var text = File.ReadAllText(file);
            for (var i = 0; i < text.Length; i += 5)
            {
                var problems = new List<YamlProblem>();
                var removed = EvalCaseLoader.Parse(text.Remove(i, 1), file, "case.yml", problems);
                _ = EvalCaseLoader.Parse(text[..i], file, "case.yml", new List<YamlProblem>());
                Assert.True(removed is not null || problems.Count > 0, $"{file} without character {i}: no case and no problem");
                parsed += 2;
            }
        }

        Assert.True(parsed > 1000, $"{parsed} inputs");
    }

    [Fact]
    public void LoadAll_DirectoryGlobAndFile_FindTheCasesAndCollectProblemsWithoutThrowing()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-evals-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "crash-one.yml"), Variant());
            File.WriteAllText(Path.Combine(dir, "crash-two.yaml"), Variant(6, "  root_cause: [leader-missing, primary-frozen]"));
            File.WriteAllText(Path.Combine(dir, "broken.yml"), Variant(4, "  - scenario: primary-crsh"));
            File.WriteAllText(Path.Combine(dir, "README.md"), "# not a case");

            var all = EvalCaseLoader.LoadAll(dir);
            Assert.Equal(3, all.Files.Count);
            Assert.Equal(["crash-one", "crash-two"], all.Cases.Select(c => c.Name));
            Assert.Equal(1, all.Errors);
            Assert.EndsWith("broken.yml:4:15", all.Problems[0].Location, StringComparison.Ordinal);

            var glob = EvalCaseLoader.LoadAll(Path.Combine(dir, "crash-*.y*ml"));
            Assert.Equal(["crash-one", "crash-two"], glob.Cases.Select(c => c.Name));
            Assert.Empty(glob.Problems);

            var one = EvalCaseLoader.LoadAll("crash-one.yml", dir);
            Assert.Equal("crash-one", Assert.Single(one.Cases).Name);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void LoadAll_NothingThere_IsAClearInputError()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-evals-").FullName;
        try
        {
            var missing = Assert.Throws<InputException>(() => EvalCaseLoader.LoadAll(Path.Combine(dir, "nope.yml")));
            Assert.Contains("no case file or directory", missing.Message, StringComparison.Ordinal);
            Assert.Contains("--cases", Assert.Single(missing.Problems), StringComparison.Ordinal);

            var empty = Assert.Throws<InputException>(() => EvalCaseLoader.LoadAll(dir));
            Assert.Contains("no case file (*.yml)", empty.Message, StringComparison.Ordinal);

            var glob = Assert.Throws<InputException>(() => EvalCaseLoader.LoadAll(Path.Combine(dir, "*.yml")));
            Assert.Contains("no case file matches", glob.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
