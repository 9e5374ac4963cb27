namespace PgRuntimeAgent.Tests.Web;

/// <summary>
/// Tests that start a web host run one at a time: each host registers the process's state gauges
/// (<c>AgentStateMetrics.Current</c>), which read the journal of the host started last.
/// </summary>
[CollectionDefinition(Name)]
public sealed class WebHostCollection
{
    public const string Name = "web host";
}
