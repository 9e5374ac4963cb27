using Microsoft.Extensions.Logging;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Tests.Agent;
using PgRuntimeAgent.Tests.Detection;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Secrets;

public sealed class LogRedactionTests
{
    private const string KnownSecret = "Kn0wn-Secret-Value!";
    private const string ConnectionPassword = "C0nnStr1ngPa55";
    private const string UrlPassword = "Ur1Pa55word";

    private static string LeakyMessage =>
        $"authentication failed with '{KnownSecret}'; Host=10.0.0.1;Port=5432;Username=dbuser_meta;Password={ConnectionPassword};Database=meta; "
        + $"while reaching postgresql://dbuser_meta:{UrlPassword}@10.0.0.1:5432/meta";

    [Fact]
    public void Exception_KnownSecretConnectionStringAndUrlPasswords_AreMasked()
    {
        var secrets = new SecretStore();
        secrets.Add("test:password", KnownSecret, "test");

        var text = LogRedaction.Exception(new InvalidOperationException(LeakyMessage), secrets);

        Assert.DoesNotContain(KnownSecret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(ConnectionPassword, text, StringComparison.Ordinal);
        Assert.DoesNotContain(UrlPassword, text, StringComparison.Ordinal);
        Assert.Contains("Host=10.0.0.1", text, StringComparison.Ordinal);
        Assert.Contains("Password=" + SecretRef.Mask, text, StringComparison.Ordinal);
        Assert.Contains("postgresql://" + SecretRef.Mask + "@10.0.0.1", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_WithoutAStore_StillMasksSecretShapedValues()
    {
        var text = LogRedaction.Text($"connect failed: Password={ConnectionPassword};Host=x token: abc123def");

        Assert.DoesNotContain(ConnectionPassword, text, StringComparison.Ordinal);
        Assert.DoesNotContain("abc123def", text, StringComparison.Ordinal);
        Assert.Equal("", LogRedaction.Text(null));
    }

    [Fact]
    public async Task AgentLoop_SensingThrowsWithSecretsInItsMessage_TheLogCarriesNoSecret()
    {
        var logs = new LogRecorder();
        await using var kit = await AgentKit.CreateAsync(logger: logs.Logger("PgRuntimeAgent.Agent"));
        kit.Workspace.Secrets.Add("test:password", KnownSecret, "test");
        await kit.FeedAsync(DetectionKit.Load("healthy"));

        kit.FailNext = 1;
        kit.FailWith = new IOException(LeakyMessage);
        await kit.TickAsync();

        var log = logs.Single(7104, LogLevel.Warning);
        Assert.Contains(SecretRef.Mask, log.Message, StringComparison.Ordinal);
        Assert.All(logs.Logs, l =>
        {
            Assert.DoesNotContain(KnownSecret, l.Everything, StringComparison.Ordinal);
            Assert.DoesNotContain(ConnectionPassword, l.Everything, StringComparison.Ordinal);
            Assert.DoesNotContain(UrlPassword, l.Everything, StringComparison.Ordinal);
        });
    }
}
