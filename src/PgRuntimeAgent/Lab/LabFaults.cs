using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Lab;

/// <summary>What an inject or heal did.</summary>
internal sealed record LabFaultResult(string Scenario, string Target, bool Ok, string Summary, IReadOnlyList<LabFaultStep> Steps, TimeSpan Duration);

/// <summary>
/// Injects real faults into the running lab and heals them. Every inject is recorded with its time, target and the
/// commands it ran (faults/journal.jsonl, faults/active/*.json in the lab directory); heal undoes what the record says.
/// </summary>
internal sealed class LabFaults : IDisposable
{
    public const string MissingLibrary = "pgra_missing_library";

    private readonly LabManifest _manifest;
    private readonly TimeProvider _time;
    private readonly LabCluster _cluster;
    private readonly List<LabFaultStep> _steps = [];
    private DateTimeOffset _injectStartedAt;
    private readonly ILogger _logger;

    public LabFaults(LabManifest manifest, TimeProvider time, ILogger? logger = null)
    {
        _manifest = manifest ?? throw new ArgumentNullException(nameof(manifest));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? NullLogger.Instance;
        _cluster = new LabCluster(manifest, time);
    }

    public TimeSpan HealTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Lets a second scenario hit a member that already has one (an evaluation's combined case: a lock pile-up, then
    /// the same leader crashes). Off for <c>pgra lab inject</c>, where a second fault on one member is more often a
    /// forgotten heal than an intent.
    /// </summary>
    public bool AllowSharedTarget { get; init; }

    /// <summary>Loads the lab in <paramref name="dir"/>; a lab that is not there or not running is an input error.</summary>
    public static async Task<LabManifest> RequireRunningAsync(string dir, TimeProvider time, CancellationToken cancellationToken)
    {
        var manifest = await LabManifest.TryLoadAsync(dir, cancellationToken).ConfigureAwait(false)
            ?? throw new InputException($"no lab in {dir}", ["bring it up with `pgra lab up` (or pass --dir)"]);
        using var cluster = new LabCluster(manifest, time);
        var members = await cluster.GetMembersAsync(cancellationToken).ConfigureAwait(false);
        if (members.Count == 0)
        {
            throw new InputException($"the lab in {dir} is down (no Patroni answers on {string.Join(", ", manifest.Members.Select(m => m.PatroniUrl.Authority))})",
                ["bring it up with `pgra lab up`"]);
        }

        return manifest;
    }

    public async Task<LabFaultResult> InjectAsync(string scenarioName, string? member, CancellationToken cancellationToken)
    {
        var info = LabScenarios.Parse(scenarioName);
        if (LabFaultBook.Active(_manifest).Any(a => a.Scenario == info.Name))
        {
            throw new InputException($"{info.Name} is already injected", [$"heal it first: pgra lab heal {info.Name}"]);
        }

        var leader = await ConfirmedLeaderAsync(cancellationToken).ConfigureAwait(false);
        var targetName = LabScenarios.ResolveTarget(info, member, leader, _manifest.Members.Select(m => m.Name).ToList());
        var target = _manifest.FindMember(targetName)!;
        if (!AllowSharedTarget && LabFaultBook.Active(_manifest).FirstOrDefault(a => a.Target == target.Name) is { } busy)
        {
            throw new InputException($"{target.Name} already has an active fault ({busy.Scenario})", [$"heal it first: pgra lab heal {busy.Scenario}"]);
        }

        if (Processes(target).Patroni is null)
        {
            throw new InputException($"cannot inject {info.Name} on {target.Name}: its Patroni is not running",
                ["`pgra lab status` shows the lab; `pgra lab up` starts what is missing"]);
        }
        var started = _time.GetTimestamp();
        var at = _time.GetUtcNow();
        _injectStartedAt = at;
        _steps.Clear();
        var state = new Dictionary<string, string>(StringComparer.Ordinal);
        var summary = info.Scenario switch
        {
            LabScenario.PrimaryCrash => await CrashAsync(target, cancellationToken).ConfigureAwait(false),
            LabScenario.PrimaryFreeze => await FreezeAsync(target, state, cancellationToken).ConfigureAwait(false),
            LabScenario.DiskFull => await FillWalAsync(target, state, cancellationToken).ConfigureAwait(false),
            LabScenario.ArchiveBroken => await BreakArchiveAsync(target, state, cancellationToken).ConfigureAwait(false),
            LabScenario.ReplicationStop => await PauseReplayAsync(target, leader!, cancellationToken, state).ConfigureAwait(false),
            LabScenario.LockPileup or LabScenario.ConnectionStorm or LabScenario.MissingIndex or LabScenario.LongTransaction =>
                await StartHolderAsync(info, target, state, cancellationToken).ConfigureAwait(false),
            LabScenario.BadConfig => await BreakConfigAsync(target, leader!, state, cancellationToken).ConfigureAwait(false),
            _ => throw new InvalidOperationException(info.Name),
        };
        var fault = new LabActiveFault { Scenario = info.Name, Target = target.Name, InjectedAt = at, Summary = summary, Steps = [.. _steps], State = state };
        LabFaultBook.SaveActive(_manifest, fault);
        Log.FaultInjected(_logger, info.Name, target.Name, LogRedaction.Text(summary));
        Telemetry.AgentTelemetry.Lab.Faults.Add(1, new("scenario", info.Name), new("operation", "inject"), new("result", "ok"));
        return new LabFaultResult(info.Name, target.Name, true, summary, fault.Steps, _time.GetElapsedTime(started));
    }

    /// <summary>Heals one active scenario (or all when <paramref name="scenarioName"/> is null), then waits for a healthy cluster.</summary>
    public async Task<IReadOnlyList<LabFaultResult>> HealAsync(string? scenarioName, CancellationToken cancellationToken)
    {
        var active = LabFaultBook.Active(_manifest);
        if (scenarioName is not null)
        {
            var info = LabScenarios.Parse(scenarioName);
            active = active.Where(a => a.Scenario == info.Name).ToList();
        }

        var results = new List<LabFaultResult>();
        foreach (var fault in active.Reverse())
        {
            var started = _time.GetTimestamp();
            _steps.Clear();
            var target = _manifest.FindMember(fault.Target)!;
            var info = LabScenarios.Parse(fault.Scenario);
            var summary = info.Scenario switch
            {
                LabScenario.PrimaryCrash => await RestartPatroniAsync(target, cancellationToken).ConfigureAwait(false),
                LabScenario.PrimaryFreeze => await ThawAsync(target, fault, cancellationToken).ConfigureAwait(false),
                LabScenario.DiskFull => await FreeWalAsync(target, fault, cancellationToken).ConfigureAwait(false),
                LabScenario.ArchiveBroken => await RepairArchiveAsync(fault, cancellationToken).ConfigureAwait(false),
                LabScenario.ReplicationStop => await ResumeReplayAsync(target, fault, cancellationToken).ConfigureAwait(false),
                LabScenario.LockPileup or LabScenario.ConnectionStorm or LabScenario.MissingIndex or LabScenario.LongTransaction =>
                    await StopHolderAsync(info, fault, cancellationToken).ConfigureAwait(false),
                LabScenario.BadConfig => await RepairConfigAsync(target, fault, cancellationToken).ConfigureAwait(false),
                _ => throw new InvalidOperationException(info.Name),
            };
            await StartStoppedServicesAsync(target, cancellationToken).ConfigureAwait(false);
            var (healthy, health) = await WaitHealthyAsync(target, cancellationToken).ConfigureAwait(false);
            Step("wait for a healthy cluster", healthy ? health.Describe() : "NOT healthy: " + health.Describe());
            var ok = healthy;
            LabFaultBook.RemoveActive(_manifest, fault, _time.GetUtcNow(), summary, [.. _steps]);
            Log.FaultHealed(_logger, fault.Scenario, fault.Target, ok, LogRedaction.Text(ok ? summary : summary + "; not healthy yet: " + health.Describe()));
            Telemetry.AgentTelemetry.Lab.Faults.Add(1, new("scenario", fault.Scenario), new("operation", "heal"), new("result", ok ? "ok" : "unhealthy"));
            results.Add(new LabFaultResult(fault.Scenario, fault.Target, ok, ok ? summary : summary + "; the cluster is not healthy yet: " + health.Describe(), [.. _steps], _time.GetElapsedTime(started)));
        }

        return results;
    }

    /// <summary>
    /// Brings the lab back to health whatever state an interrupted drill or test left it in: heals every recorded
    /// fault, thaws stopped (SIGSTOP) lab processes, starts every service whose pid file names no live process,
    /// and rebuilds (POST /reinitialize) a replica that still does not stream, e.g. a former leader whose timeline
    /// diverged. Each step is listed in the result.
    /// </summary>
    public async Task<LabFaultResult> RepairAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var steps = new List<LabFaultStep>();
        foreach (var healed in await HealAsync(null, cancellationToken).ConfigureAwait(false))
        {
            steps.AddRange(healed.Steps);
        }

        _steps.Clear();
        foreach (var member in _manifest.Members)
        {
            var (patroni, postmaster, children) = Processes(member);
            var relay = LabProcesses.ReadPidFile(Path.Combine(_manifest.RunDir, $"{member.Name}-etcd-relay.pid"));
            var frozen = new[] { patroni, postmaster, relay }.OfType<int>().Concat(children).Where(pid => LabProcesses.State(pid) == 'T').ToList();
            if (frozen.Count > 0)
            {
                await SignalAllAsync(frozen, "CONT", cancellationToken).ConfigureAwait(false);
            }

            // PostgreSQL processes in the member's data directory that belong to no live postmaster (a backend stuck on
            // a lock of a killed postmaster's processes): they hold the old shared memory and the member never starts.
            // Listed before the live postmaster's descendants, so a backend it forks meanwhile is never taken for one.
            var table = new Acting.Fencing.ProcessTable();
            var inDataDir = table.PostgresWorkingIn([member.DataDir]);
            var ours = postmaster is { } pm ? table.WithDescendants(pm).ToHashSet() : [];
            var orphans = inDataDir.Where(pid => !ours.Contains(pid)).ToList();
            if (orphans.Count > 0)
            {
                await SignalAllAsync(orphans, "KILL", cancellationToken).ConfigureAwait(false);
            }
        }

        await StartStoppedAsync(_manifest.Services, cancellationToken).ConfigureAwait(false);

        var (healthy, health) = await _cluster.WaitHealthyAsync(timeout / 3, cancellationToken).ConfigureAwait(false);

        // Nobody leads and Patroni will not elect by itself: after a key handed back, the old leader wrote WAL on its
        // timeline past the fork and cannot start as a replica, and the others "exceed maximum replication lag" behind
        // its last optime. Fail over by hand to the running member on the newest timeline, as an operator would.
        if (health.Leader is null && health.Members.Where(m => m.State is "running" or "streaming").OrderByDescending(m => m.Timeline ?? 0).FirstOrDefault() is { } best
            && _manifest.FindMember(best.Name) is { } target)
        {
            var (status, body) = await _cluster.SendAsync(HttpMethod.Post, target, "/failover", $"{{\"candidate\": \"{best.Name}\"}}", cancellationToken, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            Step($"POST {target.PatroniUrl}failover (no leader; {best.Name} is running on timeline {best.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "?"}, the newest)", $"http {status}: {Truncate(body.Trim(), 120)}");
            (healthy, health) = await _cluster.WaitHealthyAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }

        // A rollback leaves the discarded timeline's history file and WAL in the archive: a replica restoring with
        // recovery_target_timeline=latest follows it and crash-loops ("could not locate a valid checkpoint record"),
        // and the next promotion that reuses the timeline id cannot archive its segments.
        if (health.Leader is not null)
        {
            QuarantineDeadTimelines(health);
        }

        QuarantineConflictingSegments();

        if (!healthy && health.Leader is not null)
        {
            foreach (var member in _manifest.Members.Where(m => m.Name != health.Leader && !health.StreamingReplicas.Contains(m.Name)))
            {
                var (status, body) = await _cluster.SendAsync(HttpMethod.Post, member, "/reinitialize", "{\"force\": true}", cancellationToken, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                Step($"POST {member.PatroniUrl}reinitialize (not streaming from {health.Leader})", $"http {status}: {Truncate(body.Trim(), 120)}");
            }

            var left = timeout - _time.GetElapsedTime(started);
            (healthy, health) = await _cluster.WaitHealthyAsync(left > TimeSpan.FromSeconds(30) ? left : TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }

        steps.AddRange(_steps);
        var summary = healthy ? $"healthy: {health.Describe()}" : $"NOT healthy: {health.Describe()}";
        Log.Repaired(_logger, healthy, Math.Round(_time.GetElapsedTime(started).TotalSeconds, 1), steps.Count, LogRedaction.Text(summary));
        return new LabFaultResult("repair", health.Leader ?? "-", healthy, summary, steps, _time.GetElapsedTime(started));
    }

    /// <summary>
    /// Moves the archive's timeline history files above the leader's timeline (a timeline discarded by a rollback)
    /// to <c>&lt;repo&gt;/quarantine/</c>, so a rebuilt replica follows the leader's timeline; each move is a step of
    /// the repair's record (faults/journal.jsonl).
    /// </summary>
    private void QuarantineDeadTimelines(LabClusterHealth health)
    {
        var timeline = health.Members.FirstOrDefault(m => m.Name == health.Leader)?.Timeline;
        var archive = Path.Combine(_manifest.Pgbackrest.Repo, "archive", _manifest.Pgbackrest.Stanza);
        if (timeline is null || !Directory.Exists(archive))
        {
            return;
        }

        // History files (00000003.history) and the WAL directories of those timelines (0000000300000000/): a later
        // promotion reuses the timeline id, and archive-push refuses a segment that exists with other contents.
        var entries = Directory.EnumerateFiles(archive, "*.history*", SearchOption.AllDirectories).Select(f => (Path: f, Dir: false))
            .Concat(Directory.EnumerateDirectories(archive, "*", SearchOption.AllDirectories).Where(d => Path.GetFileName(d).Length == 16).Select(d => (Path: d, Dir: true)))
            .ToList();
        foreach (var (path, isDir) in entries)
        {
            var name = Path.GetFileName(path);
            if (name.Length < 8 || !long.TryParse(name[..8], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var tl) || tl <= timeline)
            {
                continue;
            }

            var target = Path.Combine(_manifest.Pgbackrest.Repo, "quarantine", _manifest.Pgbackrest.Stanza, Path.GetRelativePath(archive, path));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (isDir)
            {
                if (Directory.Exists(target))
                {
                    Directory.Delete(target, recursive: true);
                }

                Directory.Move(path, target);
            }
            else
            {
                File.Move(path, target, overwrite: true);
            }

            Step($"mv {path} {target}", $"timeline {tl} is above the leader's timeline {timeline}: a discarded timeline, quarantined");
        }
    }

    /// <summary>
    /// A timeline id reused after a rollback gives two different segments of the same name (each promotion from a
    /// timeline archives its last, partial segment; a discarded timeline's WAL stays in the archive when no repair ran
    /// while the leader was below it): archive-push refuses the second ("already exists in the repo1 archive with a
    /// different checksum", error 45) and the archiver retries it forever, so no later WAL is archived and every backup
    /// times out. The archive's copy belongs to the discarded timeline: it is moved to <c>&lt;repo&gt;/quarantine/</c>
    /// (a step of the record) and the live one is archived. Returns the moves.
    /// </summary>
    public IReadOnlyList<LabFaultStep> QuarantineConflictingSegments()
    {
        var archive = Path.Combine(_manifest.Pgbackrest.Repo, "archive", _manifest.Pgbackrest.Stanza);
        var moved = new List<LabFaultStep>();
        if (!Directory.Exists(archive))
        {
            return moved;
        }

        foreach (var member in _manifest.Members)
        {
            var status = Path.Combine(member.DataDir, "pg_wal", "archive_status");
            var ready = Directory.Exists(status) ? Directory.EnumerateFiles(status, "*.ready").Where(f => !f.EndsWith(".history.ready", StringComparison.Ordinal)).ToList() : [];
            foreach (var marker in ready)
            {
                var name = Path.GetFileName(marker)[..^".ready".Length];
                var local = Path.Combine(member.DataDir, "pg_wal", name);
                if (name.Length < 24 || !File.Exists(local))
                {
                    continue;
                }

                var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(File.ReadAllBytes(local)));
                foreach (var copy in Directory.EnumerateFiles(archive, name + "-*", SearchOption.AllDirectories)
                             .Where(f => !Path.GetFileName(f).StartsWith($"{name}-{sha}", StringComparison.Ordinal)).ToList())
                {
                    var target = Path.Combine(_manifest.Pgbackrest.Repo, "quarantine", _manifest.Pgbackrest.Stanza, Path.GetRelativePath(archive, copy));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Move(copy, target, overwrite: true);
                    Step($"mv {copy} {target}", $"{member.Name} waits to archive another {name} (sha1 {sha}): a segment of a reused timeline id, quarantined");
                    moved.Add(_steps[^1]);
                }
            }
        }

        return moved;
    }

    /// <summary>
    /// Starts the member's services whose pid file names no live process: a fault can take pgbouncer or an exporter
    /// down with it (a frozen postmaster makes pgbouncer give up), and a healed lab runs every component again.
    /// </summary>
    private Task StartStoppedServicesAsync(LabMember member, CancellationToken ct) =>
        StartStoppedAsync(_manifest.Services.Where(x => x.Member == member.Name && x.Kind != "patroni"), ct);

    /// <summary>Starts each of <paramref name="services"/> that has a launcher and whose pid file names no live process of its user.</summary>
    private async Task StartStoppedAsync(IEnumerable<LabService> services, CancellationToken ct)
    {
        foreach (var service in services.Where(x => x.Start is not null))
        {
            if (LabProcesses.ReadPidFile(_manifest.PidFile(service)) is { } pid && LabProcesses.IsAlive(pid, service.User))
            {
                continue;
            }

            var result = await LabShell.RunAsync(service.Start!, [service.Name], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
            Step($"{service.Start} {service.Name}", result.Ok ? "started (it had stopped)" : "failed: " + result.Tail(3));
        }
    }

    /// <summary>The leader as the leader itself confirms it (GET /patroni: role master/primary, running), not only the DCS.</summary>
    private async Task<string?> ConfirmedLeaderAsync(CancellationToken ct)
    {
        var members = await _cluster.GetMembersAsync(ct).ConfigureAwait(false);
        var leader = members.FirstOrDefault(m => m.Role is "leader" or "master" or "primary" && m.State == "running");
        if (leader is null || _manifest.FindMember(leader.Name) is not { } member)
        {
            return null;
        }

        using var patroni = await _cluster.GetPatroniAsync(member, ct).ConfigureAwait(false);
        return patroni is not null
            && patroni.RootElement.TryGetProperty("role", out var role) && role.GetString() is "master" or "primary"
            && patroni.RootElement.TryGetProperty("state", out var state) && state.GetString() == "running"
            ? leader.Name
            : null;
    }

    // ---------------------------------------------------------------- primary-crash / primary-freeze

    private async Task<string> CrashAsync(LabMember target, CancellationToken ct)
    {
        var (patroni, postmaster, children) = Processes(target);
        await SignalAllAsync([.. new[] { patroni, postmaster }.OfType<int>(), .. children], "KILL", ct).ConfigureAwait(false);
        return $"killed (SIGKILL) {target.Name}: Patroni {Show(patroni)}, postmaster {Show(postmaster)} and {children.Count} backend(s)";
    }

    private async Task<string> FreezeAsync(LabMember target, Dictionary<string, string> state, CancellationToken ct)
    {
        var (patroni, postmaster, children) = Processes(target);
        var pids = new[] { patroni, postmaster }.OfType<int>().Concat(children).ToList();
        await SignalAllAsync(pids, "STOP", ct).ConfigureAwait(false);

        state["pids"] = string.Join(',', pids.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        return $"froze (SIGSTOP) {target.Name}: Patroni {Show(patroni)}, postmaster {Show(postmaster)} and {children.Count} child process(es)";
    }

    private async Task<string> ThawAsync(LabMember target, LabActiveFault fault, CancellationToken ct)
    {
        var pids = fault.State.GetValueOrDefault("pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => LabProcesses.IsAlive(p)).ToList();
        var leader = await _cluster.LeaderAsync(ct).ConfigureAwait(false);
        if (leader is not null && leader.Name != target.Name)
        {
            // Another member leads now: fence the frozen node (kill it before it resumes), as resuming a stale
            // Patroni 3.0.2 can rewrite the leader key and lose the new leader's writes. Then rejoin it.
            await SignalAllAsync(pids, "KILL", ct).ConfigureAwait(false);
            await LabProcesses.WaitGoneAsync(pids, TimeSpan.FromSeconds(10), _time, ct).ConfigureAwait(false);
            await RestartPatroniAsync(target, ct).ConfigureAwait(false);
            return $"{leader.Name} leads: fenced {target.Name} (SIGKILL to {pids.Count} frozen process(es)) and restarted its Patroni to rejoin";
        }

        await SignalAllAsync(pids, "CONT", ct).ConfigureAwait(false);
        return $"no failover happened: resumed (SIGCONT) {pids.Count} process(es) of {target.Name}";
    }

    private async Task<string> RestartPatroniAsync(LabMember target, CancellationToken ct)
    {
        var service = _manifest.Services.First(s => s.Kind == "patroni" && s.Member == target.Name);
        var (_, postmaster, children) = Processes(target);
        if (postmaster is not null && LabProcesses.State(postmaster.Value) == 'T')
        {
            await SignalAllAsync([.. children, postmaster.Value], "KILL", ct).ConfigureAwait(false);
        }

        var pidFile = _manifest.PidFile(service);
        if (LabProcesses.ReadPidFile(pidFile) is { } old)
        {
            // A Patroni killed a moment ago may still be exiting; once it is a zombie (not reaped yet) it is not running.
            await LabProcesses.WaitGoneAsync([old], TimeSpan.FromSeconds(10), _time, ct).ConfigureAwait(false);
            if (LabProcesses.State(old) is 'Z' or 'X')
            {
                File.Delete(pidFile);
            }
        }

        var result = await LabShell.RunAsync(service.Start!, [service.Name], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        Step($"{service.Start} {service.Name}", !result.Ok ? "failed: " + result.Tail(3)
            : result.StandardOutput.Contains("started", StringComparison.Ordinal) ? "started" : "already running");
        return $"started Patroni of {target.Name} (it rejoins the cluster)";
    }

    private (int? Patroni, int? Postmaster, IReadOnlyList<int> Children) Processes(LabMember member)
    {
        var patroniService = _manifest.Services.First(s => s.Kind == "patroni" && s.Member == member.Name);
        var patroni = LabProcesses.ReadPidFile(_manifest.PidFile(patroniService));
        if (patroni is not null && !LabProcesses.IsAlive(patroni.Value, "postgres"))
        {
            patroni = null;
        }

        var postmaster = LabProcesses.ReadPidFile(Path.Combine(member.DataDir, "postmaster.pid"));
        if (postmaster is not null && !LabProcesses.IsAlive(postmaster.Value, "postgres"))
        {
            postmaster = null;
        }

        var children = postmaster is null ? [] : LabProcesses.ChildrenOf(postmaster.Value);
        return (patroni, postmaster, children);
    }

    // ---------------------------------------------------------------- disk-full

    private async Task<string> FillWalAsync(LabMember target, Dictionary<string, string> state, CancellationToken ct)
    {
        var fill = Path.Combine(target.WalMount, "pgra-lab-fill");
        var top = Path.Combine(target.WalMount, "pgra-lab-fill-2");
        state["files"] = fill + "," + top;
        var avail = new DriveInfo(target.WalMount).AvailableFreeSpace;
        var size = Math.Max(0, avail - (256 * 1024));
        var fallocate = await LabShell.RunAsync("fallocate", ["-l", size.ToString(CultureInfo.InvariantCulture), fill], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        Step($"fallocate -l {size} {fill}", fallocate.Ok ? "ok" : fallocate.Tail(2));
        var dd = await LabShell.RunAsync("dd", ["if=/dev/zero", $"of={top}", "bs=64k"], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        Step($"dd if=/dev/zero of={top} bs=64k", dd.Tail(1));

        // Write until PostgreSQL needs a new WAL segment and cannot create it.
        string? error = null;
        for (var i = 0; i < 60 && error is null; i++)
        {
            try
            {
                await using var conn = new NpgsqlConnection(_cluster.ConnectionString(target, _manifest.Credentials.Admin, _manifest.Database, application: "pgra-lab-disk-full"));
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await ExecAsync(conn, "CREATE TABLE IF NOT EXISTS pgra_lab_fault (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), pad text)", ct).ConfigureAwait(false);
                await ExecAsync(conn, "INSERT INTO pgra_lab_fault (pad) SELECT repeat('x', 200) FROM generate_series(1, 20000)", ct).ConfigureAwait(false);
                await ExecAsync(conn, "SELECT pg_switch_wal()", ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                error = ex.Message;
            }
        }

        Step("INSERT 20000 rows + pg_switch_wal() on " + target.Name + " until it fails", error ?? "no error after 60 rounds");
        var logLine = await WaitForLogAsync(target, "No space left on device", TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        Step($"grep 'No space left on device' {target.LogDir}/postgresql-*.log", logLine ?? "not found");
        return $"filled {target.WalMount} ({avail / (1024 * 1024)} MiB); PostgreSQL: {logLine ?? error ?? "no error yet"}";
    }

    private async Task<string> FreeWalAsync(LabMember target, LabActiveFault fault, CancellationToken ct)
    {
        foreach (var file in fault.State.GetValueOrDefault("files", "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            File.Delete(file);
            Step($"rm {file}", "ok");
        }

        await EnsurePatroniRunningAsync(target, ct).ConfigureAwait(false);
        return $"freed {target.WalMount}";
    }

    // ---------------------------------------------------------------- archive-broken

    private string ArchiveDir => Path.Combine(_manifest.Pgbackrest.Repo, "archive", _manifest.Pgbackrest.Stanza);

    private async Task<string> BreakArchiveAsync(LabMember target, Dictionary<string, string> state, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException();
        }

        var dir = ArchiveDir;
        var mode = File.GetUnixFileMode(dir);
        state["dir"] = dir;
        state["mode"] = ((int)mode).ToString(CultureInfo.InvariantCulture);
        File.SetUnixFileMode(dir, UnixFileMode.None);
        Step($"chmod 000 {dir}", $"was {Convert.ToString((int)mode, 8)}");
        var before = await ArchiverAsync(target, ct).ConfigureAwait(false);
        await SwitchWalAsync(target, ct).ConfigureAwait(false);
        var failed = before.Failed;
        var started = _time.GetTimestamp();
        while (_time.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            var now = await ArchiverAsync(target, ct).ConfigureAwait(false);
            failed = now.Failed;
            if (failed > before.Failed)
            {
                break;
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        Step("pg_stat_archiver.failed_count on " + target.Name, $"{before.Failed} -> {failed}");
        return $"archive_command fails on {target.Name} (repository {dir} is not writable): failed_count {before.Failed} -> {failed}";
    }

    private async Task<string> RepairArchiveAsync(LabActiveFault fault, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException();
        }

        var dir = fault.State["dir"];
        var mode = (UnixFileMode)int.Parse(fault.State["mode"], CultureInfo.InvariantCulture);
        File.SetUnixFileMode(dir, mode);
        Step($"chmod {Convert.ToString((int)mode, 8)} {dir}", "ok");
        var leader = await _cluster.LeaderAsync(ct).ConfigureAwait(false);
        if (leader is null)
        {
            return "restored the archive directory (no leader to verify archiving)";
        }

        var before = await ArchiverAsync(leader, ct).ConfigureAwait(false);
        await SwitchWalAsync(leader, ct).ConfigureAwait(false);
        var started = _time.GetTimestamp();
        var now = before;
        while (_time.GetElapsedTime(started) < TimeSpan.FromSeconds(60))
        {
            now = await ArchiverAsync(leader, ct).ConfigureAwait(false);
            if (now.Archived > before.Archived && now.LastArchived >= now.LastFailed)
            {
                break;
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        Step("pg_stat_archiver.archived_count on " + leader.Name, $"{before.Archived} -> {now.Archived}");
        return $"restored {dir}; archiving works again ({before.Archived} -> {now.Archived} archived)";
    }

    private sealed record Archiver(long Archived, long Failed, DateTimeOffset LastArchived, DateTimeOffset LastFailed);

    private async Task<Archiver> ArchiverAsync(LabMember member, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(_cluster.ConnectionString(member, _manifest.Credentials.Admin));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT archived_count, failed_count, coalesce(last_archived_time, 'epoch'), coalesce(last_failed_time, 'epoch') FROM pg_stat_archiver", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return new Archiver(r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3));
    }

    private async Task SwitchWalAsync(LabMember member, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(_cluster.ConnectionString(member, _manifest.Credentials.Admin, _manifest.Database));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await ExecAsync(conn, "CREATE TABLE IF NOT EXISTS pgra_lab_fault (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), pad text)", ct).ConfigureAwait(false);
        await ExecAsync(conn, "INSERT INTO pgra_lab_fault (pad) VALUES ('switch')", ct).ConfigureAwait(false);
        await ExecAsync(conn, "SELECT pg_switch_wal()", ct).ConfigureAwait(false);
        Step($"INSERT + SELECT pg_switch_wal() on {member.Name}", "ok");
    }

    // ---------------------------------------------------------------- replication-stop

    // Patroni (3.0 on PostgreSQL 14+) resumes a replay paused with pg_wal_replay_pause() at its next loop, so the
    // replica's startup process (the one that replays WAL) is frozen instead: WAL keeps arriving, replay stops.
    private async Task<string> PauseReplayAsync(LabMember target, string leaderName, CancellationToken ct, Dictionary<string, string> state)
    {
        var (_, postmaster, children) = Processes(target);
        var startup = children.Where(p => LabProcesses.CommandLine(p).Contains(": startup", StringComparison.Ordinal)).ToList();
        if (postmaster is null || startup.Count == 0)
        {
            throw new InputException($"cannot stop replication on {target.Name}: no startup (WAL replay) process found",
                ["is it a running replica? `pgra lab status`"]);
        }

        await SignalAllAsync(startup, "STOP", ct).ConfigureAwait(false);
        state["pids"] = string.Join(',', startup.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        var leader = _manifest.FindMember(leaderName)!;
        await using (var conn = new NpgsqlConnection(_cluster.ConnectionString(leader, _manifest.Credentials.Admin, _manifest.Database)))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            await ExecAsync(conn, "CREATE TABLE IF NOT EXISTS pgra_lab_fault (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), pad text)", ct).ConfigureAwait(false);
            await ExecAsync(conn, "INSERT INTO pgra_lab_fault (pad) SELECT repeat('r', 200) FROM generate_series(1, 20000)", ct).ConfigureAwait(false);
        }

        Step($"INSERT 20000 rows on {leader.Name} (WAL the replica receives but does not replay)", "ok");
        return $"WAL replay stopped on {target.Name} (startup process {string.Join(',', startup)} frozen); its replay lag grows with every write on {leader.Name}";
    }

    private async Task<string> ResumeReplayAsync(LabMember target, LabActiveFault fault, CancellationToken ct)
    {
        var pids = fault.State.GetValueOrDefault("pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => LabProcesses.IsAlive(p)).ToList();
        await SignalAllAsync(pids, "CONT", ct).ConfigureAwait(false);
        return $"WAL replay resumed on {target.Name}";
    }

    // ---------------------------------------------------------------- session holders

    private string HolderPidFile(string scenario) => Path.Combine(_manifest.FaultsDir, $"hold-{scenario}.pid");

    private string HolderLog(string scenario) => Path.Combine(_manifest.FaultsDir, $"hold-{scenario}.log");

    private async Task<string> StartHolderAsync(LabScenarioInfo info, LabMember target, Dictionary<string, string> state, CancellationToken ct)
    {
        Directory.CreateDirectory(_manifest.FaultsDir);
        var log = HolderLog(info.Name);
        File.WriteAllText(log, "");
        var login = _manifest.Credentials.App;
        string[] args =
        [
            "--start", "--quiet", "--background", "--make-pidfile", "--pidfile", HolderPidFile(info.Name), "--chuid", "postgres",
            "--output", log, "--startas", "/usr/bin/python3", "--", _manifest.HoldHelper, info.Name,
            "--host", target.Ip, "--port", target.Ports.Postgres.ToString(CultureInfo.InvariantCulture), "--user", login.Username, "--dbname", _manifest.Database,
        ];
        await LabShell.RunAsync("chown", ["postgres", log], TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
        var start = await LabShell.RunAsync("start-stop-daemon", args, TimeSpan.FromSeconds(10), ct,
            new Dictionary<string, string?> { ["PGPASSWORD"] = login.Password }).ConfigureAwait(false);
        Step($"start-stop-daemon ... {_manifest.HoldHelper} {info.Name} --host {target.Ip} --user {login.Username} --dbname {_manifest.Database}", start.Ok ? "started" : start.Tail(3));
        state["pidfile"] = HolderPidFile(info.Name);
        var timeout = info.Scenario == LabScenario.MissingIndex ? TimeSpan.FromMinutes(4) : TimeSpan.FromSeconds(30);
        var started = _time.GetTimestamp();
        while (_time.GetElapsedTime(started) < timeout)
        {
            var text = File.ReadAllText(log);
            var ready = text.Split('\n').FirstOrDefault(l => l.StartsWith("READY ", StringComparison.Ordinal));
            if (ready is not null)
            {
                Step("wait for READY in " + log, ready);
                return $"{info.Name} on {target.Name}: {ready[6..]}";
            }

            var pid = LabProcesses.ReadPidFile(HolderPidFile(info.Name));
            if (pid is null || !LabProcesses.IsAlive(pid.Value))
            {
                Step("wait for READY in " + log, "the helper exited: " + text.Trim());
                return $"{info.Name} on {target.Name}: the helper exited: {text.Trim()}";
            }

            await Task.Delay(200, ct).ConfigureAwait(false);
        }

        Step("wait for READY in " + log, "timed out");
        return $"{info.Name} on {target.Name}: not ready after {timeout.TotalSeconds:0} s";
    }

    private async Task<string> StopHolderAsync(LabScenarioInfo info, LabActiveFault fault, CancellationToken ct)
    {
        var pidFile = fault.State.GetValueOrDefault("pidfile", HolderPidFile(info.Name));
        var pid = LabProcesses.ReadPidFile(pidFile);
        if (pid is not null && LabProcesses.IsAlive(pid.Value) && LabProcesses.CommandLine(pid.Value).Contains("pgra-lab-hold", StringComparison.Ordinal))
        {
            await SignalAsync(pid.Value, "KILL", ct).ConfigureAwait(false);
            await LabProcesses.WaitGoneAsync([pid.Value], TimeSpan.FromSeconds(5), _time, ct).ConfigureAwait(false);
        }

        File.Delete(pidFile);
        var terminated = 0L;
        foreach (var member in _manifest.Members)
        {
            try
            {
                var n = await _cluster.ScalarAsync(member,
                    $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgra-lab-{info.Name}'", ct).ConfigureAwait(false);
                terminated += Convert.ToInt64(n, CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                // a member that is down has no sessions to end
            }
        }

        Step($"pg_terminate_backend() of sessions named pgra-lab-{info.Name}", $"{terminated} ended");
        var cleanup = info.Scenario switch
        {
            LabScenario.MissingIndex => "DROP TABLE IF EXISTS orders",
            LabScenario.LockPileup => "DROP TABLE IF EXISTS pgra_lab_lock",
            _ => null,
        };
        if (cleanup is not null && await _cluster.LeaderAsync(ct).ConfigureAwait(false) is { } leader)
        {
            await _cluster.ScalarAsync(leader, cleanup, ct, _manifest.Database).ConfigureAwait(false);
            Step($"{cleanup} on {leader.Name}", "ok");
        }

        return $"stopped the {info.Name} helper (pid {Show(pid)}) and ended {terminated} session(s)";
    }

    // ---------------------------------------------------------------- bad-config

    private async Task<string> BreakConfigAsync(LabMember target, string leaderName, Dictionary<string, string> state, CancellationToken ct)
    {
        var leader = _manifest.FindMember(leaderName)!;
        var (status, body) = await _cluster.SendAsync(HttpMethod.Get, leader, "/config", null, ct).ConfigureAwait(false);
        var original = status == 200
            ? JsonNode.Parse(body)?["postgresql"]?["parameters"]?["shared_preload_libraries"]?.GetValue<string>() ?? "pg_stat_statements"
            : "pg_stat_statements";
        state["original"] = original;
        var bad = $"{original},{MissingLibrary}";
        var patch = JsonSerializer.Serialize(new { postgresql = new { parameters = new { shared_preload_libraries = bad } } });
        var (patchStatus, _) = await _cluster.SendAsync(HttpMethod.Patch, leader, "/config", patch, ct).ConfigureAwait(false);
        Step($"PATCH {leader.PatroniUrl}config {patch}", $"http {patchStatus}");
        await Task.Delay(TimeSpan.FromSeconds(_manifest.Ha.LoopWait + 1), _time, ct).ConfigureAwait(false); // let the member see the new config
        var (restartStatus, restartBody) = await _cluster.SendAsync(HttpMethod.Post, target, "/restart", "{}", ct, TimeSpan.FromSeconds(90)).ConfigureAwait(false);
        Step($"POST {target.PatroniUrl}restart", $"http {restartStatus}: {restartBody.Trim()}");
        var logLine = await WaitForLogAsync(target, MissingLibrary, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        Step($"grep {MissingLibrary} {target.LogDir}/postgresql-*.log {target.LogDir}/patroni.log", logLine ?? "not found");
        return $"shared_preload_libraries = '{bad}' (cluster-wide); {target.Name} restarted and cannot start: {logLine ?? restartBody.Trim()}";
    }

    private async Task<string> RepairConfigAsync(LabMember target, LabActiveFault fault, CancellationToken ct)
    {
        var original = fault.State.GetValueOrDefault("original", "pg_stat_statements");
        var patch = JsonSerializer.Serialize(new { postgresql = new { parameters = new { shared_preload_libraries = original } } });
        var leader = await _cluster.LeaderAsync(ct).ConfigureAwait(false) ?? target;
        var (patchStatus, _) = await _cluster.SendAsync(HttpMethod.Patch, leader, "/config", patch, ct).ConfigureAwait(false);
        Step($"PATCH {leader.PatroniUrl}config {patch}", $"http {patchStatus}");
        await Task.Delay(TimeSpan.FromSeconds(_manifest.Ha.LoopWait + 1), _time, ct).ConfigureAwait(false);
        var (restartStatus, restartBody) = await _cluster.SendAsync(HttpMethod.Post, target, "/restart", "{}", ct, TimeSpan.FromSeconds(90)).ConfigureAwait(false);
        Step($"POST {target.PatroniUrl}restart", $"http {restartStatus}: {restartBody.Trim()}");
        return $"shared_preload_libraries = '{original}' again; restarted {target.Name}";
    }

    // ---------------------------------------------------------------- helpers

    private async Task EnsurePatroniRunningAsync(LabMember target, CancellationToken ct)
    {
        var (patroni, _, _) = Processes(target);
        if (patroni is null)
        {
            await RestartPatroniAsync(target, ct).ConfigureAwait(false);
        }
    }

    private async Task<(bool Ok, LabClusterHealth Health)> WaitHealthyAsync(LabMember target, CancellationToken ct)
    {
        var (ok, health) = await _cluster.WaitHealthyAsync(HealTimeout / 2, ct).ConfigureAwait(false);
        if (ok)
        {
            return (ok, health);
        }

        // A member that stays down after its fault is undone (a crash loop that gave up, a failed start): reinit it.
        var member = health.Members.FirstOrDefault(m => m.Name == target.Name);
        if (member is not null && member.State is not ("running" or "streaming") && health.Leader is not null && health.Leader != target.Name)
        {
            var (status, body) = await _cluster.SendAsync(HttpMethod.Post, target, "/reinitialize", "{\"force\": true}", ct, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            Step($"POST {target.PatroniUrl}reinitialize", $"http {status}: {body.Trim()}");
        }

        return await _cluster.WaitHealthyAsync(HealTimeout / 2, ct).ConfigureAwait(false);
    }

    private async Task<string?> WaitForLogAsync(LabMember member, string needle, TimeSpan timeout, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        while (_time.GetElapsedTime(started) < timeout)
        {
            // PostgreSQL logs to its own files once the logging collector runs; before that (a failed start) to
            // stderr, which is Patroni's log.
            foreach (var file in Directory.EnumerateFiles(member.LogDir, "postgresql-*.log").Append(Path.Combine(member.LogDir, "patroni.log")).Where(File.Exists))
            {
                var line = File.ReadLines(file).LastOrDefault(l => l.Contains(needle, StringComparison.Ordinal));
                if (line is not null && IsRecent(line))
                {
                    return line.Trim();
                }
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        return null;

        bool IsRecent(string line) =>
            line.Length < 19 || !DateTimeOffset.TryParse(line[..19], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            || at >= _injectStartedAt.AddSeconds(-1);
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task SignalAsync(int pid, string signal, CancellationToken ct)
    {
        var command = LabProcesses.CommandLine(pid);
        var ok = await LabProcesses.SignalAsync(pid, signal, ct).ConfigureAwait(false);
        Step($"kill -{signal} {pid} ({(command.Length > 0 ? Truncate(command, 60) : "gone")})", ok ? "sent" : "no such process");
    }

    private async Task SignalAllAsync(IReadOnlyList<int> pids, string signal, CancellationToken ct)
    {
        var commands = pids.Select(p => $"{p} ({Truncate(LabProcesses.CommandLine(p), 50)})").ToList();
        var ok = await LabProcesses.SignalAllAsync(pids, signal, ct).ConfigureAwait(false);
        Step($"kill -{signal} {string.Join(' ', pids)}", (ok ? "sent to " : "partly sent to ") + string.Join("; ", commands));
    }

    private void Step(string command, string outcome)
    {
        _steps.Add(new LabFaultStep(_time.GetUtcNow(), command, outcome));
        Log.Step(_logger, LogRedaction.Text(command), LogRedaction.Text(outcome));
    }

    private static string Show(int? pid) => pid?.ToString(CultureInfo.InvariantCulture) ?? "(not running)";

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "...";

    public void Dispose() => _cluster.Dispose();
}
