using System.Collections.Concurrent;
using PgRuntimeAgent.Agent;

namespace PgRuntimeAgent.LabTests.Agent;

/// <summary>The agent's loop in the background with every event it emits kept in order.</summary>
internal sealed class RunningAgent : IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ConcurrentQueue<AgentEvent> _events = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
    private Task _loop = Task.CompletedTask;

    public IReadOnlyList<AgentEvent> Events => [.. _events];

    public static RunningAgent Start(AgentLab agent)
    {
        var running = new RunningAgent();
        agent.Runtime.Loop.AddObserver(new DelegateObserver(e =>
        {
            running._events.Enqueue(e);
            running._signal.Release();
        }));
        running._loop = Task.Run(() => agent.Runtime.RunAsync(running._stop.Token), CancellationToken.None);
        return running;
    }

    public async Task<AgentEvent?> WaitAsync(Func<AgentEvent, bool> match, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            if (_events.FirstOrDefault(match) is { } found)
            {
                return found;
            }

            try
            {
                await _signal.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                return _events.FirstOrDefault(match);
            }
        }
    }

    public IEnumerable<string> Timeline() => _events
        .Where(e => e.Name != AgentEventNames.Snapshot)
        .Select(e => $"{e.At:HH:mm:ss.f} {e.Name} [{e.Severity}] {e.Title}");

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _signal.Dispose();
    }
}
