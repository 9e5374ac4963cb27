using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary><c>pgra journal list|show|verify|export|note</c>: read, check and export the hash-chained journal.</summary>
internal sealed class JournalCommands : ICommandGroup
{
    public int Order => 60;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var journalFile = JournalAccess.CreateOption();
        var journal = new Command("journal", "The agent's append-only, hash-chained record of snapshots, findings, decisions, actions and approvals.");
        journal.Options.Add(journalFile);

        var cluster = new Option<string?>("--cluster", "-c") { Description = "Only entries about this cluster." };
        var since = new Option<string?>("--since") { Description = "Only entries at or after this time: ISO 8601 (2026-03-01T12:00Z) or an age (30m, 2h, 7d)." };
        var kind = new Option<string[]>("--kind") { Description = $"Only these kinds ({string.Join(", ", JournalKinds.All)}).", AllowMultipleArgumentsPerToken = true };
        var limit = new Option<int?>("--limit", "-n") { Description = "At most this many (the newest)." };
        var list = new Command("list", "List journal entries, oldest first.") { cluster, since, kind, limit };
        list.SetAction((parse, ct) => ListAsync(options, parse, journalFile, cluster, since, kind, limit, ct));
        journal.Subcommands.Add(list);

        var id = new Argument<string>("ID") { Description = "An entry number (42 or #42) or an action id (act-...: every entry of that action and its undo)." };
        var show = new Command("show", "Show entries in full, with their payload and hashes.") { id };
        show.SetAction((parse, ct) => ShowAsync(options, parse, journalFile, id, ct));
        journal.Subcommands.Add(show);

        var verify = new Command("verify", "Recompute every hash and link. Exit 0 when intact; 1 naming the first changed, removed or reordered entry.");
        verify.SetAction((parse, ct) => VerifyAsync(options, parse, journalFile, ct));
        journal.Subcommands.Add(verify);

        var jsonl = new Option<bool>("--jsonl") { Description = "One JSON object per line (the only format; the flag makes it explicit)." };
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file instead of standard output." };
        var export = new Command("export", "Export every entry as JSON lines, with hashes, for archiving or offline analysis.") { jsonl, output };
        export.SetAction((parse, ct) => ExportAsync(options, parse, journalFile, output, ct));
        journal.Subcommands.Add(export);

        var text = new Argument<string>("TEXT") { Description = "What to record." };
        var noteCluster = new Option<string?>("--cluster", "-c") { Description = "The cluster the note is about." };
        var note = new Command("note", "Append an operator's note (maintenance started, a manual fix...).") { text, noteCluster };
        note.SetAction((parse, ct) => NoteAsync(options, parse, journalFile, text, noteCluster, ct));
        journal.Subcommands.Add(note);

