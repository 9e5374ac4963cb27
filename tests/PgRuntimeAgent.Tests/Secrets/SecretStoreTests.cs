using System.Text.Json;
using PgRuntimeAgent.Secrets;

namespace PgRuntimeAgent.Tests.Secrets;

public sealed class SecretStoreTests
{
    [Fact]
    public void Redact_ShortSecret_IsMaskedOnlyWhereItStandsAlone()
    {
        var store = new SecretStore();
        store.Add("inventory:pg_users[0].password", "test", "test.yml:3");

        Assert.Equal("cluster pg-test, member pg-test-1", store.Redact("cluster pg-test, member pg-test-1"));
        Assert.Equal("password=******; user ****** logged in", store.Redact("password=test; user test logged in"));
        Assert.Equal("postgres://u:******@10.0.0.1/db", store.Redact("postgres://u:test@10.0.0.1/db"));
        Assert.Equal("it was ******.", store.Redact("it was test."));
        Assert.Equal("\"******\"", store.Redact("\"test\""));
    }

    [Fact]
    public void Redact_LongSecret_IsMaskedEvenInsideAWord()
    {
        var store = new SecretStore();
        store.Add("k", "Very.Long-Secret-1", "o");

        Assert.Equal("x******y", store.Redact("xVery.Long-Secret-1y"));
    }

    [Fact]
    public void Redact_DomainAndPathWords_AreNotMangledBySecretsEqualToAWord()
    {
        var store = new SecretStore();
        store.Add("grafana", "pigsty", "o");

        Assert.Equal("s3 sss.pigsty:9000 and /etc/pigsty/x and ~/pigsty/pigsty.yml", store.Redact("s3 sss.pigsty:9000 and /etc/pigsty/x and ~/pigsty/pigsty.yml"));
        Assert.Equal("admin password: ******", store.Redact("admin password: pigsty"));
    }

    [Fact]
    public void Redact_IdentifierSecret_IsKeptButNotScrubbedFromText()
    {
        var store = new SecretStore();
        var key = store.Add("inventory:minio_users[0].access_key", "pgbackrest", "x.yml:40", scrubFromText: false);

        Assert.Equal("pgbackrest", store.Reveal(key));
        Assert.Contains("pgbackrest", store.Values);
        Assert.Equal("pgbackrest --stanza=pg-test info", store.Redact("pgbackrest --stanza=pg-test info"));
    }

    [Fact]
    public void Redact_LongestFirst_MasksASecretThatContainsAnother()
    {
        var store = new SecretStore();
        store.Add("a", "DBUser", "o");
        store.Add("b", "DBUser.Monitor", "o");

        Assert.Equal("****** and ******", store.Redact("DBUser.Monitor and DBUser"));
    }

    [Fact]
    public void References_ListKeysAndOriginsNeverValues()
    {
        var store = new SecretStore();
        store.Add("b", "v2", "file:2");
        store.Add("a", "v1", "file:1");

        Assert.Equal([new SecretRef("a", "file:1"), new SecretRef("b", "file:2")], store.References);
        Assert.Equal(new SecretRef("a", "file:1"), store.Find("a"));
        Assert.Null(store.Find("zzz"));
        Assert.Equal("****** (from file:1)", store.Find("a")!.ToString());
    }

    [Theory]
    [InlineData("patroni_password", true)]
    [InlineData("pg_admin_password", true)]
    [InlineData("PGADMIN_DEFAULT_PASSWORD", true)]
    [InlineData("password", true)]
    [InlineData("s3_key_secret", true)]
    [InlineData("minio_secret_key", true)]
    [InlineData("secret_key", true)]
    [InlineData("access_key", true)]
    [InlineData("minio_access_key", true)]
    [InlineData("s3_key", true)]
    [InlineData("cipher_pass", true)]
    [InlineData("api_token", true)]
    [InlineData("pgsodium_key", true)]
    [InlineData("password_encryption", false)]
    [InlineData("pg_pwd_enc", false)]
    [InlineData("cipher_type", false)]
    [InlineData("ssl_key_file", false)]
    [InlineData("pg_users", false)]
    [InlineData("patroni_username", false)]
    public void IsSecretKey_FollowsPigstyNaming(string key, bool secret)
    {
        Assert.Equal(secret, SecretNames.IsSecretKey(key));
    }

