using PgRuntimeAgent.Acting.Patroni;

namespace PgRuntimeAgent.Acting.Sql;

/// <summary>Registers the SQL actuators (indexes, ANALYZE/VACUUM, cancel/terminate, ALTER SYSTEM) for a deployment.</summary>
internal sealed class SqlActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var targets = new SqlTargets(ActionSensing.For(context), new SqlConnector(context.Secrets, context.Sensing.Postgres.Database));
        yield return new IndexActuator(targets);
        yield return new MaintenanceActuator(targets);
        yield return new BackendActuator(targets, context.Policy.SqlSessions);
        yield return new AlterSystemActuator(targets);
    }
}
