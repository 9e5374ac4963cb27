using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgRuntimeAgent.Journal;

namespace PgRuntimeAgent.Acting.InventoryPatches;

/// <summary>
/// <c>inventory.propose_patch</c>: writes a unified diff of the operator's inventory (pigsty.yml) that makes members'
/// variables say what the live cluster says (<c>pg_role</c> after a failover), for the operator to review and apply
/// with <c>patch -p1</c>. It never writes the inventory: execution reads it, writes
/// <c>&lt;proposals&gt;/&lt;cluster&gt;-&lt;UTC time&gt;-&lt;action id&gt;.patch</c>, and verification applies the patch to a copy
/// (with <c>patch</c> when it is installed, and in process) and checks that the inventory's SHA-256 is unchanged. The
/// undo, <c>inventory.withdraw_patch</c>, deletes the proposal file.
/// </summary>
internal sealed class InventoryPatchActuator : IActuator
{
    public const string Kind = "inventory.propose_patch";

    /// <summary>The undo: deletes a proposal file this actuator wrote.</summary>
    public const string WithdrawKind = "inventory.withdraw_patch";

    /// <summary>Parameter: the inventory file (full path).</summary>
    public const string File = "file";

    /// <summary>Parameter: the changes, as the JSON list <see cref="InventoryChange.ParseList"/> reads.</summary>
    public const string Changes = "changes";

    /// <summary>Parameter of the withdraw action: the proposal file.</summary>
    public const string PatchPath = "path";

    /// <summary>Parameter of the withdraw action: the SHA-256 the proposal file had when written.</summary>
    public const string PatchSha256 = "patch_sha256";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly string _directory;
    private readonly TimeProvider _time;
    private readonly string _patchExecutable;

    /// <param name="directory">Where proposals are written (<see cref="ProposalDirectory"/>).</param>
    /// <param name="patchExecutable">GNU patch, used to check that a proposal applies; checked in process only when it cannot run.</param>
    public InventoryPatchActuator(string directory, TimeProvider time, string patchExecutable = "patch")
    {
        _directory = Path.GetFullPath(directory);
        _time = time;
        _patchExecutable = patchExecutable;
    }

    public IReadOnlyCollection<string> Kinds { get; } = [Kind, WithdrawKind];

    public string Directory => _directory;

    /// <summary><c>inventory-patches/</c> beside a SQLite journal, else <c>/var/lib/pgra/inventory-patches</c> (as post-mortems choose theirs).</summary>
    public static string ProposalDirectory(JournalSettings journal, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(journal);
        return journal.Backend == JournalBackend.Sqlite
            ? Path.Combine(Path.GetDirectoryName(JournalFactory.ResolvePath(journal, baseDirectory)) ?? baseDirectory, "inventory-patches")
            : "/var/lib/pgra/inventory-patches";
    }

