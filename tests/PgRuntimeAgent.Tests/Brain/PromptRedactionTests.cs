using PgRuntimeAgent.Brain;

namespace PgRuntimeAgent.Tests.Brain;

public sealed class PromptRedactionTests
{
    [Fact]
    public void Outbound_ListedNames_BecomeStablePseudonymsAsWholeWordsOnly()
    {
        var redaction = new PromptRedaction(["patients", "patients_archive", "ssn"], literals: false);

        var sent = redaction.Outbound("SELECT ssn FROM public.patients JOIN Patients_Archive a USING (id) -- mypatients, ssn_hash, \"patients\"");

        // Longest first: patients_archive=1, patients=2, ssn=3; case-insensitive; not inside another word.
        Assert.Equal("SELECT pgra_name_3 FROM public.pgra_name_2 JOIN pgra_name_1 a USING (id) -- mypatients, ssn_hash, \"pgra_name_2\"", sent);
        Assert.Equal("SELECT ssn FROM public.patients JOIN patients_archive a USING (id) -- mypatients, ssn_hash, \"patients\"", redaction.Inbound(sent));
    }

    [Fact]
    public void Outbound_QueryLiterals_MaskedWhenAskedButNotApostrophesInWords()
    {
        var redaction = new PromptRedaction([], literals: true);

        var sent = redaction.Outbound("ERROR: duplicate key value violates unique constraint; DETAIL: Key (email)=('ann@example.com') exists. It doesn't matter: 'O''Brien' and '' too");

        Assert.Equal("ERROR: duplicate key value violates unique constraint; DETAIL: Key (email)=('?') exists. It doesn't matter: '?' and '?' too", sent);
        Assert.False(redaction.IsEmpty);
    }

    [Fact]
    public void Nothing_Configured_ChangesNothing()
    {
        var redaction = new PromptRedaction(null, literals: false);

        Assert.True(redaction.IsEmpty);
        Assert.Equal("SELECT 'x' FROM t", redaction.Outbound("SELECT 'x' FROM t"));
        Assert.Equal("pgra_name_1", redaction.Inbound("pgra_name_1"));
    }

    [Fact]
    public void Inbound_UnknownPseudonym_IsLeftAsItIs()
    {
        var redaction = new PromptRedaction(["orders"], literals: false);

        Assert.Equal("ANALYZE orders; pgra_name_9 stays", redaction.Inbound("ANALYZE pgra_name_1; pgra_name_9 stays"));
    }
}
