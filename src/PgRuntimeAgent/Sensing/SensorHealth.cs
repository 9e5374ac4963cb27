using System.Net.Sockets;

namespace PgRuntimeAgent.Sensing;

/// <summary>
/// What a sensor could see. Ok: the source answered in full. Degraded: it answered in part (some members, some
/// queries, a fallback series). Unknown: nothing could be seen (unreachable, timed out, unparseable, not configured).
/// It describes the sensor's view, never the cluster's health.
/// </summary>
public enum SensorHealth
{
    Ok,
    Degraded,
    Unknown,
}

/// <summary>Health of one sensor (or one sensor against one target) in a snapshot.</summary>
/// <param name="Sensor">A <see cref="SensorNames"/> value.</param>
/// <param name="Target">Member name, endpoint or null for the whole cluster.</param>
public sealed record SensorStatus(string Sensor, string? Target, SensorHealth Health, string? Reason, double ElapsedMs)
{
    public static SensorStatus Ok(string sensor, string? target, double elapsedMs) => new(sensor, target, SensorHealth.Ok, null, elapsedMs);

    /// <summary>Worst health of the parts: all ok => ok; all unknown => unknown; a mix => degraded.</summary>
    public static SensorHealth Combine(IEnumerable<SensorHealth> parts)
    {
        var list = parts.ToList();
        if (list.Count == 0)
        {
            return SensorHealth.Unknown;
        }

        if (list.All(h => h == SensorHealth.Ok))
        {
            return SensorHealth.Ok;
        }

        return list.All(h => h == SensorHealth.Unknown) ? SensorHealth.Unknown : SensorHealth.Degraded;
    }
}

/// <summary>
/// A source answered something this agent cannot use (malformed JSON, an error body, an unexpected shape). The
/// message always names the endpoint. Sensors turn it into a health reason; it never leaves a snapshot.
/// </summary>
public sealed class SensorResponseException : Exception
{
    public SensorResponseException(string endpoint, string problem)
        : base($"{endpoint}: {problem}")
    {
        Endpoint = endpoint;
        Problem = problem;
    }

    public SensorResponseException(string endpoint, string problem, Exception inner)
        : base($"{endpoint}: {problem}", inner)
    {
        Endpoint = endpoint;
        Problem = problem;
    }

    public SensorResponseException()
        : this("(unknown endpoint)", "unusable response")
    {
    }

    public SensorResponseException(string message)
        : this("(unknown endpoint)", message)
    {
    }

    public string Endpoint { get; }

    public string Problem { get; }
}

/// <summary>The outcome of one bounded sensor call: a value, or the reason there is none.</summary>
public sealed record SensorOutcome<T>(T? Value, SensorHealth Health, string? Reason, double ElapsedMs, bool TimedOut)
{
    public bool Succeeded => Value is not null && Health != SensorHealth.Unknown;
}

/// <summary>
/// Runs one external call under its own timeout (linked to the caller's token) and turns expected failures into
/// values. The caller's cancellation is rethrown; the call's own timeout becomes <see cref="SensorHealth.Unknown"/>.
/// </summary>
public static class SensorCall
{
    public static async Task<SensorOutcome<T>> RunAsync<T>(
        string what,
        TimeSpan timeout,
        TimeProvider time,
        Func<CancellationToken, Task<T>> body,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(body);
        var started = time.GetTimestamp();
        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        try
        {
            var value = await body(linked.Token).ConfigureAwait(false);
            return new SensorOutcome<T>(value, SensorHealth.Ok, null, Ms(time, started), false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            // A client library wrapped the caller's cancellation (Refit does): it is still the caller's.
            throw new OperationCanceledException("cancelled by the caller", ex, cancellationToken);
        }
        catch (Exception ex) when (timeoutCts.IsCancellationRequested || ex is TimeoutException)
        {
            return new SensorOutcome<T>(default, SensorHealth.Unknown, $"{what}: timed out after {timeout.TotalSeconds:0.###}s", Ms(time, started), true);
        }
        catch (Exception ex) when (IsExpected(ex))
        {
            return new SensorOutcome<T>(default, SensorHealth.Unknown, $"{what}: {Describe(ex)}", Ms(time, started), false);
        }
    }

    /// <summary>Failures a sensor expects from the world (as opposed to bugs). Everything a source can do to us.</summary>
    public static bool IsExpected(Exception ex) => ex is Refit.ApiException or Refit.ApiRequestException || (ex.InnerException is { } inner && IsExpected(inner))
        || ex is HttpRequestException or SocketException or IOException
        or SensorResponseException or System.Text.Json.JsonException or Npgsql.NpgsqlException or TimeoutException
        or UnauthorizedAccessException or InvalidOperationException
        or System.ComponentModel.Win32Exception or CliWrap.Exceptions.CliWrapException or FormatException
        or OperationCanceledException;

    /// <summary>A one-line description without stack traces; the innermost useful message.</summary>
    public static string Describe(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        if (ex is SensorResponseException)
        {
            return ex.Message;
        }

        var message = ex.Message;
        var inner = ex.InnerException;
        while (inner is not null)
        {
            if (inner is SocketException or IOException or System.Security.Authentication.AuthenticationException)
            {
                message = $"{message} ({inner.Message})";
                break;
            }

            inner = inner.InnerException;
        }

        return message;
    }

    public static double Ms(TimeProvider time, long started) => Math.Round(time.GetElapsedTime(started).TotalMilliseconds, 1);
}

/// <summary>Measures wall time of a sensor with <see cref="TimeProvider"/>.</summary>
internal readonly struct SensorStopwatch(TimeProvider time)
{
    private readonly long _started = time.GetTimestamp();

    public double ElapsedMs => SensorCall.Ms(time, _started);

    public static SensorStopwatch Start(TimeProvider time) => new(time);
}
