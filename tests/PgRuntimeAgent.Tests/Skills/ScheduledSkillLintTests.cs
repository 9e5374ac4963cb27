namespace PgRuntimeAgent.Tests.Skills;

/// <summary><c>pgra skills lint</c> on skills the daemon runs by schedule (their <c>$trigger.code</c> is <c>schedule</c>).</summary>
public sealed class ScheduledSkillLintTests
{
    [Fact]
    public async Task Lint_ScheduledSkillReadingTheScheduleTrigger_ExitsZeroWithoutDiagnostics()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-lint-");
        try
        {
            var path = Path.Combine(dir.FullName, "nightly-check.md");
            await File.WriteAllTextAsync(path, """
                ---
                name: nightly-check
                description: Checks the cluster every night, and on a backup-stale finding.
                triggers:
                  findings: [backup-stale]
                  schedules: ["@daily", "0 3 * * *"]
                ---
                # Nightly check

                ```yaml steps
                - id: scheduled
                  check: "$trigger.code == 'schedule'"
                  else: on_finding
                - id: note
                  record: "scheduled check of {{ $cluster }} ({{ $trigger.facts.schedule }}, due {{ $trigger.facts.due }})"
                  next: end
                - id: on_finding
                  record: "{{ $trigger.code }} on {{ $cluster }}: {{ $trigger.summary }}"
                ```
                """, TestContext.Current.CancellationToken);

            var result = await CliRunner.RunAsync("skills", "lint", path);

            Assert.Equal(0, result.ExitCode);
            Assert.Contains("1 skill file(s) checked: 0 error(s), 0 warning(s)", result.Out, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
