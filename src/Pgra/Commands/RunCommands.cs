using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using PgRuntimeAgent.Agent;
using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.Cli.Commands;

/// <summary>
/// <c>pgra run</c>: the long-running agent under Microsoft.Extensions.Hosting. SIGTERM and Ctrl+C stop it cleanly
/// (sensing stops, a skill run in the middle of an action gets <c>agent.shutdown_grace_seconds</c>); under systemd it
/// reports readiness (Type=notify) and logs in journald's format. Notifications go to standard output, logs to
/// standard error. With a token in <c>http.tokens</c> the web host (MCP over HTTP, the API) runs beside the loop.
/// </summary>
internal sealed partial class RunCommands : ICommandGroup
{
    public int Order => 20;

    public IEnumerable<Command> Build(GlobalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var skills = new Option<string?>("--skills")
        {
            Description = "Skills directory. Default: agent.skills_dir, ./skills, skills/ beside the pgra binary or its repository, /etc/pgra/skills.",
        };
        var clusters = new Option<string[]>("--cluster")
        {
            Description = "Watch only this cluster (repeatable). Default: agent.clusters, else every cluster of the inventory.",
            AllowMultipleArgumentsPerToken = false,
        };
        var interval = new Option<double?>("--interval")
        {
            Description = "Seconds between two snapshots of a cluster. Default: sensing.interval_seconds.",
        };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Least severe log level written to standard error.",
            DefaultValueFactory = _ => LogLevel.Information,
        };
        var logJson = new Option<bool>("--log-json") { Description = "Write logs as JSON lines (one object per event) instead of text." };
        var run = new Command("run", "Run the agent: sense every cluster every few seconds, detect, open incidents, run skills within policy, notify. Stops cleanly on SIGTERM.")
        {
            skills, clusters, interval, logLevel, logJson,
        };
        run.SetAction((parse, ct) =>
        {
            // The host handles SIGTERM/SIGINT itself and stops the agent cleanly; the command line's own handler
            // would end the process two seconds after the signal. Must be set before the first await.
            parse.InvocationConfiguration.ProcessTerminationTimeout = null;
            return RunAsync(options, parse, new RunArguments(parse.GetValue(skills), parse.GetValue(clusters) ?? [], parse.GetValue(interval),
                parse.GetValue(logLevel), parse.GetValue(logJson)), ct);
        });
        return [run];
    }

    private sealed record RunArguments(string? Skills, IReadOnlyList<string> Clusters, double? Interval, LogLevel LogLevel, bool LogJson);

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, RunArguments args, CancellationToken cancellationToken)
    {
        var workspace = CliWorkspace.Load(options, parse);
        if (args.Interval is <= 0)
        {
            throw new InputException($"--interval must be a positive number of seconds, got {args.Interval}");
        }

        var skillsDir = SkillCommands.ResolveDirectory(args.Skills ?? workspace.Settings.Agent.SkillsDir, Directory.GetCurrentDirectory(), AppContext.BaseDirectory);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = Directory.GetCurrentDirectory() });
        ConfigureLogging(builder, args.LogLevel, args.LogJson);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(workspace.Settings.Agent.ShutdownGraceSeconds + 15));
        builder.Services.AddSingleton(sp => new AgentStartup(workspace, skillsDir, args, options));
        builder.Services.AddSingleton<AgentService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AgentService>());

        using var host = builder.Build();
        var service = host.Services.GetRequiredService<AgentService>();
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        if (service.Failure is { } failure)
        {
            await options.Error.WriteLineAsync($"error: the agent stopped: {failure}").ConfigureAwait(false);
            return failure.StartsWith("input:", StringComparison.Ordinal) ? ExitCodes.Usage : ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }

    internal static void ConfigureLogging(HostApplicationBuilder builder, LogLevel level, bool json)
    {
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(level);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        AddWebFilters(builder.Logging);
        if (json)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss.fff'Z' ";
            });
        }

        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    /// <summary>The web host's frameworks say only what goes wrong (a 401 or an MCP request is not news; 9000-9002 say what matters).</summary>
    internal static void AddWebFilters(ILoggingBuilder logging)
    {
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("ModelContextProtocol", LogLevel.Warning);
        logging.AddFilter("PgRuntimeAgent.Web.BearerTokenHandler", LogLevel.Warning);
    }

    /// <summary>What the hosted service builds the agent from.</summary>
    private sealed record AgentStartup(Workspace Workspace, string SkillsDirectory, RunArguments Args, GlobalOptions Options);

    /// <summary>The agent as a hosted service: built on start, run until the host stops, then disposed.</summary>
    private sealed partial class AgentService(AgentStartup startup, ILoggerFactory logging, IHostApplicationLifetime lifetime) : BackgroundService
    {
        private readonly ILogger _logger = logging.CreateLogger("PgRuntimeAgent.Cli.Run");

        /// <summary>Why the agent ended other than by a stop request (null: it did not).</summary>
        public string? Failure { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            AgentRuntime? runtime = null;
            try
            {
                // The inventory was read before the host (and its logging) existed: say now what it holds.
                InventoryLoader.LogLoaded(logging.CreateLogger("PgRuntimeAgent.Inventory"), startup.Workspace.Topology);
                runtime = await AgentRuntime.CreateAsync(startup.Workspace, new AgentRuntimeOptions
                {
                    SkillsDirectory = startup.SkillsDirectory,
                    Time = startup.Options.Time,
                    Logging = logging,
                    Clusters = startup.Args.Clusters.Count == 0 ? null : startup.Args.Clusters,
                    Interval = startup.Args.Interval is { } s ? TimeSpan.FromSeconds(s) : null,
                    NotifyOut = startup.Options.Out,
                }, stoppingToken).ConfigureAwait(false);
                LogRunning(_logger, runtime.Journal.Location, startup.SkillsDirectory, string.Join(",", runtime.Skills.Skills.Select(k => k.Name)));
                await using var otlp = ServeCommands.StartOtlp(startup.Workspace, runtime.Acting, startup.Options.Time, logging);
                await using var web = await Web.AgentWebHosting.StartAsync(startup.Workspace, runtime.Acting, startup.SkillsDirectory, runtime,
                    startup.Options.Time, logging, stoppingToken).ConfigureAwait(false);
                if (web is null)
                {
                    Web.Log.Off(logging.CreateLogger("PgRuntimeAgent.Web"), ServeCommands.WebOff(startup.Workspace));
                }

                await runtime.RunAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (InputException ex)
            {
                Failure = "input: " + ex.Message + (ex.Problems.Count > 0 ? " (" + string.Join("; ", ex.Problems) + ")" : "");
                lifetime.StopApplication();
            }
            catch (Exception ex) when (ex is Journal.JournalException or IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
            {
                Failure = $"{ex.GetType().Name}: {LogRedaction.Exception(ex, startup.Workspace.Secrets)}";
                lifetime.StopApplication();
            }
            finally
            {
                if (runtime is not null)
                {
                    await runtime.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        [LoggerMessage(EventId = 7190, Level = LogLevel.Information, Message = "pgra run: journal {Journal}, skills {SkillsDirectory} ({Skills})")]
        private static partial void LogRunning(ILogger logger, string journal, string skillsDirectory, string skills);
    }
}
