using System.Net;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Settings;
using PgRuntimeAgent.Web;

namespace PgRuntimeAgent.Tests.Agent;

/// <summary>The <c>notify:</c> section as the settings loader binds and checks it: webhooks, console links, event names.</summary>
public sealed class NotifySettingsTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-notify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (SettingsLoadResult Result, string Path) Load(string yaml, SecretStore? secrets = null)
    {
        var path = Path.Combine(_dir, "lab.pgra.yml");
        File.WriteAllText(path, yaml);
        return (SettingsLoader.TryLoad(path, Path.Combine(_dir, "lab.yml"), secrets ?? new SecretStore(), NoEnvironment, Path.Combine(_dir, "etc")), path);
    }

    private static HttpSettings WebHost(string listen, string? certificate = null) => new()
    {
        Listen = listen,
        TlsCertificate = certificate,
        Tokens = [new HttpToken { Name = "ops", Token = new SecretStore().Add("t", "0123456789abcdef0123", "test") }],
    };

    [Fact]
    public void Default_Events_AreIncidentsApprovalsOutagesSkillErrorsBlindSensorsAndLostClusters()
    {
        Assert.Equal(
            [
                AgentEventNames.IncidentOpened, AgentEventNames.IncidentResolved, AgentEventNames.ApprovalRequested, AgentEventNames.SensingOutage,
                AgentEventNames.SkillErrored, AgentEventNames.SensorBlind, AgentEventNames.OwnershipLost,
            ],
            new NotifySettings().Events);
        Assert.DoesNotContain(AgentEventNames.SensorRestored, new NotifySettings().Events);
        Assert.DoesNotContain(AgentEventNames.OwnershipGained, new NotifySettings().Events);
        Assert.Equal(300, new NotifySettings().SensorBlindSeconds);
        Assert.All(new NotifySettings().Events, e => Assert.Contains(e, AgentEventNames.All));
    }

    [Theory]
    [InlineData("127.0.0.1:8765", null, "http://127.0.0.1:8765/console/")]
    [InlineData("127.0.0.1:9443", "agent.pem", "https://127.0.0.1:9443/console/")]
    [InlineData("localhost:8765", null, "http://localhost:8765/console/")]
    [InlineData("[::1]:8765", "agent.pem", "https://[::1]:8765/console/")]
    public void ConsoleBase_NoConsoleUrlAndTheWebHostOn_IsTheListenAddressWithConsole(string listen, string? certificate, string expected)
    {
        Assert.Equal(new Uri(expected), new NotifySettings().ConsoleBase(WebHost(listen, certificate)));
    }

    [Fact]
    public void ConsoleBase_ListeningOnEveryAddress_NamesThisMachine()
    {
        var console = new NotifySettings().ConsoleBase(WebHost("0.0.0.0:8765", "agent.pem"));

        Assert.Equal(new Uri($"https://{Dns.GetHostName()}:8765/console/"), console);
    }

    [Fact]
    public void ConsoleBase_WebHostOffOrOnAFreePort_IsNoLink()
    {
        Assert.Null(new NotifySettings().ConsoleBase(new HttpSettings()));
        Assert.Null(new NotifySettings().ConsoleBase(WebHost("127.0.0.1:0")));
    }

    [Fact]
    public void ConsoleBase_ConsoleUrlSet_WinsOverTheListenAddress()
    {
        var settings = new NotifySettings { ConsoleUrl = "https://pg-admin.example.com:8765/console/" };

        Assert.Equal(new Uri("https://pg-admin.example.com:8765/console/"), settings.ConsoleBase(WebHost("127.0.0.1:8765")));
        Assert.Equal(new Uri("https://pg-admin.example.com:8765/console/"), settings.ConsoleBase(new HttpSettings()));
    }

    [Fact]
    public void Load_ConsoleDefaultFromHttpListen_HttpAndHttps()
    {
        var (plain, _) = Load("""
            http:
              listen: 127.0.0.1:8777
              tokens: [ { name: ops, token: 0123456789abcdef0123 } ]
            """);
        var (tls, _) = Load("""
            http:
              listen: 127.0.0.1:8778
              tls_certificate: agent.pem
              tokens: [ { name: ops, token: 0123456789abcdef0123 } ]
            """);

        Assert.Empty(plain.Problems);
        Assert.Empty(tls.Problems);
        Assert.Equal(new Uri("http://127.0.0.1:8777/console/"), plain.Settings.Notify.ConsoleBase(plain.Settings.Http));
        Assert.Equal(new Uri("https://127.0.0.1:8778/console/"), tls.Settings.Notify.ConsoleBase(tls.Settings.Http));
    }

    [Fact]
    public void Load_SlackAndGenericWebhooks_BindEachAndMoveEveryUrlToTheSecretStore()
    {
        var secrets = new SecretStore();
        var (result, path) = Load("""
            notify:
              console_url: https://pg-admin.example.com:8765/console/
              sensor_blind_seconds: 120
              webhook_url: https://hooks.example.invalid/legacy/Legacy-Token-1
              format: slack
              webhooks:
                - url: https://hooks.slack.com/services/T000/B000/Slack-Token-2
                  format: slack
                - url: https://pager.example.com/hook/Pager-Token-3
                  events: [incident.opened, skill.errored, sensor.blind]
            """, secrets);

        Assert.Empty(result.Problems);
        var notify = result.Settings.Notify;
        Assert.Equal("https://pg-admin.example.com:8765/console/", notify.ConsoleUrl);
        Assert.Equal(120, notify.SensorBlindSeconds);
        Assert.Equal(NotifyFormat.Slack, notify.Format);
        Assert.Equal("https://hooks.example.invalid/legacy/Legacy-Token-1", secrets.Reveal(notify.WebhookUrl!));
        Assert.Equal(2, notify.Webhooks.Count);
        Assert.Equal((NotifyFormat.Slack, (IReadOnlyList<string>?)null), (notify.Webhooks[0].Format, notify.Webhooks[0].Events));
        Assert.Equal("https://hooks.slack.com/services/T000/B000/Slack-Token-2", secrets.Reveal(notify.Webhooks[0].Url!));
        Assert.Equal($"{path}:7 (notify.webhooks[0].url)", notify.Webhooks[0].Url!.Origin);
        Assert.Equal(NotifyFormat.Generic, notify.Webhooks[1].Format);
        Assert.Equal([AgentEventNames.IncidentOpened, AgentEventNames.SkillErrored, AgentEventNames.SensorBlind], notify.Webhooks[1].Events);
        Assert.Equal("https://pager.example.com/hook/Pager-Token-3", secrets.Reveal(notify.Webhooks[1].Url!));
        Assert.DoesNotContain("Token-", result.Settings.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ftp://pg-admin.example.com/console/", "is not an absolute http(s) URL")]
    [InlineData("pg-admin.example.com/console/", "is not an absolute http(s) URL")]
    [InlineData("https://pg-admin.example.com/console/?token=abc", "has a query or a fragment")]
    [InlineData("https://pg-admin.example.com/console/#/incidents", "has a query or a fragment")]
    public void Load_BadConsoleUrl_IsAProblemAtItsLineWithAHint(string url, string why)
    {
        var (result, path) = Load($"""
            notify:
              stdout: false
              console_url: "{url}"
            """);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:3:16: notify.console_url: ", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains(why, problem.Message, StringComparison.Ordinal);
        Assert.Contains("https://pg-admin.example.com:8765/console/", problem.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ConsoleUrlWithAPassword_IsAProblemThatDoesNotRepeatIt()
    {
        var secrets = new SecretStore();
        var (result, path) = Load("""
            notify:
              console_url: https://admin:Hunter2-Console@pg-admin.example.com/console/
            """, secrets);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:2:16: notify.console_url: ", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("user or a password", problem.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2-Console", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownEventName_IsAProblemListingTheKnownOnes()
    {
        var (result, path) = Load("""
            notify:
              events: [incident.opened, incident.open]
            """);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:2:11: notify.events: unknown event 'incident.open'", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("known events: agent.started,", problem.Hint, StringComparison.Ordinal);
        Assert.Contains("skill.errored", problem.Hint, StringComparison.Ordinal);
        Assert.Contains("sensor.restored", problem.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownEventNameOfAWebhook_IsAProblemAtThatWebhooksEvents()
    {
        var (result, path) = Load("""
            notify:
              webhooks:
                - url: https://pager.example.com/hook/abc
                  events: [skill.error, sensor.blinded]
            """);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:4:15: notify.webhooks[0].events: unknown events 'skill.error', 'sensor.blinded'", problem.ToString(), StringComparison.Ordinal);
        Assert.Contains("known events: ", problem.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SensorBlindSecondsBelowTen_IsAProblem()
    {
        var (result, path) = Load("""
            notify:
              sensor_blind_seconds: 5
            """);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:2:25: notify.sensor_blind_seconds: sensor_blind_seconds must be at least 10, got 5", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WebhookWithoutUrlOrWithABadOne_IsAProblemThatNeverRepeatsTheUrl()
    {
        var (result, path) = Load("""
            notify:
              webhooks:
                - format: slack
                - url: hooks.example.invalid/Not-A-Url-Secret
            """);

        Assert.Equal(2, result.Problems.Count);
        Assert.Contains(result.Problems, p => p.Subject == "notify.webhooks[0]" && p.Message.Contains("without a url", StringComparison.Ordinal) && p.Line == 3);
        var bad = Assert.Single(result.Problems, p => p.Subject == "notify.webhooks[1].url");
        Assert.StartsWith($"{path}:4:12: ", bad.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Not-A-Url-Secret", bad.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyWebhookEntry_IsAProblem()
    {
        var (result, path) = Load("""
            notify:
              webhooks: [ ~ ]
            """);

        var problem = Assert.Single(result.Problems);
        Assert.StartsWith($"{path}:2:13: notify.webhooks: webhooks[0] is empty", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WebhooksFromTheEnvironment_AreSecretsToo()
    {
        var secrets = new SecretStore();
        var result = SettingsLoader.TryLoad(null, Path.Combine(_dir, "lab.yml"), secrets,
            new Dictionary<string, string?> { ["PGRA_NOTIFY__WEBHOOKS"] = "[{ url: 'https://hooks.slack.com/services/T/B/Env-Token-9', format: slack }]" },
            Path.Combine(_dir, "etc"));

        Assert.Empty(result.Problems);
        var hook = Assert.Single(result.Settings.Notify.Webhooks);
        Assert.Equal("https://hooks.slack.com/services/T/B/Env-Token-9", secrets.Reveal(hook.Url!));
        Assert.Equal("$PGRA_NOTIFY__WEBHOOKS", hook.Url!.Origin);
    }
}
