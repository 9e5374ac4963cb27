using System.Collections.Concurrent;
using System.Diagnostics;

namespace PgRuntimeAgent.Tests.Hostile;

/// <summary>
/// Runs parser calls on a worker thread with a time limit, so a hang is a reported failure instead of a test run that
/// never ends. The worker has a large stack (256 MiB): a parser that recurses once per nesting level survives the
/// moderate depths the in-process tests feed it, so what they find is a wrong answer, not a dead test host. (A stack
/// overflow cannot be caught in .NET: the extreme depths run in a child process, see <see cref="ChildProcessTests"/>.)
/// A worker that overruns is abandoned (a background thread, it dies with the test host) and a new one takes over;
/// callers stop after a few hangs so that abandoned threads do not eat the machine.
/// </summary>
internal sealed class Guarded : IDisposable
{
    private const int StackBytes = 256 * 1024 * 1024;

    private Worker _worker = new();

    internal sealed record Result<T>(T? Value, Exception? Error, bool TimedOut, TimeSpan Elapsed);

    public Result<T> Invoke<T>(Func<T> call, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(call);
        T? value = default;
        Exception? error = null;
        var done = new ManualResetEventSlim();
        var clock = Stopwatch.StartNew();
        _worker.Post(() =>
        {
            try
            {
                value = call();
            }
#pragma warning disable CA1031 // every exception is data here: the caller classifies it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                error = ex;
            }
            finally
            {
                done.Set();
            }
        });
        if (!done.Wait(limit))
        {
            // Abandoned with its event (not disposed: the hung call still sets it if it ever finishes).
            _worker.Abandon();
            _worker = new Worker();
            return new Result<T>(default, null, true, clock.Elapsed);
        }

        done.Dispose();
        return new Result<T>(value, error, false, clock.Elapsed);
    }

    /// <summary>One call on a fresh guarded thread.</summary>
    public static Result<T> Once<T>(Func<T> call, TimeSpan limit)
    {
        using var guarded = new Guarded();
        return guarded.Invoke(call, limit);
    }

    public void Dispose() => _worker.Abandon();

    private sealed class Worker
    {
        private readonly BlockingCollection<Action> _work = new();

        public Worker()
        {
            var thread = new Thread(Loop, StackBytes) { IsBackground = true, Name = "hostile-input" };
            thread.Start();
        }

        public void Post(Action action) => _work.Add(action);

        /// <summary>No more work: the thread ends after the call it is in (if that ever returns).</summary>
        public void Abandon() => _work.CompleteAdding();

        private void Loop()
        {
            foreach (var action in _work.GetConsumingEnumerable())
            {
                action();
            }
        }
    }
}