        return [journal];
    }

    private static async Task<int> ListAsync(GlobalOptions options, ParseResult parse, Option<string?> journalFile, Option<string?> cluster,
        Option<string?> since, Option<string[]> kind, Option<int?> limit, CancellationToken cancellationToken)
    {
        var sinceValue = parse.GetValue(since) is { } s ? JournalTimes.Parse(s, options.Time.GetUtcNow(), "--since") : (DateTimeOffset?)null;
        var limitValue = parse.GetValue(limit);
        if (limitValue is <= 0)
        {
            throw new InputException($"--limit must be positive, not {limitValue}.");
        }

        var kinds = parse.GetValue(kind) ?? [];
        var unknown = kinds.Where(k => !JournalKinds.All.Contains(k, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new InputException(
                $"unknown journal kind{(unknown.Count == 1 ? "" : "s")} {string.Join(", ", unknown.Select(k => $"'{k}'"))} for --kind; the kinds are: {string.Join(", ", JournalKinds.All)}.");
        }

        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalFile, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var entries = await journal.QueryAsync(new JournalQuery
            {
                Cluster = parse.GetValue(cluster),
                Since = sinceValue,
                Kinds = kinds,
                Limit = limitValue,
                Descending = limitValue is not null,
                IncludeDamaged = true,
            }, cancellationToken).ConfigureAwait(false);
            var ordered = entries.OrderBy(e => e.Seq).ToList();
            if (parse.GetValue(options.Json))
            {
                await CliOutput.WriteJsonAsync(options.Out, ordered.Select(JournalEntryJson.ToJson).ToList()).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (ordered.Count == 0)
            {
                await options.Out.WriteLineAsync($"no entries in {journal.Location} match.").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var rows = ordered.Select(e => new[]
            {
                "#" + e.Seq.ToString(CultureInfo.InvariantCulture), e.Damage is null ? JournalAccess.FormatTime(e.Time) : "?", e.Kind, e.Cluster ?? "-",
                e.CorrelationId ?? "-", JournalEntryJson.Damage(e) is { } damage ? $"[{damage}] {e.Summary}" : e.Summary,
            }).ToList();
            await WriteTableAsync(options.Out, ["SEQ", "TIME", "KIND", "CLUSTER", "ACTION", "SUMMARY"], rows).ConfigureAwait(false);
            var damaged = ordered.Count(e => JournalEntryJson.Damage(e) is not null);
            if (damaged > 0)
            {
                await options.Error.WriteLineAsync(
                    $"warning: {damaged} damaged entr{(damaged == 1 ? "y" : "ies")} in {journal.Location}; 'pgra journal verify' checks the chain, keep the file as evidence.").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
    }

    private static async Task<int> ShowAsync(GlobalOptions options, ParseResult parse, Option<string?> journalFile, Argument<string> idArgument,
        CancellationToken cancellationToken)
    {
        var id = parse.GetValue(idArgument)!.Trim();
        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalFile, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            IReadOnlyList<JournalEntry> entries;
            if (long.TryParse(id.TrimStart('#'), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                var found = await journal.QueryAsync(new JournalQuery { AfterSeq = seq - 1, Limit = 1, IncludeDamaged = true }, cancellationToken).ConfigureAwait(false);
                var entry = found.FirstOrDefault(e => e.Seq == seq)
                    ?? throw new InputException($"no entry #{seq} in {journal.Location}; 'pgra journal list' shows the numbers.");
                entries = [entry];
            }
            else
            {
                entries = await journal.QueryAsync(new JournalQuery { CorrelationId = id, IncludeDamaged = true }, cancellationToken).ConfigureAwait(false);
                if (entries.Count == 0)
                {
                    throw new InputException($"no entry or action '{id}' in {journal.Location}; give an entry number (42) or an action id (act-...).");
                }
            }

            if (parse.GetValue(options.Json))
            {
                await CliOutput.WriteJsonAsync(options.Out, entries.Select(JournalEntryJson.ToJson).ToList()).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var text = new StringBuilder();
            foreach (var e in entries)
            {
                text.Append(CultureInfo.InvariantCulture, $"#{e.Seq}  {(e.Damage is null ? JournalAccess.FormatTime(e.Time) : "?")}  {e.Kind}\n");
                if (JournalEntryJson.Damage(e) is { } damage)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  DAMAGED   {damage}\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"  summary   {e.Summary}\n");
                if (e.Cluster is not null)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  cluster   {e.Cluster}{(e.Member is null ? "" : " / " + e.Member)}\n");
                }

                if (e.CorrelationId is not null)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  action    {e.CorrelationId}{(e.Topic is null ? "" : " (" + e.Topic + ")")}\n");
                }
                else if (e.Topic is not null)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  topic     {e.Topic}\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"  hash      {e.Hash}\n  previous  {e.PrevHash}\n  payload\n");
                var pretty = e.TryPayloadElement(out var payload) ? JsonSerializer.Serialize(payload, CliOutput.Json) : e.Payload;
                foreach (var line in pretty.Split('\n'))
                {
                    text.Append("    ").Append(line.TrimEnd('\r')).Append('\n');
                }

                text.Append('\n');
            }

            await options.Out.WriteAsync(text.ToString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    private static async Task<int> VerifyAsync(GlobalOptions options, ParseResult parse, Option<string?> journalFile, CancellationToken cancellationToken)
    {
        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalFile, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var result = await journal.VerifyAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(options.Json))
            {
                await CliOutput.WriteJsonAsync(options.Out, JournalEntryJson.Verification(journal.Location, result))
                    .ConfigureAwait(false);
            }
            else if (result.Ok)
            {
                await options.Out.WriteLineAsync($"journal {journal.Location}: intact, {result.Checked} entries, chain verified up to #{result.LastSeq}.").ConfigureAwait(false);
            }
            else
            {
                await options.Out.WriteLineAsync($"journal {journal.Location}: BROKEN at #{result.FirstBadSeq} ({result.Problem}): {result.Message}").ConfigureAwait(false);
                await options.Out.WriteLineAsync($"entries before #{result.FirstBadSeq} are intact; keep the file as evidence and compare it with an export or a backup.").ConfigureAwait(false);
            }

            return result.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        }
    }

    private static async Task<int> ExportAsync(GlobalOptions options, ParseResult parse, Option<string?> journalFile, Option<string?> output, CancellationToken cancellationToken)
    {
        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalFile, writing: false, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var path = parse.GetValue(output);
            var writer = path is null ? options.Out : CreateExportFile(path);
            var compact = new JsonSerializerOptions(CliOutput.Json) { WriteIndented = false };
            long count = 0;
            try
            {
                await foreach (var entry in journal.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    await writer.WriteAsync(JsonSerializer.Serialize(JournalEntryJson.ToJson(entry), compact)).ConfigureAwait(false);
                    await writer.WriteAsync('\n').ConfigureAwait(false);
                    count++;
                }
            }
            finally
            {
                if (path is not null)
                {
                    await writer.DisposeAsync().ConfigureAwait(false);
                }
            }

            if (path is not null)
            {
                await options.Error.WriteLineAsync($"exported {count} entries to {Path.GetFullPath(path)}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
    }

    private static StreamWriter CreateExportFile(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            return new StreamWriter(full, append: false, new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex switch
            {
                DirectoryNotFoundException => $"the directory {Path.GetDirectoryName(full)} does not exist",
                UnauthorizedAccessException => "permission denied",
                _ => ex.Message,
            };
            throw new InputException($"cannot write the export to {full}: {why}; give -o a file in a directory you can write to, or leave -o out to write to standard output.");
        }
    }

    private static async Task<int> NoteAsync(GlobalOptions options, ParseResult parse, Option<string?> journalFile, Argument<string> text, Option<string?> cluster,
        CancellationToken cancellationToken)
    {
        var body = parse.GetValue(text);
        if (string.IsNullOrWhiteSpace(body))
        {
            throw new InputException("the note is empty.");
        }

        body = SecretText.RedactFreeText(body);

        var (journal, _) = await JournalAccess.OpenAsync(options, parse, journalFile, writing: true, cancellationToken).ConfigureAwait(false);
        await using (journal.ConfigureAwait(false))
        {
            var by = ActingSession.OperatorName();
            var entry = await journal.AppendAsync(JournalRecord.Create(JournalKinds.Note, $"note by {by}: {body}", new { by, text = body },
                parse.GetValue(cluster)), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(options.Json))
            {
                await CliOutput.WriteJsonAsync(options.Out, JournalEntryJson.ToJson(entry)).ConfigureAwait(false);
            }
            else
            {
                await options.Out.WriteLineAsync($"recorded as #{entry.Seq}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
    }

    internal static async Task WriteTableAsync(TextWriter writer, IReadOnlyList<string> headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => i == headers.Count - 1 ? 0 : Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        string Format(IReadOnlyList<string> cells) =>
            string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        await writer.WriteLineAsync(Format(headers)).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await writer.WriteLineAsync(Format(row)).ConfigureAwait(false);
        }
    }
}
