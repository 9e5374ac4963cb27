using System.Security.Cryptography;
using System.Text;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Sensing.Host;
using PgRuntimeAgent.Transport;

namespace PgRuntimeAgent.Tests.Transport;

/// <summary>The one SSH transport: pinning before ssh starts, the command line it builds, and what sensors see of failures (with a stand-in ssh).</summary>
public sealed class SshRunnerTests : IDisposable
{
    private const string HostKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOw0mY2lSvl3AEvQUebEGcSBcmJ/GbsPMXnmiV1wSDbQ";

    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-ssh-runner-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string KnownHosts(params string[] lines)
    {
        var path = Path.Combine(_dir, "known_hosts");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>A stand-in ssh that records its arguments, prints <paramref name="stderr"/> and exits <paramref name="exitCode"/>.</summary>
    private string FakeSsh(int exitCode, string stderr)
    {
        var path = Path.Combine(_dir, "ssh");
        File.WriteAllText(path, $"#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > \"{_dir}/ssh-args\"\necho out\necho \"{stderr}\" >&2\nexit {exitCode}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }

    [Fact]
    public void Refusal_HostListedPlainHashedOrOnItsPort_Null()
    {
        var salt = RandomNumberGenerator.GetBytes(20);
        var hash = HMACSHA1.HashData(salt, Encoding.ASCII.GetBytes("[10.0.0.2]:2222"));
        var path = KnownHosts($"[10.0.0.1]:2222 ssh-ed25519 {HostKey}", $"|1|{Convert.ToBase64String(salt)}|{Convert.ToBase64String(hash)} ssh-ed25519 {HostKey}");
        var runner = new SshRunner(new SshSettings { Port = 2222, KnownHostsPath = path });

        Assert.Null(runner.Refusal("10.0.0.1"));
        Assert.Null(runner.Refusal("10.0.0.2"));
        Assert.Contains($"the host key of 10.0.0.3:2222 is not pinned in {path}: refusing to connect", runner.Refusal("10.0.0.3"), StringComparison.Ordinal);
        Assert.NotNull(new SshRunner(new SshSettings { Port = 22, KnownHostsPath = path }).Refusal("10.0.0.1"));
    }

    [Fact]
    public void Refusal_NoKnownHostsOrKeyMissing_SaysWhy()
    {
        var missing = Path.Combine(_dir, "no-known-hosts");
        var pinned = KnownHosts($"10.0.0.1 ssh-ed25519 {HostKey}");

        Assert.Equal($"no pinned host keys in {missing}: refusing to connect to 10.0.0.1 (add it with ssh-keyscan after checking its fingerprint)",
            new SshRunner(new SshSettings { KnownHostsPath = missing }).Refusal("10.0.0.1"));
        Assert.StartsWith($"sensing.ssh.private_key_path {_dir}/no-key does not exist",
            new SshRunner(new SshSettings { KnownHostsPath = pinned, PrivateKeyPath = Path.Combine(_dir, "no-key") }).Refusal("10.0.0.1"), StringComparison.Ordinal);
    }

    [Fact]
    public void Arguments_Settings_UserPortKeyPinnedKnownHostsThenHostAndOneCommand()
    {
        var args = new SshRunner(new SshSettings { User = "postgres", Port = 2222, PrivateKeyPath = "/k/id", KnownHostsPath = "/k/known_hosts" })
            .Arguments("10.0.0.1", "echo 'a b'");
        var text = string.Join(' ', args);

        Assert.Contains("-o BatchMode=yes", text, StringComparison.Ordinal);
        Assert.Contains("-o StrictHostKeyChecking=yes", text, StringComparison.Ordinal);
        Assert.Contains("-p 2222 -l postgres -i /k/id -o IdentitiesOnly=yes", text, StringComparison.Ordinal);
        Assert.Contains("-o UserKnownHostsFile=/k/known_hosts -o GlobalKnownHostsFile=/dev/null", text, StringComparison.Ordinal);
        Assert.Equal(["10.0.0.1", "--", "echo 'a b'"], args.TakeLast(3));
    }

    [Fact]
    public async Task RunAsync_UnpinnedHost_NotRunAndSshNeverStarts()
    {
        var runner = new SshRunner(new SshSettings { KnownHostsPath = KnownHosts($"10.0.0.1 ssh-ed25519 {HostKey}") }, FakeSsh(0, ""));

        var result = await runner.RunAsync("127.0.0.9", "true", TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(SshRunner.NotRun, result.ExitCode);
        Assert.Contains("the host key of 127.0.0.9:22 is not pinned", result.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "ssh-args")));
    }

    [Fact]
    public async Task SensorRun_ChangedHostKey_ThrowsSayingNotPinned()
    {
        var path = KnownHosts($"127.0.0.9 ssh-ed25519 {HostKey}");
        ICommandRunner runner = new SshRunner(new SshSettings { KnownHostsPath = path }, FakeSsh(255, "Host key verification failed."));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync("127.0.0.9", "true", Ct));

        Assert.Equal($"the host key of 127.0.0.9:22 is not pinned in {path} (ssh: Host key verification failed.)", error.Message);
    }

    [Fact]
    public async Task SensorRun_RemoteCommandFails_ExitCodeIsData()
    {
        ICommandRunner runner = new SshRunner(new SshSettings { KnownHostsPath = KnownHosts($"127.0.0.9 ssh-ed25519 {HostKey}") }, FakeSsh(2, "no such file"));

        var result = await runner.RunAsync("127.0.0.9", "cat /nope", Ct);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("out\n", result.StandardOutput);
        Assert.Equal("cat /nope", File.ReadAllLines(Path.Combine(_dir, "ssh-args"))[^1]);
    }
}
