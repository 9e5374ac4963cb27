using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgRuntimeAgent.Acting.Sql;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Snapshot;

namespace PgRuntimeAgent.Acting.Patroni;

/// <summary>
/// <c>patroni.config</c> (PATCH /config with a JSON merge patch), <c>patroni.pause</c> and <c>patroni.resume</c>
/// (the same PATCH of <c>pause</c>). Execution reads the configuration first and records the exact inverse: the
/// previous value of every key it sets, null for keys that did not exist. Verification reads GET /config from
/// every member and, for PostgreSQL parameters, pg_settings on every member (the value PostgreSQL runs with, or a
/// pending restart); the undo of a parameter that did not exist expects the value each member had before.
/// </summary>
internal sealed partial class PatroniConfigActuator : IActuator
{
    private readonly IClusterSensing _sensing;
    private readonly PatroniControl _control;
    private readonly SqlConnector _sql;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public PatroniConfigActuator(IClusterSensing sensing, PatroniControl control, SqlConnector sql, TimeProvider time, ILogger logger)
    {
        _sensing = sensing;
        _control = control;
        _sql = sql;
        _time = time;
        _logger = logger;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [PatroniActions.Config, PatroniActions.Pause, PatroniActions.Resume];

    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The merge patch an action applies.</summary>
    public static JsonObject PatchOf(PlannedAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return action.Kind switch
        {
            PatroniActions.Pause => new JsonObject { ["pause"] = true },
            PatroniActions.Resume => new JsonObject { ["pause"] = null },
            _ => ConfigPatch.Parse(action.Parameter(PatroniActions.Patch) ?? throw new InputException($"{action.Id} has no '{PatroniActions.Patch}' parameter")),
        };
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var patch = PatchOf(action);
        var cluster = ClusterOf(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var checks = new List<CheckResult>();
        var (current, source) = await ReadConfigAsync(cluster, s, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return PrecheckResult.Fail("config-readable", source);
        }

        checks.Add(new CheckResult("config-readable", true, $"current configuration read from {source}"));
        var changes = ConfigPatch.Changes(current, patch);
        checks.Add(new CheckResult("changes", true, changes.All(c => c.IsNoOp)
            ? "no change: every value is already set"
            : string.Join("; ", changes.Where(c => !c.IsNoOp).Select(c => c.Describe()))));

        if (action.Kind == PatroniActions.Pause)
        {
            checks.Add(new CheckResult("not-paused", s.Patroni?.Paused != true, s.Patroni?.Paused == true ? "Patroni is already paused" : "Patroni manages the cluster now"));
        }
        else if (action.Kind == PatroniActions.Resume)
        {
            checks.Add(new CheckResult("paused", s.Patroni?.Paused == true, s.Patroni?.Paused == true ? "Patroni is paused" : "Patroni is not paused: nothing to resume"));
        }

        var parameters = ConfigPatch.Parameters(patch);
        if (parameters.Count > 0)
        {
            checks.AddRange(await CheckParametersAsync(cluster, s, parameters, current, cancellationToken).ConfigureAwait(false));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var patch = PatchOf(action);
        var cluster = ClusterOf(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var target = AnsweringMember(cluster, s);
        if (target is null)
        {
            return ExecuteResult.Failed("no member's Patroni API answers: nothing was sent");
        }

        var read = await _control.GetConfigAsync(cluster, target, CallTimeout, cancellationToken).ConfigureAwait(false);
        if (!read.Ok || read.JsonBody() is not { } current)
        {
            return ExecuteResult.Failed($"could not read the current configuration first, nothing was sent: {read.Describe()}");
        }

        var inverse = ConfigPatch.Inverse(current, patch);
        var parameters = ConfigPatch.Parameters(patch);

        // Parameters that did not exist come back to whatever each member runs with now: remember it, so the
        // undo can be verified exactly.
        var fresh = parameters.Keys.Where(p => ConfigPatch.Parameters(inverse).TryGetValue(p, out var back) && back is null).ToList();
        var restores = fresh.Count == 0 ? null : await LiveSettingsAsync(cluster, s, fresh, cancellationToken).ConfigureAwait(false);

        var reply = await _control.PatchConfigAsync(cluster, target, patch, CallTimeout, cancellationToken).ConfigureAwait(false);
        LogPatched(_logger, action.Id, reply.Endpoint, reply.Status);
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["endpoint"] = reply.Endpoint,
            ["http_status"] = reply.Status.ToString(CultureInfo.InvariantCulture),
            ["previous"] = Subset(current, patch).ToJsonString(),
            ["inverse"] = inverse.ToJsonString(),
            ["executed_at"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        };
        if (restores is not null)
        {
            details["settings_before"] = restores.ToJsonString();
        }

        if (!reply.Ok)
        {
            var why = reply.Status == 409 ? " (the configuration changed meanwhile; plan again)" : "";
            return ExecuteResult.Failed(reply.Describe() + why, reply.Describe()) with { Details = details };
        }

        PlannedAction undo = action.Kind switch
        {
            PatroniActions.Pause or PatroniActions.Resume => action.Undo ?? PatroniActions.PlanPause(action.Cluster, action.Kind == PatroniActions.Resume) with { Id = "" },
            _ => PatroniActions.ConfigUndo(action, inverse, restores),
        };
        return new ExecuteResult
        {
            Succeeded = true,
            Message = $"Patroni accepted the patch (HTTP {reply.Status}) on {target.Name}",
            Output = reply.Describe(),
            Details = details,
            Undo = undo,
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        var patch = PatchOf(action);
        var cluster = ClusterOf(action);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal);
        var waiting = new List<string>();
        var notes = new List<string>();

        // Every member's Patroni must serve the new configuration (it is one DCS key; a member that lags behind it
        // has not applied it yet).
        var reads = await Task.WhenAll(cluster.Members.Select(m => _control.GetConfigAsync(cluster, m, CallTimeout, cancellationToken))).ConfigureAwait(false);
        for (var i = 0; i < cluster.Members.Count; i++)
        {
            var member = cluster.Members[i].Name;
            if (!reads[i].Ok || reads[i].JsonBody() is not { } config)
            {
                waiting.Add($"{member}: /config not readable ({reads[i].Describe()})");
                evidence[$"{member}.config"] = "unreadable";
                continue;
            }

            var applied = ConfigPatch.IsApplied(config, patch, out var differences);
            evidence[$"{member}.config"] = applied ? "applied" : string.Join("; ", differences);
            if (!applied)
            {
                waiting.Add($"{member}: {string.Join("; ", differences)}");
            }
        }

        if (action.Kind is PatroniActions.Pause or PatroniActions.Resume)
        {
            var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
            var want = action.Kind == PatroniActions.Pause;
            foreach (var view in s.Patroni?.Members ?? [])
            {
                var paused = view.Node?.Paused == true || view.Cluster?.Paused == true;
                evidence[$"{view.Member}.paused"] = view.Reachable ? paused.ToString().ToLowerInvariant() : "unreachable";
                if (view.Reachable && paused != want)
                {
                    waiting.Add($"{view.Member} reports pause={paused.ToString().ToLowerInvariant()}");
                }
            }
        }

        var parameters = ConfigPatch.Parameters(patch);
        if (parameters.Count > 0)
        {
            var restores = action.Parameter(PatroniActions.Restores) is { } r ? ConfigPatch.Parse(r) : null;
            foreach (var member in cluster.Members)
            {
                var (live, error) = await ReadSettingsAsync(cluster, member, parameters.Keys, cancellationToken).ConfigureAwait(false);
                if (live is null)
                {
                    waiting.Add($"{member.Name}: pg_settings not readable ({error})");
                    continue;
                }

                foreach (var (name, value) in parameters)
                {
                    if (!live.TryGetValue(name, out var setting))
                    {
                        waiting.Add($"{member.Name}: {name} is not in pg_settings");
                        continue;
                    }

                    evidence[$"{member.Name}.{name}"] = setting.Describe() + (setting.PendingRestart ? " pending restart" : "");
                    var expected = ConfigPatch.ParameterText(value);
                    if (expected is null)
                    {
                        var before = (restores?[member.Name] as JsonObject)?[name]?.GetValue<string>();
                        if (before is not null && !string.Equals(before, setting.Setting, StringComparison.Ordinal))
                        {
                            waiting.Add($"{member.Name}: {name} is {setting.Describe()}, {before} before the change");
                        }
                    }
                    else if (!GucValue.Matches(setting, expected))
                    {
                        if (setting.PendingRestart)
                        {
                            notes.Add($"{member.Name} needs a restart for {name}");
                        }
                        else
                        {
                            waiting.Add($"{member.Name}: {name} is {setting.Describe()}, expected {expected}");
                        }
                    }
                }
            }
        }

        if (waiting.Count > 0)
        {
            return VerifyResult.Pending(string.Join("; ", waiting)) with { Evidence = evidence };
        }

        var message = $"applied on all {cluster.Members.Count} members" + (notes.Count > 0 ? "; " + string.Join("; ", notes) : "");
        return VerifyResult.Verified(message) with { Evidence = evidence };
    }

    public async Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        var patch = PatchOf(action);
        var cluster = ClusterOf(action);
        var s = await _sensing.SenseAsync(action.Cluster, cancellationToken).ConfigureAwait(false);
        var (current, source) = await ReadConfigAsync(cluster, s, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return new ReconcileResult(ReconcileStatus.Unknown, source);
        }

        if (!ConfigPatch.IsApplied(current, patch, out var differences))
        {
            return new ReconcileResult(ReconcileStatus.NotHappened, $"the configuration does not hold the patch: {string.Join("; ", differences)}");
        }

        var undo = action.Kind is PatroniActions.Pause or PatroniActions.Resume
            ? action.Undo
            : action.Parameter(PatroniActions.Inverse) is { } inverse ? PatroniActions.ConfigUndo(action, ConfigPatch.Parse(inverse), null) : null;
        return new ReconcileResult(ReconcileStatus.Happened, $"the configuration read from {source} holds the patch") { Undo = undo };
    }

    /// <summary>The current dynamic configuration from the leader (else any member that answers), and where it came from (or why not).</summary>
    public Task<(JsonObject? Config, string Source)> ReadConfigAsync(PgCluster cluster, ClusterSnapshot s, CancellationToken cancellationToken) =>
        ReadConfigAsync(_control, CallTimeout, cluster, s, cancellationToken);

    /// <summary>The current dynamic configuration from the leader (else any member that answers), and where it came from (or why not).</summary>
    public static async Task<(JsonObject? Config, string Source)> ReadConfigAsync(PatroniControl control, TimeSpan timeout, PgCluster cluster, ClusterSnapshot s,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(s);
        var problems = new List<string>();
        foreach (var member in Answering(cluster, s))
        {
            var reply = await control.GetConfigAsync(cluster, member, timeout, cancellationToken).ConfigureAwait(false);
            if (reply.Ok && reply.JsonBody() is { } config)
            {
                return (config, reply.Endpoint);
            }

            problems.Add(reply.Describe());
        }

        return (null, problems.Count == 0 ? "no member's Patroni API answers" : "the configuration could not be read: " + string.Join("; ", problems));
    }

    private static PgMember? AnsweringMember(PgCluster cluster, ClusterSnapshot s) => Answering(cluster, s).FirstOrDefault();

    /// <summary>Members whose Patroni answered in the snapshot, the leader first.</summary>
    private static IEnumerable<PgMember> Answering(PgCluster cluster, ClusterSnapshot s) =>
        cluster.Members
            .Where(m => s.FindMember(m.Name)?.Reachable == true)
            .OrderByDescending(m => string.Equals(m.Name, s.Leader, StringComparison.Ordinal));

    private async Task<IEnumerable<CheckResult>> CheckParametersAsync(PgCluster cluster, ClusterSnapshot s, IReadOnlyDictionary<string, JsonNode?> parameters,
        JsonObject current, CancellationToken cancellationToken)
    {
        var member = cluster.Members.FirstOrDefault(m => string.Equals(m.Name, s.Leader, StringComparison.Ordinal))
            ?? cluster.Members.FirstOrDefault(m => s.FindMember(m.Name)?.PostgresReachable == true);
        if (member is null)
        {
            return [new CheckResult("parameters", true, "no member's PostgreSQL answers: parameter names not checked")];
        }

        var (live, error) = await ReadSettingsAsync(cluster, member, parameters.Keys, cancellationToken).ConfigureAwait(false);
        if (live is null)
        {
            return [new CheckResult("parameters", true, $"parameter names not checked: {error}")];
        }

        var inFile = await ReadPatroniFileAsync(cluster, member, parameters.Keys, cancellationToken).ConfigureAwait(false);
        var dcs = current["postgresql"]?["parameters"] as JsonObject;
        var checks = new List<CheckResult>();
        foreach (var name in parameters.Keys)
        {
            // Patroni writes postgresql.conf from the cluster configuration merged with the member's own patroni.yml
            // (postgresql.parameters), and the member's own value wins: a value there that the cluster configuration
            // does not explain is a local override, and a change through PATCH /config would not take effect.
            if (inFile.TryGetValue(name, out var fileValue) && !string.Equals(ConfigPatch.ParameterText(dcs?[name]), fileValue, StringComparison.Ordinal))
            {
                checks.Add(new CheckResult($"parameter {name}", false,
                    $"{member.Name}'s postgresql.conf sets {name} = {fileValue}, which the cluster configuration does not: it comes from the member's own Patroni configuration (postgresql.parameters in patroni.yml), which overrides PATCH /config; change it there"));
                continue;
            }

            if (!live.TryGetValue(name, out var setting))
            {
                checks.Add(new CheckResult($"parameter {name}", false, $"{member.Name} knows no parameter '{name}' (pg_settings): PostgreSQL would reject the configuration"));
            }
            else if (setting.Context == "internal")
            {
                checks.Add(new CheckResult($"parameter {name}", false, $"{name} cannot be changed (context internal)"));
            }
            else
            {
                checks.Add(new CheckResult($"parameter {name}", true, setting.Context == "postmaster"
                    ? $"now {setting.Describe()}; takes effect after a restart (context postmaster)"
                    : $"now {setting.Describe()}; applied by a reload (context {setting.Context})"));
            }
        }

        return checks;
    }

    /// <summary>
    /// The values <paramref name="names"/> have in the postgresql.conf Patroni writes on <paramref name="member"/>
    /// (config_file; pg_file_settings reads it as it is now). Empty when it cannot be read.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, string>> ReadPatroniFileAsync(PgCluster cluster, PgMember member, IEnumerable<string> names,
        CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _sql.OpenAsync(cluster, member, null, cancellationToken).ConfigureAwait(false);
            var rows = await SqlConnector.RowsAsync(connection,
                "select distinct on (name) name, setting from pg_file_settings where sourcefile = current_setting('config_file') and name = any($1::text[]) order by name, seqno desc",
                [names.ToArray()], TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            return rows.Where(r => r["setting"] is string).ToDictionary(r => (string)r["name"]!, r => (string)r["setting"]!, StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }
    }

    /// <summary>pg_settings.setting of <paramref name="names"/> on every member whose PostgreSQL answers (member → name → setting).</summary>
    private async Task<JsonObject> LiveSettingsAsync(PgCluster cluster, ClusterSnapshot s, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        var result = new JsonObject();
        foreach (var member in cluster.Members.Where(m => s.FindMember(m.Name)?.PostgresReachable == true))
        {
            var (live, _) = await ReadSettingsAsync(cluster, member, names, cancellationToken).ConfigureAwait(false);
            if (live is null)
            {
                continue;
            }

            var values = new JsonObject();
            foreach (var (name, setting) in live)
            {
                values[name] = setting.Setting;
            }

            result[member.Name] = values;
        }

        return result;
    }

    private async Task<(IReadOnlyDictionary<string, LiveSetting>? Settings, string? Error)> ReadSettingsAsync(PgCluster cluster, PgMember member,
        IEnumerable<string> names, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _sql.OpenAsync(cluster, member, null, cancellationToken).ConfigureAwait(false);
            return (await SqlSettings.ReadAsync(connection, names.ToArray(), cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            return (null, $"{_sql.Describe(cluster, member, null)}: {SensorCall.Describe(ex)}");
        }
    }

    /// <summary>The part of <paramref name="current"/> the patch touches (the previous values, for the journal).</summary>
    private static JsonObject Subset(JsonObject current, JsonObject patch)
    {
        var result = new JsonObject();
        foreach (var (key, value) in patch)
        {
            if (value is JsonObject nested && current[key] is JsonObject inner)
            {
                result[key] = Subset(inner, nested);
            }
            else if (current[key] is { } before)
            {
                result[key] = before.DeepClone();
            }
        }

        return result;
    }

    private PgCluster ClusterOf(PlannedAction action) =>
        _sensing.Topology.FindCluster(action.Cluster) ?? throw new InputException($"no cluster '{action.Cluster}' in the inventory");

    [LoggerMessage(EventId = 5110, Level = LogLevel.Information, Message = "Action {ActionId}: {Endpoint} answered HTTP {Status}")]
    private static partial void LogPatched(ILogger logger, string actionId, string endpoint, int status);
}