    /// <summary>A proposal for <paramref name="changes"/> in <paramref name="file"/>: low risk, reversible (the proposal file is deleted).</summary>
    public static PlannedAction Plan(string cluster, string file, IReadOnlyList<InventoryChange> changes, ActionTrigger trigger = ActionTrigger.Operator,
        string? initiator = null, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [File] = Path.GetFullPath(file),
            [Changes] = InventoryChange.ToJson(changes),
        };
        return InventoryPatchAction.Info.Plan(cluster, null, parameters,
            $"propose an inventory patch of {Path.GetFileName(file)} for {cluster}: {string.Join("; ", changes)}", trigger, initiator, reason);
    }

    /// <summary>
    /// The planner's part: the request's <c>file</c> (default: the inventory pgra read; another file is refused) and
    /// <c>changes</c> (required; members must be in the cluster). Bad input: <see cref="InputException"/>.
    /// </summary>
    public static PlannedAction PlanRequest(Inventory.Topology topology, string cluster, string? file, string? changes, ActionTrigger trigger, string? initiator,
        string? reason)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var source = Path.GetFullPath(topology.SourcePath);
        if (file is { Length: > 0 } && !string.Equals(Path.GetFullPath(file), source, StringComparison.Ordinal))
        {
            throw new InputException($"{Kind} proposes changes to the inventory pgra reads ({source}), not to '{file}'",
                ["pass -i FILE to propose against another inventory"]);
        }

        var parsed = InventoryChange.ParseList(changes ?? throw new InputException($"{Kind} needs 'changes'",
            ["a JSON list of {member, key, from, to}, or 'pg-test-1 pg_role primary->replica, pg-test-2 pg_role replica->primary'"]));
        var c = topology.FindCluster(cluster) ?? throw new InputException($"no cluster '{cluster}' in {source}");
        var unknown = parsed.Where(x => c.FindMember(x.Member) is null).Select(x => x.Member).Distinct(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException($"no member {string.Join(", ", unknown.Select(u => $"'{u}'"))} in cluster {cluster}",
                [$"members: {string.Join(", ", c.Members.Select(x => x.Name))}"]);
        }

        return Plan(cluster, source, parsed, trigger, initiator, reason);
    }

    public async Task<PrecheckResult> PrecheckAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Kind == WithdrawKind)
        {
            return WithdrawTarget(action, out var problem) is null
                ? PrecheckResult.Fail("proposal-file", problem!)
                : PrecheckResult.Pass("proposal-file", $"{action.Parameter(PatchPath)} is a proposal in {_directory}");
        }

        var checks = new List<CheckResult>();
        var (inventory, problem2) = await ReadInventoryAsync(action, cancellationToken).ConfigureAwait(false);
        if (inventory is null)
        {
            return PrecheckResult.Fail("inventory-readable", problem2!);
        }

        checks.Add(new CheckResult("inventory-readable", true, $"{inventory.Path} ({inventory.Bytes.Length.ToString(CultureInfo.InvariantCulture)} bytes, sha256 {inventory.Sha256})"));
        var proposal = Propose(action, inventory);
        checks.Add(proposal.Ok
            ? new CheckResult("changes-located", true, string.Join("; ", proposal.Located))
            : new CheckResult("changes-located", false, string.Join("; ", proposal.Problems)));
        try
        {
            System.IO.Directory.CreateDirectory(_directory);
            checks.Add(new CheckResult("proposal-directory", true, _directory));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            checks.Add(new CheckResult("proposal-directory", false, $"cannot create {_directory}: {ex.Message}"));
        }

        return new PrecheckResult(checks);
    }

    public async Task<ExecuteResult> ExecuteAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Kind == WithdrawKind)
        {
            return Withdraw(action);
        }

        var (inventory, problem) = await ReadInventoryAsync(action, cancellationToken).ConfigureAwait(false);
        if (inventory is null)
        {
            return ExecuteResult.Failed(problem!);
        }

        var proposal = Propose(action, inventory);
        if (!proposal.Ok)
        {
            return ExecuteResult.Failed("the inventory changed since the precheck: " + string.Join("; ", proposal.Problems));
        }

        System.IO.Directory.CreateDirectory(_directory);
        var now = _time.GetUtcNow().UtcDateTime;
        var path = Path.Combine(_directory, $"{Safe(action.Cluster)}-{now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{Safe(action.Id)}.patch");
        var bytes = Utf8.GetBytes(proposal.Diff!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // the context lines are the operator's file
        }

        await using (var stream = new FileStream(path, options))
        {
            await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        var patchSha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var apply = $"cd {Path.GetDirectoryName(inventory.Path)} && patch -p1 < {path}";
        return new ExecuteResult
        {
            Succeeded = true,
            Message = $"proposal written to {path} ({proposal.Edits.Count.ToString(CultureInfo.InvariantCulture)} change(s)); the inventory was not modified",
            Output = proposal.Diff,
            Details = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [PatchPath] = path,
                ["file"] = inventory.Path,
                ["sha256"] = inventory.Sha256,
                [PatchSha256] = patchSha,
                ["diff"] = proposal.Diff!,
                ["located"] = string.Join("\n", proposal.Located),
                ["apply"] = apply,
            },
            Undo = new PlannedAction
            {
                Id = "",
                Kind = WithdrawKind,
                Class = Kind,
                Cluster = action.Cluster,
                Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [PatchPath] = path, [PatchSha256] = patchSha },
                Risk = ActionRisk.Low,
                Summary = $"withdraw the inventory proposal {Path.GetFileName(path)}",
            },
        };
    }

    public async Task<VerifyResult> VerifyAsync(PlannedAction action, ExecuteResult execution, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(execution);
        if (action.Kind == WithdrawKind)
        {
            var target = action.Parameter(PatchPath) ?? "";
            return target.Length > 0 && !System.IO.File.Exists(target)
                ? VerifyResult.Verified($"{target} no longer exists")
                : VerifyResult.Failed($"{target} still exists");
        }

        if (!execution.Succeeded || execution.Details.GetValueOrDefault(PatchPath) is not { } path || execution.Details.GetValueOrDefault("sha256") is not { } sha)
        {
            return VerifyResult.Failed("no proposal was written");
        }

        var evidence = new Dictionary<string, string>(StringComparer.Ordinal) { [PatchPath] = path };
        var (inventory, problem) = await ReadInventoryAsync(action, cancellationToken).ConfigureAwait(false);
        if (inventory is null)
        {
            return VerifyResult.Failed(problem!) with { Evidence = evidence };
        }

        evidence["inventory_sha256"] = inventory.Sha256;
        if (!string.Equals(inventory.Sha256, sha, StringComparison.Ordinal))
        {
            return VerifyResult.Failed($"{inventory.Path} changed while the proposal was made (sha256 {sha} -> {inventory.Sha256}); propose again") with { Evidence = evidence };
        }

        if (!System.IO.File.Exists(path))
        {
            return VerifyResult.Failed($"{path} does not exist") with { Evidence = evidence };
        }

        var diff = await System.IO.File.ReadAllTextAsync(path, Utf8, cancellationToken).ConfigureAwait(false);
        var expected = Propose(action, inventory);
        var applied = UnifiedDiff.Apply(inventory.Text, diff, out var applyProblem, inventory.Bom);
        if (applied is null || !expected.Ok || !string.Equals(applied, expected.PatchedText, StringComparison.Ordinal))
        {
            return VerifyResult.Failed($"the proposal does not apply cleanly to {inventory.Path}: {applyProblem ?? "the result differs from the planned change"}") with { Evidence = evidence };
        }

        evidence["in_process_apply"] = "ok";
        var (patchOk, patchDetail) = await CheckWithPatchAsync(inventory, path, Utf8.GetBytes((inventory.Bom ? "\uFEFF" : "") + expected.PatchedText), cancellationToken).ConfigureAwait(false);
        evidence["patch_check"] = patchDetail;
        if (patchOk == false)
        {
            return VerifyResult.Failed($"patch -p1 does not apply the proposal to a copy of {inventory.Path}: {patchDetail}") with { Evidence = evidence };
        }

        return VerifyResult.Verified(
            $"{Path.GetFileName(path)} applies cleanly to {Path.GetFileName(inventory.Path)} ({(patchOk == true ? "patch -p1 on a copy and " : "")}in process); the inventory is unchanged (sha256 {sha[..12]}…)")
            with { Evidence = evidence };
    }

    public Task<ReconcileResult> ReconcileAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (action.Kind == WithdrawKind)
        {
            return Task.FromResult(action.Parameter(PatchPath) is { } p && !System.IO.File.Exists(p)
                ? new ReconcileResult(ReconcileStatus.Happened, $"{p} no longer exists")
                : new ReconcileResult(ReconcileStatus.NotHappened, $"{action.Parameter(PatchPath)} still exists"));
        }

        var written = System.IO.Directory.Exists(_directory)
            ? System.IO.Directory.GetFiles(_directory, $"*-{Safe(action.Id)}.patch").FirstOrDefault()
            : null;
        return Task.FromResult(written is null
            ? new ReconcileResult(ReconcileStatus.NotHappened, $"no proposal of {action.Id} in {_directory}")
            : new ReconcileResult(ReconcileStatus.Happened, $"{written} was written")
            {
                Undo = new PlannedAction
                {
                    Id = "",
                    Kind = WithdrawKind,
                    Class = Kind,
                    Cluster = action.Cluster,
                    Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { [PatchPath] = written },
                    Risk = ActionRisk.Low,
                    Summary = $"withdraw the inventory proposal {Path.GetFileName(written)}",
                },
            });
    }

    private sealed record InventoryFile(string Path, byte[] Bytes, string Text, bool Bom, string Sha256);

    private static async Task<(InventoryFile? File, string? Problem)> ReadInventoryAsync(PlannedAction action, CancellationToken cancellationToken)
    {
        if (action.Parameter(File) is not { Length: > 0 } path)
        {
            return (null, "the action names no inventory file");
        }

        byte[] bytes;
        try
        {
            bytes = await System.IO.File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot read {path}: {ex.Message}");
        }

        var bom = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF;
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, bom ? 3 : 0, bytes.Length - (bom ? 3 : 0));
        }
        catch (DecoderFallbackException)
        {
            return (null, $"{path} is not UTF-8 text");
        }

        return (new InventoryFile(path, bytes, text, bom, Convert.ToHexStringLower(SHA256.HashData(bytes))), null);
    }

    private static InventoryProposal Propose(PlannedAction action, InventoryFile inventory)
    {
        IReadOnlyList<InventoryChange> changes;
        try
        {
            changes = InventoryChange.ParseList(action.Parameter(Changes) ?? "");
        }
        catch (InputException ex)
        {
            return new InventoryProposal { Problems = [ex.Message, .. ex.Problems] };
        }

        return InventoryPatcher.Propose(inventory.Text, Path.GetFileName(inventory.Path), action.Cluster, changes, inventory.Bom);
    }

    /// <summary>Applies the proposal with GNU patch to a copy of the inventory: true/false, or null when patch cannot run here.</summary>
    private async Task<(bool? Ok, string Detail)> CheckWithPatchAsync(InventoryFile inventory, string patchPath, byte[] expected, CancellationToken cancellationToken)
    {
        var dir = System.IO.Directory.CreateTempSubdirectory("pgra-inventory-check-");
        try
        {
            var copy = Path.Combine(dir.FullName, Path.GetFileName(inventory.Path));
            await System.IO.File.WriteAllBytesAsync(copy, inventory.Bytes, cancellationToken).ConfigureAwait(false);
            var result = await ProcessRunner.RunAsync(_patchExecutable, ["-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-i", patchPath],
                TimeSpan.FromSeconds(30), cancellationToken, dir.FullName).ConfigureAwait(false);
            if (result.ExitCode == -1 && result.Duration == TimeSpan.Zero)
            {
                return (null, "not run: " + result.StandardError.Trim());
            }

            if (result.ExitCode != 0)
            {
                return (false, $"exit {result.ExitCode.ToString(CultureInfo.InvariantCulture)}: {result.Combined(2048).Trim()}");
            }

            var patched = await System.IO.File.ReadAllBytesAsync(copy, cancellationToken).ConfigureAwait(false);
            return patched.AsSpan().SequenceEqual(expected)
                ? (true, "patch -p1 applied it to a copy; the result is the planned inventory")
                : (false, "patch -p1 applied it, but the result differs from the planned inventory");
        }
        finally
        {
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is harmless.
            }
        }
    }

    private ExecuteResult Withdraw(PlannedAction action)
    {
        if (WithdrawTarget(action, out var problem) is not { } path)
        {
            return ExecuteResult.Failed(problem!);
        }

        if (!System.IO.File.Exists(path))
        {
            return ExecuteResult.Ok($"{path} was already gone");
        }

        if (action.Parameter(PatchSha256) is { } sha
            && !string.Equals(Convert.ToHexStringLower(SHA256.HashData(System.IO.File.ReadAllBytes(path))), sha, StringComparison.Ordinal))
        {
            return ExecuteResult.Failed($"{path} was edited since it was written; it is left for the operator");
        }

        System.IO.File.Delete(path);
        return ExecuteResult.Ok($"deleted {path}");
    }

    /// <summary>The proposal file a withdraw action names, when it is a <c>.patch</c> directly in the proposal directory.</summary>
    private string? WithdrawTarget(PlannedAction action, out string? problem)
    {
        problem = null;
        if (action.Parameter(PatchPath) is not { Length: > 0 } p)
        {
            problem = "the action names no proposal file";
            return null;
        }

        var full = Path.GetFullPath(p);
        if (!string.Equals(Path.GetDirectoryName(full), _directory, StringComparison.Ordinal) || !full.EndsWith(".patch", StringComparison.Ordinal))
        {
            problem = $"{full} is not a proposal in {_directory}; only proposals this agent wrote are withdrawn";
            return null;
        }

        return full;
    }

    private static string Safe(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());
}

/// <summary>Registers <see cref="InventoryPatchActuator"/> with its proposal directory beside the journal.</summary>
internal sealed class InventoryPatchActuatorFactory : IActuatorFactory
{
    public IEnumerable<IActuator> Create(ActuatorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        yield return new InventoryPatchActuator(InventoryPatchActuator.ProposalDirectory(context.Journal, context.BaseDirectory), context.Time);
    }
}
