using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using PgRuntimeAgent.Acting;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.LabTests.Agent;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.LabTests.Web;

/// <summary>
/// The web console end to end, in Debian's chromium driven by Playwright (the system browser: nothing is downloaded),
/// during a real disk-full drill at autonomy 2: the on-call engineer signs in with the lab's approver token, sees the
/// fence wait on the approvals page, approves it there with a note, and watches the incident page show the recovery.
/// Screenshots of every page go to artifacts/screenshots/console/.
/// </summary>
public sealed class ConsoleBrowserTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Shots { get; } = Path.Combine(RepoPaths.Root, "artifacts", "screenshots", "console");

    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task DiskFullDrill_AtAutonomy2_TheFenceIsApprovedInTheConsole_AndTheIncidentPageShowsTheRecovery()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: pgra lab up installs Debian's chromium package");
        Directory.CreateDirectory(Shots);
        await using var agent = await AgentLab.CreateAsync(lab, level: 2);
        var settings = agent.Workspace.Settings;
        var oncall = settings.Http.Tokens.FirstOrDefault(t => t.Role == WebRole.Approver)
            ?? throw new InvalidOperationException("the lab's settings have no approver token in http.tokens (pgra lab up writes oncall)");
        var token = agent.Workspace.Secrets.Reveal(oncall.Token!);
        await using var web = await AgentWebHosting.StartAsync(agent.Workspace, agent.Runtime.Acting, RepoPaths.Skills, agent.Runtime, TimeProvider.System,
            NullLoggerFactory.Instance, Ct);
        Assert.NotNull(web);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1440, Height = 1000 }, BaseURL = web.Address.ToString() });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add("page error: " + e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Add("console error: " + m.Text);
            }
        };
        var pages = new List<(string Name, string Html)>();
        async Task ShotAsync(string name)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Shots, name + ".png"), FullPage = true });
            pages.Add((name, await page.ContentAsync()));
        }

        // Sign in with the approver token; the console comes back to the approvals page.
        await page.GotoAsync("console/#/approvals");
        await page.Locator("input[name=token]").FillAsync(token);
        await page.Locator("button[type=submit]").ClickAsync();
        await page.Locator("input[name=token]").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });
        // Before signing in, the page's session probe is answered 401 (which the browser logs): from here on, no error at all.
        errors.Clear();
        await page.GotoAsync("console/#/");
        await page.Locator("[data-testid=cluster-card][data-cluster=pg-test]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        await ShotAsync("01-fleet-healthy");

        string? approvalId = null, incidentId = null, result = null;
        var r = await AgentLab.DrillAsync(lab, new FaultDrillOptions
        {
            Scenario = "disk-full",
            Cap = TimeSpan.FromSeconds(120),
            AfterInject = async (ctx, ct) =>
            {
                var asked = await ctx.WaitForEventAsync(e => e.Name == AgentEventNames.ApprovalRequested, TimeSpan.FromSeconds(60), ct);
                Assert.NotNull(asked);
                approvalId = asked.Details["action_id"];
                incidentId = asked.Incident;

                // The approvals page shows it live: the page was opened before the approval existed.
                await page.GotoAsync("console/#/approvals");
                var card = page.Locator($"article.approval[data-approval-id='{approvalId}']");
                await card.WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
                await ShotAsync("02-approval-pending");
                await card.Locator("textarea[name=note]").FillAsync("leader's WAL disk is full: fence approved from the console (lab e2e)");
                await card.Locator("button[data-action=approve]").ClickAsync();
                var answer = page.Locator($"article.approval[data-approval-id='{approvalId}'] [data-role=result]");
                await Assertions.Expect(answer).ToHaveTextAsync(new Regex("succeeded|failed|refused|verify-failed|timed-out|denied"), new LocatorAssertionsToHaveTextOptions { Timeout = 90_000 });
                result = await answer.InnerTextAsync();
                await ShotAsync("03-approval-decided");

                // Later steps of the skill (if any) are approved as the agent's own lab test does.
                await AgentLab.ApproveUntilWritesAsync(agent.Runtime, ctx, ct);
            },
        }, agent.Runtime);
        AgentLab.Report(r.Describe());
        AgentLab.Report($"console: approval {approvalId} decided in the browser: {result}");

        Assert.NotNull(approvalId);
        Assert.NotNull(incidentId);
        Assert.Contains("succeeded", result, StringComparison.Ordinal);
        var granted = Assert.Single(await agent.Journal.QueryAsync(new JournalQuery { CorrelationId = approvalId, Kinds = [JournalKinds.ApprovalGranted] }, Ct));
        var decision = granted.PayloadAs<ApprovalDecisionPayload>()!;
        Assert.Equal(($"console:{oncall.Name}", "leader's WAL disk is full: fence approved from the console (lab e2e)"), (decision.By, decision.Note));
        Assert.True(r.Restored, r.Describe());

        // The incident page: resolved, the outage chart with the recovery marked, the post-mortem rendered.
        await page.GotoAsync($"console/#/incidents/{incidentId}");
        await Assertions.Expect(page.Locator("[data-testid=incident-state]")).ToHaveTextAsync("resolved", new LocatorAssertionsToHaveTextOptions { Timeout = 90_000 });
        await page.Locator("svg[data-testid=outage-chart] [data-mark=recovery]").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = 30_000 });
        await page.Locator("[data-testid=postmortem] h1, [data-testid=postmortem] h2").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.True(await page.Locator("[data-testid=timeline] a[href^='#/journal/']").CountAsync() > 0, "the timeline links no journal entry");
        await ShotAsync("04-incident-recovered");

        await page.GotoAsync("console/#/clusters/pg-test");
        await page.Locator("svg[data-testid=lag-chart]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        await ShotAsync("05-cluster");

        await page.GotoAsync("console/#/journal");
        await page.Locator("[data-testid=verify]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=verify-result]")).ToContainTextAsync(new Regex("ok|verified|intact", RegexOptions.IgnoreCase), new LocatorAssertionsToContainTextOptions { Timeout = 30_000 });
        await ShotAsync("06-journal-verified");

        await page.GotoAsync("console/#/");
        await page.Locator("[data-testid=cluster-card][data-cluster=pg-test]").WaitForAsync();
        await ShotAsync("07-fleet-after");

        foreach (var shot in pages)
        {
            Assert.True(new FileInfo(Path.Combine(Shots, shot.Name + ".png")).Length > 10_000, $"{shot.Name}.png is empty");
            foreach (var secret in agent.Workspace.Secrets.MaskedValues)
            {
                Assert.False(shot.Html.Contains(secret, StringComparison.Ordinal), $"the {shot.Name} page shows the secret {secret[..2]}...");
            }
        }

        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors));
        AgentLab.Report($"console: {pages.Count} screenshots in {Shots}");
    }
}
