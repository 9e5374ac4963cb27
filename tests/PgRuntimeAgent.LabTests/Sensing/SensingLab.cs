using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using PgRuntimeAgent.Cli;

namespace PgRuntimeAgent.LabTests.Sensing;

/// <summary>
/// The loopback lab as the sensing lab tests use it: the inventory, the CLI in-process, the lab's service launchers
/// (/var/lib/pgra-lab/bin/start-*.sh with pid files in /var/lib/pgra-lab/run) and Patroni's REST API through curl.
/// </summary>
internal static class SensingLab
{
    public const string LabDir = "/var/lib/pgra-lab";

    public static string RepoRoot => RepoPaths.Root;

    private static string? _inventory;

    /// <summary>The lab's inventory as its manifest names it (else inventory/lab.yml in this repository).</summary>
    public static string Inventory => _inventory ?? Path.Combine(RepoRoot, "inventory", "lab.yml");

    /// <summary>The shared lab gate (fails in CI, skips elsewhere when the lab is down); remembers the lab's inventory.</summary>
    public static async Task RequireAsync()
    {
        var lab = await LabGuard.RequireLabAsync();
        if (File.Exists(lab.InventoryPath))
        {
            _inventory = lab.InventoryPath;
        }
    }

    public static async Task<(int ExitCode, string Out, string Error)> PgraAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>pgra status --json for the lab cluster.</summary>
    public static async Task<JsonElement> StatusAsync()
    {
        var (code, output, error) = await PgraAsync("status", "--json", "-i", Inventory);
        Assert.True(code is 0 or 1, $"pgra status exited {code}: {error}");
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.GetProperty("clusters")[0].Clone();
    }

    public static string? Leader(JsonElement cluster) =>
        cluster.GetProperty("leader").ValueKind == JsonValueKind.String ? cluster.GetProperty("leader").GetString() : null;

    /// <summary>Polls status until the predicate holds (or the deadline passes) and returns the last status.</summary>
    public static async Task<JsonElement> WaitForStatusAsync(Func<JsonElement, bool> predicate, TimeSpan deadline)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            var status = await StatusAsync();
            if (predicate(status) || TimeProvider.System.GetElapsedTime(started) > deadline)
            {
                return status;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        }
    }

    public static bool Healthy(JsonElement cluster)
    {
        var members = cluster.GetProperty("members").EnumerateArray().ToList();
        return members.Count(m => m.GetProperty("role").GetString() == "leader") == 1
            && members.Count(m => m.GetProperty("role").GetString() == "replica" && m.GetProperty("streaming").ValueKind == JsonValueKind.True) == 2
            && members.All(m => m.GetProperty("reachable").GetBoolean());
    }

    public static string IpOf(string member) => $"127.0.0.1{member[^1]}";

    /// <summary>A planned switchover through Patroni's REST API with curl, as an operator would do it.</summary>
    public static async Task<BufferedCommandResult> CurlSwitchoverAsync(string leader, string candidate)
    {
        var body = JsonSerializer.Serialize(new { leader, candidate });
        return await CliWrap.Cli.Wrap("curl")
            .WithArguments(["-s", "-m", "30", "-u", "postgres:Patroni.API", "-X", "POST", "-H", "Content-Type: application/json",
                "-d", body, $"http://{IpOf(leader)}:8008/switchover"])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Stops one lab service by its pid file (SIGKILL when <paramref name="kill"/>), as `pgra lab down` would.</summary>
    public static async Task StopServiceAsync(string name, string user, bool kill)
    {
        var result = await CliWrap.Cli.Wrap("start-stop-daemon")
            .WithArguments(["--stop", "--quiet", "--pidfile", $"{LabDir}/run/{name}.pid", "--user", user, "--retry", kill ? "KILL/5" : "TERM/20/KILL/5"])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, $"could not stop {name}: {result.StandardError}");
    }

    /// <summary>Starts a lab service again with the lab's own launcher.</summary>
    public static async Task StartServiceAsync(string launcher, string name)
    {
        var result = await CliWrap.Cli.Wrap($"{LabDir}/bin/{launcher}")
            .WithArguments([name])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode is 0 or 1, $"could not start {name}: {result.StandardError}");
    }

    public static async Task<bool> AnswersAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await http.GetAsync(new Uri(url), TestContext.Current.CancellationToken);
            return (int)response.StatusCode < 500;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(started) > deadline)
            {
                Assert.Fail($"timed out after {deadline.TotalSeconds}s waiting for {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        }
    }
}
