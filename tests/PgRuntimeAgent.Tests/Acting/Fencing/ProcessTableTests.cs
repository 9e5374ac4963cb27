using System.Net;
using PgRuntimeAgent.Acting.Fencing;

namespace PgRuntimeAgent.Tests.Acting.Fencing;

public sealed class ProcessTableTests : IDisposable
{
    private readonly string _proc = Directory.CreateTempSubdirectory("pgra-fake-proc-").FullName;

    private const string Tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0B00007F:1F48 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1001 1 0000000000000000 100 0 0 10 0
           1: 0B00007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1002 1 0000000000000000 100 0 0 10 0
           2: 0C00007F:1F48 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1003 1 0000000000000000 100 0 0 10 0
           3: 0B00007F:1F48 0B00007F:9C40 01 00000000:00000000 00:00000000 00000000   104        0 1004 1 0000000000000000 100 0 0 10 0
           4: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1005 1 0000000000000000 100 0 0 10 0
        """;

    private void Process(int pid, int ppid, string comm, params long[] socketInodes)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_proc, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        File.WriteAllText(Path.Combine(dir.FullName, "stat"), $"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560");
        File.WriteAllText(Path.Combine(dir.FullName, "cmdline"), comm.Replace(' ', '\0') + "\0");
        File.WriteAllText(Path.Combine(dir.FullName, "comm"), comm.Split(' ')[0].TrimEnd(':') + "\n"); // the executable's name, as the kernel keeps it
        var fd = Directory.CreateDirectory(Path.Combine(dir.FullName, "fd"));
        for (var i = 0; i < socketInodes.Length; i++)
        {
            File.CreateSymbolicLink(Path.Combine(fd.FullName, (i + 3).ToString(System.Globalization.CultureInfo.InvariantCulture)), $"socket:[{socketInodes[i]}]");
        }
    }

    private ProcessTable Table()
    {
        Directory.CreateDirectory(Path.Combine(_proc, "net"));
        File.WriteAllText(Path.Combine(_proc, "net", "tcp"), Tcp);
        Process(1, 0, "init");
        Process(100, 1, "patroni pg-test-1", 1001);
        Process(101, 100, "python3 helper");
        Process(200, 1, "postgres", 1002);
        Process(201, 200, "postgres: checkpointer (pg) x");
        Process(202, 201, "grandchild");
        Process(300, 1, "patroni pg-test-2", 1003);
        Process(400, 1, "node_exporter", 1005);
        return new ProcessTable(_proc);
    }

    [Fact]
    public void PostgresWorkingIn_OrphanedBackendInTheDataDirectory_IsFoundButNotAShellThereOrAnotherMembersBackend()
    {
        var table = Table();
        var data = Directory.CreateDirectory(Path.Combine(_proc, "..", Path.GetFileName(_proc) + "-data-1")).FullName;
        var other = Directory.CreateDirectory(Path.Combine(_proc, "..", Path.GetFileName(_proc) + "-data-2")).FullName;
        Process(500, 1, "postgres: pg-test: app test 127.0.0.1(34858) INSERT");
        Process(501, 1, "bash");
        Process(502, 1, "postgres: pg-test: app test 127.0.0.1(34999) idle");
        File.CreateSymbolicLink(Path.Combine(_proc, "500", "cwd"), data);
        File.CreateSymbolicLink(Path.Combine(_proc, "501", "cwd"), data);
        File.CreateSymbolicLink(Path.Combine(_proc, "502", "cwd"), other);

        Assert.Equal([500], table.PostgresWorkingIn([data + "/"]));
        Assert.Equal(data, table.WorkingDirectory(500));
        Assert.Empty(table.PostgresWorkingIn([]));
        Directory.Delete(data);
        Directory.Delete(other);
    }

    [Fact]
    public void ParseListeners_ListenStateOnly_AddressesInNetworkOrder()
    {
        var listeners = ProcessTable.ParseListeners(Tcp.Split('\n'));

        Assert.Equal(4, listeners.Count);
        Assert.Equal(IPAddress.Parse("127.0.0.11"), listeners[0].Address);
        Assert.Equal(8008, listeners[0].Port);
        Assert.Equal(1001, listeners[0].Inode);
        Assert.Equal(5432, listeners[1].Port);
        Assert.Equal(IPAddress.Any, listeners[3].Address);
        Assert.Equal(9090, listeners[3].Port);
    }

    [Fact]
    public void ParseAddress_Ipv6Words_LittleEndian()
    {
        Assert.Equal(IPAddress.IPv6Loopback, ProcessTable.ParseAddress("00000000000000000000000001000000"));
        Assert.Null(ProcessTable.ParseAddress("xyz"));
    }

    [Fact]
    public void ListeningPids_MemberAddressAndPort_FindsOnlyThatMembersProcess()
    {
        var table = Table();

        Assert.Equal([100], table.ListeningPids(IPAddress.Parse("127.0.0.11"), 8008));
        Assert.Equal([200], table.ListeningPids(IPAddress.Parse("127.0.0.11"), 5432));
        Assert.Equal([300], table.ListeningPids(IPAddress.Parse("127.0.0.12"), 8008));
        Assert.Equal([400], table.ListeningPids(IPAddress.Parse("192.0.2.10"), 9090));
        Assert.Empty(table.ListeningPids(IPAddress.Parse("127.0.0.13"), 9090));
        Assert.Empty(table.ListeningPids(IPAddress.Parse("127.0.0.13"), 5432));
    }

    [Fact]
    public void WithDescendants_WalksChildrenAndGrandchildren()
    {
        var table = Table();

        Assert.Equal([200, 201, 202], table.WithDescendants(200).Order());
        Assert.Equal([100, 101], table.WithDescendants(100).Order());
        Assert.Equal("patroni pg-test-1", table.CommandLine(100));
        Assert.True(table.Exists(100));
        Assert.False(table.Exists(999));
    }

    [Fact]
    public void ListeningPids_SeveralPortsInOnePass_EachPortItsOwnHolders()
    {
        var table = Table();

        var found = table.ListeningPids(IPAddress.Parse("127.0.0.11"), [8008, 5432, 9999]);

        Assert.Equal([100], found[8008]);
        Assert.Equal([200], found[5432]);
        Assert.Empty(found[9999]);
    }

    [Fact]
    public void WithDescendants_SeveralRoots_EachOnceRootsFirst()
    {
        var table = Table();

        var all = table.WithDescendants([100, 200, 100]);

        Assert.Equal([100, 200], all.Take(2));
        Assert.Equal([100, 101, 200, 201, 202], all.Order());
    }

    [Fact]
    public async Task Signals_StopThenKill_ReachARealProcessAndReportTheGoneOnes()
    {
        using var sleeper = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;

        var stop = Signals.Send([sleeper.Id], Signals.Stop);
        Assert.Equal(1, stop.Sent);
        // Delivery is asynchronous: the stop shows in /proc within moments.
        string State() => File.ReadAllText($"/proc/{sleeper.Id}/status").Split('\n').Single(l => l.StartsWith("State:", StringComparison.Ordinal));
        for (var i = 0; i < 100 && !State().Contains("\tT", StringComparison.Ordinal); i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.Contains("\tT", State(), StringComparison.Ordinal);

        var kill = Signals.Send([sleeper.Id], Signals.Kill);
        Assert.Equal(1, kill.Sent);
        Assert.True(sleeper.WaitForExit(5000));

        var again = Signals.Send([sleeper.Id, 1], Signals.Kill);
        Assert.Equal(0, again.Sent);
        Assert.Equal([$"{sleeper.Id}: gone", "1: refused (not a single process)"], again.Errors);
    }

    [Fact]
    public void IsLocalAddress_LoopbackYesOthersNo()
    {
        Assert.True(ProcessTable.IsLocalAddress("127.0.0.12"));
        Assert.False(ProcessTable.IsLocalAddress("192.0.2.44"));
        Assert.False(ProcessTable.IsLocalAddress("not-an-ip"));
    }

    public void Dispose() => Directory.Delete(_proc, recursive: true);
}
