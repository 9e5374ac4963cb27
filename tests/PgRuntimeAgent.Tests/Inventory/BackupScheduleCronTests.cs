using PgRuntimeAgent.Inventory;

namespace PgRuntimeAgent.Tests.Inventory;

public sealed class BackupScheduleCronTests
{
    [Theory]
    [InlineData("0 1 * * *", true)]
    [InlineData("61 * * * *", false)]
    [InlineData("H 1 * * *", false)] // Cronos 0.13 reads H only with a seed: it threw MissingSeedException, not CronFormatException
    public void TryParseCron_AnyExpression_AnswersWithoutThrowing(string text, bool valid)
    {
        Assert.Equal(valid, BackupSchedule.TryParseCron(text, out var cron));
        Assert.Equal(valid, cron is not null);
    }
}
