using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Tests.Telemetry;

namespace PgRuntimeAgent.Tests.Lab;

/// <summary>The lab's logs where no lab is involved: <c>lab down</c> on a directory without a lab stops nothing.</summary>
public sealed class LabLogTests
{
    [Fact]
    public async Task Down_DirectoryWithoutManifest_LogsTheProblemAndTheSummary()
    {
        var dir = Directory.CreateTempSubdirectory("pgra-lab-log-").FullName;
        var logs = new LogRecorder();
        try
        {
            var result = await new LabDown(new FakeTimeProvider(), logs.Logger()).RunAsync(dir, purge: false, TestContext.Current.CancellationToken);

            Assert.Empty(result.Stopped);
            var problem = logs.Single(8003, LogLevel.Warning);
            Assert.Contains(LabManifest.FileName, problem.Message, StringComparison.Ordinal);
            var down = logs.Single(8002, LogLevel.Information);
            Assert.Contains("0 process(es) stopped", down.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
