using System.Net.Sockets;
using PgRuntimeAgent.Cli;
using PgRuntimeAgent.Lab;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Workspaces;

namespace PgRuntimeAgent.LabTests;

/// <summary>
/// The lab's own sshd instances (loopback mode: one per member on its address, port 2222, key-only; ansible/roles/lab_ssh)
/// as the SSH lab tests use them: the agent's ssh settings from inventory/lab.pgra.yml, each member's sshd service
/// (pid file, launcher, log), and stopping/starting one to see how the agent copes.
/// </summary>
internal static class LabSsh
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// The healthy lab with its sshd running on every member, else fail (CI) or skip: a lab brought up before the
    /// lab had its own sshd needs one more <c>pgra lab up</c>. An sshd that is down is started by its launcher.
    /// </summary>
    public static async Task<LabInfo> RequireAsync()
    {
        var lab = await LabGuard.RequireHealthyLabAsync();
        var services = lab.Manifest.Services.Where(s => s.Kind == "sshd").ToList();
        if (services.Count != lab.Members.Count)
        {
            var message = $"the lab in {lab.Dir} runs no sshd of its own ({services.Count} sshd service(s) in lab.json for {lab.Members.Count} members): run `pgra lab up` once more";
            if (LabGuard.InCi)
            {
                Assert.Fail(message);
            }

            Assert.Skip(message);
        }

        foreach (var member in lab.Members)
        {
            if (!await ListeningAsync(lab, member))
            {
                await StartAsync(lab, member);
            }
        }

        return lab;
    }

    /// <summary>Where the SSH lab tests append their figures (artifacts/lab-figures/ssh.log; CI keeps artifacts/).</summary>
    public static string FiguresFile { get; } = Path.Combine(RepoPaths.Root, "artifacts", "lab-figures", "ssh.log");

    /// <summary>A measured figure: to the test output and appended, with the time, to <see cref="FiguresFile"/>.</summary>
    public static void Figure(string line)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        Directory.CreateDirectory(Path.GetDirectoryName(FiguresFile)!);
        File.AppendAllText(FiguresFile, $"{TimeProvider.System.GetUtcNow():u} {line}\n");
    }

    /// <summary><c>sensing.ssh</c> as the lab's settings file declares it (what the Host sensor and the SSH actuator read).</summary>
    public static SshSettings Settings(LabInfo lab) => LoadWorkspace(lab).Settings.Sensing.Ssh;

    public static Workspace LoadWorkspace(LabInfo lab, string? settingsPath = null) =>
        Workspace.Load(lab.InventoryPath, settingsPath ?? lab.SettingsPath, Workspace.ProcessEnvironment(), Directory.GetCurrentDirectory(), null);

    public static LabService Service(LabInfo lab, LabMember member) =>
        lab.Manifest.Services.First(s => s.Kind == "sshd" && s.Member == member.Name);

    public static int Port(LabInfo lab, LabMember member)
    {
        var address = Service(lab, member).Address;
        return int.Parse(address[(address.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Lines of the member's sshd log (its stderr; "Accepted publickey for USER from ..." per login).</summary>
    public static IReadOnlyList<string> LogLines(LabInfo lab, LabMember member)
    {
        var log = Service(lab, member).Log!;
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public static async Task<bool> ListeningAsync(LabInfo lab, LabMember member)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(member.Ip, Port(lab, member), cts.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !Ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Stops the member's sshd by its pid file (TERM) and waits until nothing listens on its port.</summary>
    public static async Task StopAsync(LabInfo lab, LabMember member)
    {
        var service = Service(lab, member);
        var pid = LabProcesses.ReadPidFile(lab.Manifest.PidFile(service));
        Assert.True(pid is not null && LabProcesses.IsAlive(pid.Value, service.User), $"{service.Name} is not running (pid file {lab.Manifest.PidFile(service)})");
        await LabProcesses.SignalAsync(pid!.Value, "TERM", Ct);
        Assert.True(await LabProcesses.WaitGoneAsync([pid.Value], TimeSpan.FromSeconds(10), TimeProvider.System, Ct), $"{service.Name} (pid {pid}) did not stop");
        await WaitAsync(lab, member, listening: false);
    }

    /// <summary>Starts the member's sshd through the lab's launcher (as <c>pgra lab repair</c> does) and waits for its port.</summary>
    public static async Task StartAsync(LabInfo lab, LabMember member)
    {
        var service = Service(lab, member);
        var result = await LabShell.RunAsync(service.Start!, [service.Name], TimeSpan.FromSeconds(30), Ct);
        Assert.True(result.ExitCode is 0 or 1, $"{service.Start} {service.Name} exited {result.ExitCode}: {result.Tail(5)}");
        await WaitAsync(lab, member, listening: true);
    }

    private static async Task WaitAsync(LabInfo lab, LabMember member, bool listening)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (await ListeningAsync(lab, member) != listening)
        {
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(15),
                $"sshd of {member.Name} on {member.Ip}:{Port(lab, member)} is {(listening ? "still not listening" : "still listening")} after 15 s");
            await Task.Delay(200, Ct);
        }
    }
}
