using Microsoft.Extensions.Time.Testing;
using PgRuntimeAgent.Sensing;

namespace PgRuntimeAgent.Tests.Sensing;

public sealed class SensorCallTests
{
    [Fact]
    public async Task RunAsync_OwnTimeoutFires_ReturnsUnknownTimedOut()
    {
        var time = new FakeTimeProvider();
        var call = SensorCall.RunAsync("GET /slow", TimeSpan.FromSeconds(2), time,
            ct => Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => 1, ct, TaskContinuationOptions.None, TaskScheduler.Default), TestContext.Current.CancellationToken);

        time.Advance(TimeSpan.FromSeconds(3));
        var outcome = await call;

        Assert.True(outcome.TimedOut);
        Assert.Equal(SensorHealth.Unknown, outcome.Health);
        Assert.Equal("GET /slow: timed out after 2s", outcome.Reason);
    }

    [Fact]
    public async Task RunAsync_CallerCancels_Rethrows()
    {
        using var cts = new CancellationTokenSource();
        var call = SensorCall.RunAsync("GET /slow", TimeSpan.FromMinutes(1), TimeProvider.System,
            async ct =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return 1;
            }, cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
    }

    [Fact]
    public async Task RunAsync_ExpectedFailure_ReturnsReasonWithoutThrowing()
    {
        var outcome = await SensorCall.RunAsync<int>("GET http://127.0.0.11:8008/patroni", TimeSpan.FromSeconds(1), TimeProvider.System,
            _ => throw new HttpRequestException("Connection refused (127.0.0.11:8008)"), TestContext.Current.CancellationToken);

        Assert.False(outcome.Succeeded);
        Assert.False(outcome.TimedOut);
        Assert.Equal("GET http://127.0.0.11:8008/patroni: Connection refused (127.0.0.11:8008)", outcome.Reason);
    }

    [Fact]
    public void Combine_MixedParts_IsDegraded()
    {
        Assert.Equal(SensorHealth.Ok, SensorStatus.Combine([SensorHealth.Ok, SensorHealth.Ok]));
        Assert.Equal(SensorHealth.Degraded, SensorStatus.Combine([SensorHealth.Ok, SensorHealth.Unknown]));
        Assert.Equal(SensorHealth.Unknown, SensorStatus.Combine([SensorHealth.Unknown, SensorHealth.Unknown]));
        Assert.Equal(SensorHealth.Unknown, SensorStatus.Combine([]));
    }

    [Theory]
    [InlineData("0/3000060", 0x3000060L)]
    [InlineData("1/0", 0x100000000L)]
    [InlineData("A/FF", 0xA000000FFL)]
    public void Lsn_ParseAndFormat_RoundTrip(string text, long position)
    {
        Assert.Equal(position, Lsn.Parse(text));
        Assert.Equal(text, Lsn.Format(position));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("3000060")]
    [InlineData("x/y")]
    public void Lsn_Parse_Invalid_IsNull(string? text)
    {
        Assert.Null(Lsn.Parse(text));
    }
}
