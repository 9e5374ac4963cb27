using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Lab;

/// <summary>Options of <c>pgra lab up</c>.</summary>
internal sealed record LabUpOptions
{
    public required string Dir { get; init; }

    /// <summary>HA timing preset: fast (lab default) or norm (Pigsty's default).</summary>
    public string HaPreset { get; init; } = "fast";

    public bool SkipPackages { get; init; }

    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromMinutes(3);
}

/// <summary>One stage of bringing the lab up, with its duration.</summary>
internal sealed record LabStage(string Name, bool Ok, TimeSpan Duration, string Detail);

internal sealed record LabUpResult(bool Ok, IReadOnlyList<LabStage> Stages, TimeSpan Total, int PlaybookChanges, string? Error);

/// <summary>
/// Brings the loopback lab up: packages (apt), the playbook (ansible/lab.yml), then waits for a leader, two
/// streaming replicas, a full backup and every Prometheus scrape target up. Idempotent.
/// </summary>
internal sealed partial class LabUp(TimeProvider time, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public static readonly IReadOnlyList<string> HaPresets = ["fast", "norm"];

    public async Task<LabUpResult> RunAsync(LabUpOptions options, Action<LabStage> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        if (!HaPresets.Contains(options.HaPreset))
        {
            throw new InputException($"unknown HA preset '{options.HaPreset}'", [$"use one of: {string.Join(", ", HaPresets)}"]);
        }

        var stages = new List<LabStage>();
        var started = time.GetTimestamp();
        var changes = 0;

        LabUpResult Fail(string error) => new(false, stages, time.GetElapsedTime(started), changes, error);

        async Task<bool> Stage(string name, Func<Task<(bool Ok, string Detail)>> body)
        {
            var t0 = time.GetTimestamp();
            var (ok, detail) = await body().ConfigureAwait(false);
            var stage = new LabStage(name, ok, time.GetElapsedTime(t0), detail);
            stages.Add(stage);
            if (ok)
            {
                Log.UpStage(_logger, name, Math.Round(stage.Duration.TotalSeconds, 1), LogRedaction.Text(detail));
            }
            else
            {
                Log.UpStageFailed(_logger, name, Math.Round(stage.Duration.TotalSeconds, 1), LogRedaction.Text(detail));
            }

            progress(stage);
            return ok;
        }

        var ansibleDir = LabPaths.FindAnsibleDir();
        if (ansibleDir is null)
        {
            throw new InputException("cannot find the lab playbook (ansible/lab.yml)",
                ["run pgra from the repository (or below it), or set PGRA_ANSIBLE_DIR to the repository's ansible/ directory"]);
        }

        if (!options.SkipPackages && !await Stage("packages", async () =>
            {
                var missing = await LabPackages.MissingAsync(cancellationToken).ConfigureAwait(false);
                if (missing.Count == 0)
                {
                    return (true, "all installed");
                }

                var install = await LabPackages.InstallAsync(missing, cancellationToken).ConfigureAwait(false);
                return install.Ok ? (true, $"installed {missing.Count}: {string.Join(' ', missing)}") : (false, "apt-get failed:\n" + install.Tail());
            }).ConfigureAwait(false))
        {
            return Fail("installing packages failed");
        }

        ShellResult? playbook = null;
        if (!await Stage("playbook", async () =>
            {
                playbook = await RunPlaybookAsync(ansibleDir, options, cancellationToken).ConfigureAwait(false);
                changes = CountChanges(playbook.StandardOutput);
                return playbook.Ok
                    ? (true, $"ansible/lab.yml, {changes} change(s)")
                    : (false, "ansible-playbook failed:\n" + FailureLines(playbook));
            }).ConfigureAwait(false))
        {
            return Fail("the playbook failed");
        }

        var manifest = await LabManifest.TryLoadAsync(options.Dir, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            return Fail($"the playbook wrote no {LabManifest.FileName} in {options.Dir}");
        }

        using var cluster = new LabCluster(manifest, time);
        if (!await Stage("leader", () => WaitAsync(async () =>
            {
                var h = await cluster.HealthAsync(cancellationToken).ConfigureAwait(false);
                return (h.Leader is not null, h.Leader is null ? h.Describe() : $"{h.Leader} leads {manifest.Cluster}");
            }, options.WaitTimeout, cancellationToken)).ConfigureAwait(false))
        {
            return Fail("no leader");
        }

        var reinitialized = new HashSet<string>(StringComparer.Ordinal);
        var failedSince = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!await Stage("replicas", () => WaitAsync(async () =>
            {
                var h = await cluster.HealthAsync(cancellationToken).ConfigureAwait(false);
                await ReinitializeStuckAsync(cluster, h, failedSince, reinitialized, cancellationToken).ConfigureAwait(false);
                if (h.Members.Any(m => m.State == "starting"))
                {
                    await cluster.NudgeWalAsync(h, cancellationToken).ConfigureAwait(false);
                }
                var note = reinitialized.Count == 0 ? "" : $" (re-initialized from the leader: {string.Join(", ", reinitialized)})";
                return (h.Healthy(manifest.Members.Count), (h.Healthy(manifest.Members.Count)
                    ? $"{h.StreamingReplicas.Count} streaming: {string.Join(", ", h.StreamingReplicas)}" : h.Describe()) + note);
            }, options.WaitTimeout, cancellationToken)).ConfigureAwait(false))
        {
            return Fail("replicas are not streaming");
        }

        if (!await Stage("backup", () => WaitAsync(async () =>
            {
                var info = await LabBackup.InfoAsync(manifest, cancellationToken).ConfigureAwait(false);
                return (info.FullBackups > 0, info.Describe());
            }, options.WaitTimeout, cancellationToken)).ConfigureAwait(false))
        {
            return Fail("no full backup");
        }

        // Archiving must work before any test or drill relies on it: a repository left unwritable by an interrupted
        // fault, or a segment of a reused timeline id, makes every later archive-push fail on every leader.
        if (!await Stage("archive", async () =>
            {
                var leader = await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false);
                if (leader is null)
                {
                    return (false, "no leader to archive from");
                }

                var check = await LabBackup.CheckArchiveAsync(manifest, leader, cancellationToken).ConfigureAwait(false);
                if (check.Ok)
                {
                    return (true, $"{leader.Name} archives WAL (pgbackrest check)");
                }

                using var faults = new LabFaults(manifest, time);
                var moved = faults.QuarantineConflictingSegments();
                if (moved.Count > 0 && (await LabBackup.CheckArchiveAsync(manifest, leader, cancellationToken).ConfigureAwait(false)).Ok)
                {
                    return (true, $"{leader.Name} archives WAL (pgbackrest check) after {moved.Count} segment(s) of a reused timeline id were quarantined");
                }

                return (false, $"{leader.Name} cannot archive WAL: {check.Tail(3)}");
            }).ConfigureAwait(false))
        {
            return Fail("WAL archiving fails; `pgra lab down --purge` then `pgra lab up` rebuilds the lab from scratch");
        }

        if (!await Stage("scrape targets", () => WaitAsync(async () =>
            {
                var targets = (await LabMonitoring.TargetsAsync(cluster.Http, manifest, cancellationToken).ConfigureAwait(false))
                    .Where(t => t.Job != LabMonitoring.AgentJob).ToList();
                var expected = LabMonitoring.ExpectedTargets(manifest);
                var up = targets.Count(t => t.Health == "up");
                var down = targets.Where(t => t.Health != "up").Select(t => $"{t.Job}/{t.Instance}").ToList();
                return (up >= expected && down.Count == 0,
                    down.Count == 0 ? $"{up}/{expected} up" : $"{up}/{expected} up; not up: {string.Join(", ", down)}");
            }, options.WaitTimeout, cancellationToken)).ConfigureAwait(false))
        {
            return Fail("scrape targets are not all up");
        }

        return new LabUpResult(true, stages, time.GetElapsedTime(started), changes, null);
    }

    /// <summary>
    /// A replica whose data diverged from the leader (it was ahead when the lab stopped) fails to start and Patroni
    /// gives up ("start failed"); in the lab it is rebuilt from the leader (POST /reinitialize) after 10 s of that.
    /// </summary>
    private async Task ReinitializeStuckAsync(LabCluster cluster, LabClusterHealth health, Dictionary<string, long> failedSince, HashSet<string> done, CancellationToken cancellationToken)
    {
        if (health.Leader is null)
        {
            return;
        }

        foreach (var m in health.Members.Where(m => m.Name != health.Leader))
        {
            if (m.State is not ("start failed" or "stopped" or "crashed"))
            {
                failedSince.Remove(m.Name);
                continue;
            }

            var since = failedSince.TryGetValue(m.Name, out var t) ? t : failedSince[m.Name] = time.GetTimestamp();
            if (time.GetElapsedTime(since) > TimeSpan.FromSeconds(10) && done.Add(m.Name) && cluster.Manifest.FindMember(m.Name) is { } member)
            {
                await cluster.SendAsync(HttpMethod.Post, member, "/reinitialize", "{\"force\": true}", cancellationToken, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
        }
    }

    private async Task<(bool Ok, string Detail)> WaitAsync(Func<Task<(bool Ok, string Detail)>> probe, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            var (ok, detail) = await probe().ConfigureAwait(false);
            if (ok || time.GetElapsedTime(started) > timeout)
            {
                return (ok, ok ? detail : $"timed out after {timeout.TotalSeconds:0} s: {detail}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static Task<ShellResult> RunPlaybookAsync(string ansibleDir, LabUpOptions options, CancellationToken cancellationToken)
    {
        var extra = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["lab_dir"] = options.Dir,
            ["pg_ha_preset"] = options.HaPreset,
            ["ansible_python_interpreter"] = "/usr/bin/python3",
        });
        var env = new Dictionary<string, string?>
        {
            ["ANSIBLE_CONFIG"] = Path.Combine(ansibleDir, "ansible.cfg"),
            ["ANSIBLE_NOCOLOR"] = "1",
            ["ANSIBLE_FORCE_COLOR"] = "0",
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["PYTHONPATH"] = null,
            ["VIRTUAL_ENV"] = null,
        };
        return LabShell.RunAsync("/usr/bin/ansible-playbook",
            ["-i", Path.Combine(ansibleDir, "inventory", "loopback.yml"), Path.Combine(ansibleDir, "lab.yml"), "-e", extra],
            TimeSpan.FromMinutes(10), cancellationToken, env, ansibleDir);
    }

    /// <summary>Sums changed=N over the PLAY RECAP lines.</summary>
    public static int CountChanges(string playbookOutput)
    {
        var total = 0;
        foreach (Match m in RecapChanged().Matches(playbookOutput))
        {
            total += int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        return total;
    }

    /// <summary>The fatal/failed lines of a playbook run (or its tail), for the operator.</summary>
    public static string FailureLines(ShellResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var lines = result.StandardOutput.Split('\n')
            .Where(l => l.StartsWith("fatal:", StringComparison.Ordinal) || l.Contains("FAILED!", StringComparison.Ordinal) || l.StartsWith("ERROR!", StringComparison.Ordinal))
            .Select(l => l.Length > 2000 ? l[..2000] + "..." : l)
            .ToList();
        return lines.Count > 0 ? string.Join('\n', lines) : result.Tail(30);
    }

    [GeneratedRegex(@"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", RegexOptions.Multiline)]
    private static partial Regex RecapChanged();
}