    [Theory]
    [InlineData("postgres://dbuser_monitor:DBUser.Monitor@10.10.10.12:5432/postgres?sslmode=disable", "DBUser.Monitor")]
    [InlineData("http://user:p%40ss@proxy:3128", "p@ss")]
    [InlineData("host=10.0.0.1 user=a password=Conn.Pw dbname=x", "Conn.Pw")]
    [InlineData("host=10.0.0.1 password='Quoted Pw'", "Quoted Pw")]
    public void EmbeddedSecrets_FindsUrlAndConninfoPasswords(string value, string secret)
    {
        Assert.Contains(secret, SecretNames.EmbeddedSecrets(value));
    }

    [Fact]
    public void EmbeddedSecrets_PlainValues_HaveNone()
    {
        Assert.Empty(SecretNames.EmbeddedSecrets("http://10.10.10.10:9090"));
        Assert.Empty(SecretNames.EmbeddedSecrets("${admin_ip} i.pigsty"));
    }

    [Fact]
    public void Redact_NumericOrBooleanSecret_IsMaskedWhereItStandsAsASecretNotAsAPortOrAFlag()
    {
        var store = new SecretStore();
        store.Add("inventory:all.vars.pg_admin_password", "8008", "x.yml:3");
        store.Add("inventory:all.vars.patroni_password", "true", "x.yml:4");

        Assert.Equal("patroni http://10.0.0.1:8008/ on port 8008, paused true", store.Redact("patroni http://10.0.0.1:8008/ on port 8008, paused true"));
        Assert.Equal("psql password=****** PGPASSWORD=****** 'pg_admin_password: ******'", store.Redact("psql password=8008 PGPASSWORD=8008 'pg_admin_password: 8008'"));
        Assert.Equal("postgres://dbuser_dba:******@10.0.0.1:5432/postgres", store.Redact("postgres://dbuser_dba:8008@10.0.0.1:5432/postgres"));
        Assert.Equal("{\"patroni_password\": \"******\"}", store.Redact("{\"patroni_password\": \"true\"}"));
    }

    [Fact]
    public void RedactJson_SecretEqualToAPortNumber_KeepsThePortAndStaysValidJson()
    {
        var store = new SecretStore();
        store.Add("inventory:all.vars.pg_admin_password", "8008", "x.yml:3");
        store.Add("inventory:all.vars.replicator_password", "DBUser.Replicator", "x.yml:5");
        const string json = """
            {
              "ports": { "patroni": 8008, "postgres": 5432 },
              "paused": true,
              "password": 8008,
              "note": "login with password=8008 as DBUser.Replicator",
              "escaped": "DBUser.Replicator\u0021"
            }
            """;

        var redacted = store.RedactJson(json);

        using var doc = JsonDocument.Parse(redacted);
        var root = doc.RootElement;
        Assert.Equal(8008, root.GetProperty("ports").GetProperty("patroni").GetInt32());
        Assert.True(root.GetProperty("paused").GetBoolean());
        Assert.Equal("******", root.GetProperty("password").GetString());
        Assert.Equal("login with password=****** as ******", root.GetProperty("note").GetString());
        Assert.Equal("******!", root.GetProperty("escaped").GetString());
        Assert.Contains("\"postgres\": 5432 },", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void RedactJson_NotJson_FallsBackToTextRedaction()
    {
        var store = new SecretStore();
        store.Add("k", "Very.Long-Secret-1", "o");

        Assert.Equal("not json: ******", store.RedactJson("not json: Very.Long-Secret-1"));
    }

    [Theory]
    [InlineData("rotated, password=hunter2 now", "rotated, password=****** now")]
    [InlineData("pwd: s3cr3t; done", "pwd: ******; done")]
    [InlineData("secret='two words' set", "secret=****** set")]
    [InlineData("PGPASSWORD=abc psql", "PGPASSWORD=****** psql")]
    [InlineData("use admin:hunter2@10.0.0.1 for it", "use admin:******@10.0.0.1 for it")]
    [InlineData("see http://u:hunter2@[bad and postgres://x:y@db/z", "see http://******@[bad and postgres://******@db/z")]
    [InlineData("switchover for the kernel update at 12:30", "switchover for the kernel update at 12:30")]
    public void RedactFreeText_SecretShapedParts_AreMasked(string text, string expected)
    {
        Assert.Equal(expected, SecretText.RedactFreeText(text));
    }

    [Fact]
    public void MaskUrlUserInfo_UnparsableUrl_HidesEverythingBetweenTheSlashesAndTheAt()
    {
        Assert.Equal("'http://******@[bad' is not an absolute URL", SecretText.MaskUrlUserInfo("'http://u:PASSWORD@[bad' is not an absolute URL"));
        Assert.Equal("http://10.10.10.10:9090/x", SecretText.MaskUrlUserInfo("http://10.10.10.10:9090/x"));
    }
}
