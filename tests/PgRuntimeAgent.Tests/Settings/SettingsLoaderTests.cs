using PgRuntimeAgent.Inventory;
using PgRuntimeAgent.Journal;
using PgRuntimeAgent.Secrets;
using PgRuntimeAgent.Sensing;
using PgRuntimeAgent.Settings;

namespace PgRuntimeAgent.Tests.Settings;

public sealed class SettingsLoaderTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();
    private readonly string _dir = Directory.CreateTempSubdirectory("pgra-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Inventory => Path.Combine(_dir, "lab.yml");

    private string SystemDir => Path.Combine(_dir, "etc-pgra");

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private SettingsLoadResult TryLoad(string? explicitPath = null, IReadOnlyDictionary<string, string?>? env = null, SecretStore? secrets = null) =>
        SettingsLoader.TryLoad(explicitPath, Inventory, secrets ?? new SecretStore(), env ?? NoEnvironment, SystemDir);

    [Fact]
    public void Load_LabStyleFile_BindsEverySectionAndMovesCredentialsToTheStore()
    {
        var path = Write("lab.pgra.yml", """
            endpoints:
              metrics_url: http://127.0.0.10:9090
              metrics_kind: prometheus
              logs_url: null
              logs_kind: files
              alertmanager_url: http://127.0.0.10:9059
            credentials:
              patroni_username: postgres
              patroni_password: Lab.Patroni-Pw
              monitor_password: Lab.Monitor-Pw
            sensing:
              interval_seconds: 2
              calm_interval_seconds: 20
              timeout_seconds: 1.5
              max_parallelism: 4
              disabled: [ host ]
              log_files:
                pg-test-1: { postgres: /var/lib/pgra-lab/pg-test-1/log/postgresql-*.log, patroni: /var/lib/pgra-lab/pg-test-1/log/patroni.log }
              pgbackrest:
                config: /var/lib/pgra-lab/pgbackrest/pgbackrest.conf
                run_as: postgres
                ssh_host: null
            journal:
              backend: sqlite
              path: /var/lib/pgra-lab/pgra-journal.db
            policy:
              default_level: 1
              classes: { patroni.switchover: 2, patroni.failover: 2 }
            """);
        var secrets = new SecretStore();

        var result = TryLoad(secrets: secrets);

        Assert.Empty(result.Problems);
        var s = result.Settings;
        Assert.Equal(20, s.Sensing.CalmIntervalSeconds);
        Assert.Equal((path, "beside the inventory"), (s.SourcePath, result.How));
        Assert.Equal(new Uri("http://127.0.0.10:9090"), s.Endpoints.MetricsUrl);
        Assert.Equal(MetricsKind.Prometheus, s.Endpoints.MetricsKind);
        Assert.Null(s.Endpoints.LogsUrl);
        Assert.Equal(LogsKind.Files, s.Endpoints.LogsKind);
        Assert.Equal("postgres", s.Credentials.PatroniUsername);
        Assert.Equal("Lab.Patroni-Pw", secrets.Reveal(s.Credentials.PatroniPassword!));
        Assert.Equal($"{path}:9 (credentials.patroni_password)", s.Credentials.PatroniPassword!.Origin);
        Assert.DoesNotContain("Lab.Patroni-Pw", s.ToString(), StringComparison.Ordinal);
        Assert.Equal((2d, 1.5d, 4), (s.Sensing.IntervalSeconds, s.Sensing.TimeoutSeconds, s.Sensing.MaxParallelism));
        Assert.Equal(["host"], s.Sensing.Disabled);
        Assert.Equal("/var/lib/pgra-lab/pg-test-1/log/patroni.log", s.Sensing.LogFiles["pg-test-1"].Patroni);
        Assert.Equal("/var/lib/pgra-lab/pgbackrest/pgbackrest.conf", s.Sensing.Pgbackrest.Config);
        Assert.Equal("pgbackrest", s.Sensing.Pgbackrest.Command); // default kept for keys not in the file
        Assert.Null(s.Sensing.Pgbackrest.SshHost);
        Assert.Equal(JournalBackend.Sqlite, s.Journal.Backend);
        Assert.Equal(2, s.Policy.Classes["patroni.failover"]);
        Assert.Equal(new SettingOrigin(ValueSource.Settings, $"{path}:2:16"), s.OriginOf("endpoints.metrics_url"));
        Assert.Null(s.OriginOf("sensing.logs_max_entries"));
    }

    [Fact]
    public void Load_IndexAdvisorSection_BindsItsCadenceAndAnUnknownKeyIsAProblem()
    {
        var path = Write("advisor.pgra.yml", """
            sensing:
              postgres:
                advisor: { interval_seconds: 60, per_refresh: 5, statement_timeout_ms: 500 }
            """);

        var result = SettingsLoader.TryLoad(path, Inventory, new SecretStore(), NoEnvironment, SystemDir);

        Assert.Empty(result.Problems);
        Assert.Equal(new IndexAdvisorSettings { IntervalSeconds = 60, PerRefresh = 5, StatementTimeoutMs = 500 }, result.Settings.Sensing.Postgres.Advisor);
        Assert.Equal(new IndexAdvisorSettings(), SettingsLoader.TryLoad(Write("empty.pgra.yml", "{}"), Inventory, new SecretStore(), NoEnvironment, SystemDir).Settings.Sensing.Postgres.Advisor);
        var wrong = SettingsLoader.TryLoad(Write("wrong.pgra.yml", "sensing: { postgres: { advisor: { every: 5 } } }"), Inventory, new SecretStore(), NoEnvironment, SystemDir);
        Assert.Contains(wrong.Problems, p => p.Message.Contains("every", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_RealLabSettingsFile_HasNoProblems()
    {
        var lab = Path.Combine(Tests.Inventory.InventoryTestKit.RepoRoot, "inventory", "lab.pgra.yml");
        if (!File.Exists(lab))
        {
            Assert.Skip("inventory/lab.pgra.yml is not in this tree");
        }

        var result = SettingsLoader.TryLoad(lab, Inventory, new SecretStore(), NoEnvironment, SystemDir);

        Assert.Empty(result.Problems);
        Assert.Equal(LogsKind.Files, result.Settings.Endpoints.LogsKind);
    }

    [Fact]
    public void Locate_LookupOrder_ExplicitThenEnvironmentThenStemThenPgraYmlThenSystemThenDefaults()
    {
        var stem = Write("lab.pgra.yml", "{}");
        var beside = Write("pgra.yml", "{}");
        var system = Write("etc-pgra/pgra.yml", "{}");
        var fromEnv = Write("env.yml", "{}");
        var explicitFile = Write("explicit.yml", "{}");
        var env = new Dictionary<string, string?> { ["PGRA_SETTINGS"] = fromEnv };

        Assert.Equal((explicitFile, "--settings"), SettingsLoader.Locate(explicitFile, Inventory, env, SystemDir));
        Assert.Equal((fromEnv, "$PGRA_SETTINGS"), SettingsLoader.Locate(null, Inventory, env, SystemDir));
        Assert.Equal((stem, "beside the inventory"), SettingsLoader.Locate(null, Inventory, NoEnvironment, SystemDir));
        File.Delete(stem);
        Assert.Equal((beside, "beside the inventory"), SettingsLoader.Locate(null, Inventory, NoEnvironment, SystemDir));
        File.Delete(beside);
        Assert.Equal((system, SystemDir), SettingsLoader.Locate(null, Inventory, NoEnvironment, SystemDir));
        File.Delete(system);
        Assert.Equal(((string?)null, "defaults"), SettingsLoader.Locate(null, Inventory, NoEnvironment, SystemDir));
    }

    [Fact]
    public void Locate_MissingExplicitOrEnvironmentFile_IsAnInputErrorNamingIt()
    {
        var missing = Path.Combine(_dir, "nope.yml");

        var ex1 = Assert.Throws<InputException>(() => SettingsLoader.Locate(missing, Inventory, NoEnvironment, SystemDir));
        var ex2 = Assert.Throws<InputException>(() => SettingsLoader.Locate(null, Inventory, new Dictionary<string, string?> { ["PGRA_SETTINGS"] = missing }, SystemDir));

        Assert.Equal($"settings file {missing} (from --settings) does not exist; check the path or omit --settings to use the default lookup.", ex1.Message);
        Assert.Contains("(from $PGRA_SETTINGS) does not exist", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NoFile_IsDefaults()
    {
        var result = TryLoad();

        Assert.Empty(result.Problems);
        Assert.Null(result.Settings.SourcePath);
        Assert.Equal((10d, 8), (result.Settings.Sensing.IntervalSeconds, result.Settings.Sensing.MaxParallelism));
        Assert.Equal(AgentSettings.Default.Endpoints, result.Settings.Endpoints);
        Assert.Empty(result.Settings.Origins);
    }

    [Fact]
    public void Load_UnknownKeys_AreErrorsWithLocationAndSuggestion()
    {
        var path = Write("lab.pgra.yml", """
            endpoints:
              metrics_ulr: http://x:1
            sensng:
              interval_seconds: 2
            sensing:
              pgbackrest: { comand: pgbackrest }
            """);

        var result = TryLoad();

        var texts = result.Problems.Select(p => p.ToString()).ToList();
        Assert.Equal(3, texts.Count);
        Assert.Equal($"{path}:2:3: endpoints.metrics_ulr: unknown key 'metrics_ulr' in endpoints; did you mean 'metrics_url'? known keys in endpoints: alertmanager_url, logs_kind, logs_url, metrics_kind, metrics_url", texts[0]);
        Assert.StartsWith($"{path}:3:1: sensng: unknown key 'sensng' in the settings file; did you mean 'sensing'? known keys in the settings file: ", texts[1], StringComparison.Ordinal);
        Assert.All(["credentials", "endpoints", "journal", "policy", "sensing"], section => Assert.Contains(section, texts[1], StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p.ToString().StartsWith($"{path}:6:17: sensing.pgbackrest.comand: unknown key 'comand' in sensing.pgbackrest; did you mean 'command'?", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_WrongTypes_AreErrorsAtTheirValues()
    {
        var path = Write("lab.pgra.yml", """
            endpoints:
              metrics_url: not-a-url
              metrics_kind: graphite
            sensing:
              interval_seconds: soon
              max_parallelism: 2.5
              disabled: logs
            journal:
              path: null
            policy:
              dry_run: maybe
            """);

        var result = TryLoad();

        Assert.Equal(
            [
                $"{path}:2:16: endpoints.metrics_url: 'not-a-url' is not an absolute URL; write it like http://10.10.10.10:8428",
                $"{path}:3:17: endpoints.metrics_kind: unknown value 'graphite' for endpoints.metrics_kind; use one of: prometheus, victoriametrics",
                $"{path}:5:21: sensing.interval_seconds: 'soon' is not a number; write a number such as 2 or 0.5",
                $"{path}:6:20: sensing.max_parallelism: '2.5' is not a whole number; write a whole number such as 8",
                $"{path}:7:13: sensing.disabled: 'disabled' must be a list, found a scalar; write it as 'disabled: [ a, b ]'",
                $"{path}:9:9: journal.path: 'path' needs a text value, found nothing; remove the key to keep the default, or give a value",
                $"{path}:11:12: policy.dry_run: 'maybe' is not true or false; write true or false",
            ],
            result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Load_Throwing_ListsEveryProblemAndNoSecret()
    {
        Write("lab.pgra.yml", """
            credentials:
              patroni_password: Very.Secret-Pw
              patroni_pasword: Very.Secret-Pw
            """);

        var ex = Assert.Throws<InputException>(() => SettingsLoader.Load(null, Inventory, new SecretStore(), NoEnvironment, SystemDir));

        Assert.Contains("1 problem in the agent settings", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown key 'patroni_pasword' in credentials; did you mean 'patroni_password'?", Assert.Single(ex.Problems), StringComparison.Ordinal);
        Assert.DoesNotContain("Very.Secret-Pw", ex.Problems[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UrlWithUserInfoThatDoesNotParse_ErrorDoesNotEchoThePassword()
    {
        Write("lab.pgra.yml", """
            endpoints:
              metrics_url: 'http://u:Broken.Url-Pw@[bad'
            """);

        var ex = Assert.Throws<InputException>(() => SettingsLoader.Load(null, Inventory, new SecretStore(), NoEnvironment, SystemDir));

        var problem = Assert.Single(ex.Problems);
        Assert.Contains("'http://******@[bad' is not an absolute URL", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("Broken.Url-Pw", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EnvironmentOverrides_WinOverTheFileAndRecordTheirOrigin()
    {
        Write("lab.pgra.yml", """
            endpoints:
              metrics_url: http://10.0.0.1:9090
            sensing:
              interval_seconds: 5
            """);
        var env = new Dictionary<string, string?>
        {
            ["PGRA_ENDPOINTS__METRICS_URL"] = "http://127.0.0.10:8428",
            ["PGRA_ENDPOINTS__METRICS_KIND"] = "victoria-metrics",
            ["PGRA_SENSING__INTERVAL_SECONDS"] = "0.5",
            ["PGRA_SENSING__PGBACKREST__RUN_AS"] = "pgbackrest",
            ["PGRA_JOURNAL__BACKEND"] = "Postgres",
            ["PGRA_POLICY__CLASSES"] = "{ patroni.failover: 3 }",
            ["PGRA_SENSING__DISABLED"] = "[logs, host]",
            ["PGRA_CREDENTIALS__ADMIN_PASSWORD"] = "Env.Admin-Pw",
            ["PGRA_SETTINGS_UNRELATED"] = "ignored (no double underscore)",
            ["PATH"] = "/usr/bin",
        };
        var secrets = new SecretStore();

        var result = TryLoad(env: env, secrets: secrets);

        Assert.Empty(result.Problems);
        var s = result.Settings;
        Assert.Equal(new Uri("http://127.0.0.10:8428"), s.Endpoints.MetricsUrl);
        Assert.Equal(MetricsKind.VictoriaMetrics, s.Endpoints.MetricsKind);
        Assert.Equal(0.5, s.Sensing.IntervalSeconds);
        Assert.Equal("pgbackrest", s.Sensing.Pgbackrest.RunAs);
        Assert.Equal(JournalBackend.Postgres, s.Journal.Backend);
        Assert.Equal(3, s.Policy.Classes["patroni.failover"]);
        Assert.Equal(["logs", "host"], s.Sensing.Disabled);
        Assert.Equal("Env.Admin-Pw", secrets.Reveal(s.Credentials.AdminPassword!));
        Assert.Equal("$PGRA_CREDENTIALS__ADMIN_PASSWORD", s.Credentials.AdminPassword!.Origin);
        Assert.Equal(new SettingOrigin(ValueSource.Environment, "$PGRA_ENDPOINTS__METRICS_URL"), s.OriginOf("endpoints.metrics_url"));
        Assert.Equal(new SettingOrigin(ValueSource.Environment, "$PGRA_SENSING__INTERVAL_SECONDS"), s.OriginOf("sensing.interval_seconds"));
    }

    [Fact]
    public void Load_EnvironmentWithoutAFile_StillApplies()
    {
        var result = TryLoad(env: new Dictionary<string, string?> { ["PGRA_SENSING__MAX_PARALLELISM"] = "3" });

        Assert.Empty(result.Problems);
        Assert.Equal(3, result.Settings.Sensing.MaxParallelism);
        Assert.Null(result.Settings.SourcePath);
    }

    [Fact]
    public void Load_EnvironmentEmptyValue_ClearsANullableSetting()
    {
        Write("lab.pgra.yml", "endpoints: { metrics_url: http://10.0.0.1:9090 }\n");

        var result = TryLoad(env: new Dictionary<string, string?> { ["PGRA_ENDPOINTS__METRICS_URL"] = "" });

        Assert.Empty(result.Problems);
        Assert.Null(result.Settings.Endpoints.MetricsUrl);
    }

    [Fact]
    public void Load_EnvironmentTypoOrBadValue_IsAProblemNamingTheVariable()
    {
        var env = new Dictionary<string, string?>
        {
            ["PGRA_ENDPOINTS__METRICS_ULR"] = "http://x:1",
            ["PGRA_SENSING__INTERVAL_SECONDS"] = "fast",
        };

        var result = TryLoad(env: env);

        Assert.Equal(
            [
                "$PGRA_ENDPOINTS__METRICS_ULR: endpoints.metrics_ulr: unknown key 'metrics_ulr' in endpoints",
                "$PGRA_SENSING__INTERVAL_SECONDS: sensing.interval_seconds: 'fast' is not a number",
            ],
            result.Problems.Select(p => $"{p.Location}: {p.Subject}: {p.Message}"));
    }

    [Fact]
    public void Load_SecretsInsidePlainStrings_AreAddedToTheStore()
    {
        Write("lab.pgra.yml", """
            journal:
              backend: postgres
              connection_string: "host=10.0.0.1 dbname=meta user=pgra password=Journal-Conn.Pw"
            """);
        var secrets = new SecretStore();

        var result = TryLoad(secrets: secrets);

        Assert.Empty(result.Problems);
        Assert.Contains("Journal-Conn.Pw", secrets.Values);
        Assert.Equal("host=10.0.0.1 dbname=meta user=pgra password=******", secrets.Redact(result.Settings.Journal.ConnectionString));
    }

    [Fact]
    public void Load_YamlSyntaxError_IsAProblemWithLocation()
    {
        var path = Write("lab.pgra.yml", "endpoints:\n  metrics_url: [http://x\n");

        var result = TryLoad();

        var p = Assert.Single(result.Problems);
        Assert.Equal(path, p.File);
        Assert.Contains("YAML syntax error", p.Message, StringComparison.Ordinal);
        Assert.True(p.Line > 0);
    }

    [Fact]
    public void DescribeKeys_CoversNestedSectionsWithSnakeCaseKeys()
    {
        var keys = SettingsLoader.DescribeKeys(typeof(AgentSettings)).Select(k => k.Path).ToList();

        Assert.Contains("endpoints.metrics_url", keys);
        Assert.Contains("credentials.patroni_password", keys);
        Assert.Contains("sensing.interval_seconds", keys);
        Assert.Contains("sensing.pgbackrest.run_as", keys);
        Assert.Contains("journal.backend", keys);
        Assert.Contains("policy.default_level", keys);
        Assert.DoesNotContain("source_path", keys);
        Assert.DoesNotContain("origins", keys);
    }

    [Fact]
    public void SettingsDoc_DocumentsEveryEndpointAndCredentialKeyAndEverySection()
    {
        var doc = File.ReadAllText(Path.Combine(Tests.Inventory.InventoryTestKit.RepoRoot, "docs", "settings.md"));
        var start = doc.IndexOf("# Agent settings", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/settings.md has no 'Agent settings' title");
        var end = doc.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        var section = end < 0 ? doc[start..] : doc[start..end];

        foreach (var (path, _) in SettingsLoader.DescribeKeys(typeof(AgentSettings)))
        {
            var parts = path.Split('.');
            Assert.True(doc.Contains(parts[0] + ":", StringComparison.Ordinal), $"docs/settings.md does not document the settings section '{parts[0]}:'");
            if (parts[0] is "endpoints" or "credentials")
            {
                Assert.Contains($"  {parts[1]}:", section, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void TryLoad_Nested20000Levels_ReportsTheDepthAtItsLineInsteadOfCrashing()
    {
        var path = Write("deep.pgra.yml", "endpoints:\n  metrics_url: " + new string('[', 20_000) + new string(']', 20_000) + "\n");

        var result = TryLoad(path);

        var problem = Assert.Single(result.Problems);
        Assert.Equal("nesting deeper than 64 levels", problem.Message);
        Assert.Equal(2, problem.Line);
    }

    [Fact]
    public void Load_AliasBomb_ThrowsAnInputErrorNamingTheLimit()
    {
        var path = Write("bomb.pgra.yml", "sensing:\n  log_files:\n" + PgRuntimeAgent.Tests.Inventory.HostileInputTests.Laughs("    ", 9));

        var ex = Assert.Throws<InputException>(() => SettingsLoader.Load(path, Inventory, new SecretStore(), NoEnvironment, SystemDir));

        Assert.Contains("aliases expand to more than 100,000 nodes", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DetectionPersistenceMap_OverridesPerCodeAndWinsOverTheOlderKey()
    {
        var path = Write("lab.pgra.yml", """
            detection:
              primary_frozen_consecutive: 7
              persistence:
                primary-frozen: { consecutive: 2, seconds: 5 }
                leader-missing:
                  seconds: 3
              replication_broken_seconds: 20
            """);

        var result = TryLoad();

        Assert.Empty(result.Problems);
        var d = result.Settings.Detection;
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(2, 5), d.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.PrimaryFrozen));
        Assert.Equal(2, d.PrimaryFrozenConsecutive);
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(2, 3), d.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.LeaderMissing));
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(3, 20), d.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.ReplicationBroken));
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(2, 0), d.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.SplitBrain));
        Assert.Equal($"{path}:4:5", result.Settings.OriginOf("detection.persistence")?.Where);
    }

    [Fact]
    public void Load_DetectionOlderKeys_StillSetPersistence()
    {
        Write("lab.pgra.yml", """
            detection:
              primary_frozen_consecutive: 5
              primary_frozen_seconds: 8.5
              replication_lag_seconds_held: 30
            """);

        var result = TryLoad();

        Assert.Empty(result.Problems);
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(5, 8.5), result.Settings.Detection.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.PrimaryFrozen));
        Assert.Equal(new PgRuntimeAgent.Detection.HeldFor(3, 30), result.Settings.Detection.PersistenceOf(PgRuntimeAgent.Detection.FindingCodes.ReplicationLag));
        Assert.Empty(result.Settings.Detection.Persistence);
    }

    [Fact]
    public void Load_DetectionPersistenceUnknownCode_IsAnErrorAtItsKey()
    {
        var path = Write("lab.pgra.yml", """
            detection:
              persistence:
                primary-frozn: { consecutive: 2 }
                deposed-primary: { consecutive: 2 }
                split-brain: { consecutiv: 2 }
            """);

        var result = TryLoad();

        var texts = result.Problems.Select(p => p.ToString()).ToList();
        Assert.Equal(3, texts.Count);
        Assert.StartsWith($"{path}:3:5: detection.persistence.primary-frozn: unknown finding code 'primary-frozn' in detection.persistence; codes whose persistence can be set: leader-missing, ",
            texts[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:4:5: detection.persistence.deposed-primary: 'deposed-primary' fires on one snapshot by design", texts[1], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:5:20: detection.persistence.split-brain.consecutiv: unknown key 'consecutiv'", texts[2], StringComparison.Ordinal);
        Assert.Throws<InputException>(() => SettingsLoader.Load(path, Inventory, new SecretStore(), NoEnvironment, SystemDir));
    }

    [Fact]
    public void Load_DetectionThresholdsMap_SetsPerCodeAndWinsOverTheOlderKey()
    {
        var path = Write("lab.pgra.yml", """
            detection:
              disk_full_free_ratio: 0.05
              backup_max_age_hours: 30
              thresholds:
                primary-disk-full: { free_ratio: 0.02 }
                replication-lag:
                  lag_bytes: 1048576
            """);

        var result = TryLoad();

        Assert.Empty(result.Problems);
        var d = result.Settings.Detection;
        Assert.Equal(0.02, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.PrimaryDiskFull, "free_ratio"));
        Assert.Equal(0.02, d.DiskFullFreeRatio);
        Assert.Equal(120, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.PrimaryDiskFull, "log_window_seconds"));
        Assert.Equal(30, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.BackupStale, "max_age_hours"));
        Assert.Equal(1048576, d.ReplicationLagBytes);
        Assert.Equal(60, d.ReplicationLagSeconds);
        Assert.Equal($"{path}:5:5", result.Settings.OriginOf("detection.thresholds")?.Where);
    }

    [Fact]
    public void Load_DetectionOlderThresholdKeys_StillTakeEffect()
    {
        Write("lab.pgra.yml", """
            detection:
              disk_full_log_window_seconds: 30
              promotion_grace_seconds: 15
              replication_lag_bytes: 4096
              replication_lag_seconds: 90
              backup_grace_minutes: 10
            """);

        var result = TryLoad();

        Assert.Empty(result.Problems);
        var d = result.Settings.Detection;
        Assert.Empty(d.Thresholds);
        Assert.Equal(30, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.PrimaryDiskFull, "log_window_seconds"));
        Assert.Equal(15, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.PrimaryDownHoldingLock, "promotion_grace_seconds"));
        Assert.Equal(4096, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.ReplicationLag, "lag_bytes"));
        Assert.Equal(90, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.ReplicationLag, "lag_seconds"));
        Assert.Equal(10, d.Threshold(PgRuntimeAgent.Detection.FindingCodes.BackupStale, "grace_minutes"));
        Assert.Equal(0.01, d.DiskFullFreeRatio);
    }

    [Fact]
    public void Load_DetectionThresholdsUnknownCodeNameOrWrongType_AreErrorsAtTheirLines()
    {
        var path = Write("lab.pgra.yml", """
            detection:
              thresholds:
                primary-disk-ful: { free_ratio: 0.02 }
                split-brain: { lag_bytes: 1 }
                primary-disk-full:
                  free_ration: 0.02
                  log_window_seconds: soon
                replication-lag: { lag_bytes: 1.5 }
            """);

        var result = TryLoad();

        var texts = result.Problems.Select(p => p.ToString()).ToList();
        Assert.Equal(5, texts.Count);
        Assert.StartsWith($"{path}:3:5: detection.thresholds.primary-disk-ful: unknown finding code 'primary-disk-ful' in detection.thresholds; codes with thresholds: primary-down-holding-lock, primary-disk-full, replication-lag, backup-stale",
            texts[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:4:5: detection.thresholds.split-brain: 'split-brain' declares no thresholds", texts[1], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:6:7: detection.thresholds.primary-disk-full.free_ration: unknown threshold 'free_ration' of primary-disk-full in detection.thresholds; thresholds of primary-disk-full: log_window_seconds, free_ratio",
            texts[2], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:7:27: detection.thresholds.primary-disk-full.log_window_seconds: log_window_seconds must be a number, got 'soon'; log_window_seconds: a number, in seconds",
            texts[3], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:8:35: detection.thresholds.replication-lag.lag_bytes: lag_bytes must be an integer, got '1.5'", texts[4], StringComparison.Ordinal);
        Assert.Throws<InputException>(() => SettingsLoader.Load(path, Inventory, new SecretStore(), NoEnvironment, SystemDir));
    }
}
