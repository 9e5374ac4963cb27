using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Policy;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Acting;

/// <summary>What an actuator factory may use to build its actuators: the topology and the settings sections actuators
/// read, as the workspace (the composition root) hands them out.</summary>
internal sealed record ActuatorContext
{
    public required Topology Topology { get; init; }

    /// <summary>The <c>sensing:</c> section (SSH connection, PostgreSQL database, pgBackRest, timeouts).</summary>
    public required SensingSettings Sensing { get; init; }

    /// <summary>The <c>endpoints:</c> section (metrics and logs URLs).</summary>
    public required EndpointSettings Endpoints { get; init; }

    /// <summary>The <c>policy:</c> section (allowed SSH commands).</summary>
    public required PolicySettings Policy { get; init; }

    /// <summary>The <c>journal:</c> section (where a SQLite journal lives decides where proposals go).</summary>
    public required JournalSettings Journal { get; init; }

    public required SecretStore Secrets { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory Logging { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Directory relative paths in settings are resolved against (the settings file's, else the inventory's).</summary>
    public required string BaseDirectory { get; init; }
}

/// <summary>
/// Builds actuators for a deployment. Implementations (Patroni, SQL, Ansible, SSH...) are discovered by reflection
/// in this assembly, like CLI command groups, so adding one needs no central registration.
/// </summary>
internal interface IActuatorFactory
{
    IEnumerable<IActuator> Create(ActuatorContext context);
}

internal static class ActuatorCatalog
{
    /// <summary>Every actuator every <see cref="IActuatorFactory"/> in this assembly builds for <paramref name="context"/>.</summary>
    public static ActuatorRegistry Discover(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var factories = typeof(ActuatorCatalog).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IActuatorFactory).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (IActuatorFactory)Activator.CreateInstance(t)!);
        return new ActuatorRegistry(factories.SelectMany(f => f.Create(context)));
    }
}
