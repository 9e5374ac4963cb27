using System.Globalization;
using System.Security;
using System.Text;

namespace PgRuntimeAgent.Evals;

/// <summary>
/// The report's plots as standalone SVG, drawn by hand (no library): per case, time to detect and time to restore as
/// horizontal bars; per category, root-cause accuracy and safe-pass rate. Plain SVG 1.1 that any browser and
/// GitHub's markdown preview show.
/// </summary>
internal static class EvalPlots
{
    private const string DetectColor = "#4e79a7";
    private const string RestoreColor = "#f28e2b";
    private const string PassColor = "#59a14f";
    private const string FailColor = "#e15759";
    private const string MutedColor = "#888888";
    private const int LabelWidth = 250;
    private const int ChartWidth = 520;
    private const int Right = 90;
    private const int Top = 56;
    private const int Bottom = 36;

    /// <summary>Per case: a bar for the time to detect and one for the time to restore, on one scale in seconds.</summary>
    public static string Times(EvalReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        const int rowHeight = 32;
        var cases = report.Cases;
        var values = cases.SelectMany(c => new[] { c.TimeToDetectSeconds, c.TimeToRestoreSeconds }).OfType<double>().ToList();
        var max = NiceMax(values.Count == 0 ? 60 : values.Max());
        var height = Top + (Math.Max(1, cases.Count) * rowHeight) + Bottom;
        var b = Start(LabelWidth + ChartWidth + Right, height, "Time to detect and to restore, per case (seconds from the first fault)");
        Legend(b, [(DetectColor, "time to detect"), (RestoreColor, "time to restore")]);
        Axis(b, max, Top, Top + (cases.Count * rowHeight), v => Inv($"{v:0.#} s"));
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            var y = Top + (i * rowHeight);
            Text(b, LabelWidth - 8, y + 20, c.Case, "end", c.SafePass ? "#222222" : FailColor);
            if (c.NoFault)
            {
                Text(b, LabelWidth + 4, y + 20, c.SafePass ? "no fault: stayed quiet" : "no fault: " + (c.Misses.FirstOrDefault() ?? "failed"), "start", MutedColor);
            }
            else
            {
                Bar(b, y + 5, 10, c.TimeToDetectSeconds, max, DetectColor, "not detected");
                Bar(b, y + 17, 10, c.TimeToRestoreSeconds, max, RestoreColor, c.Fixed is null ? "no fix expected" : "not fixed");
            }

            Text(b, LabelWidth + ChartWidth + Right - 6, y + 20, c.SafePass ? "pass" : "fail", "end", c.SafePass ? PassColor : FailColor);
        }

        return End(b);
    }

    /// <summary>Per category (and all cases): root-cause accuracy over fault cases and safe-pass rate over all, in percent.</summary>
    public static string Accuracy(EvalReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        const int rowHeight = 32;
        var s = report.Summary;
        var rows = new List<(string Label, double? RootCause, double SafePass)> { ("all cases", s.RootCauseAccuracy, s.SafePassRate ?? 0) };
        rows.AddRange(s.Categories.Select(c => (Inv($"{c.Category} ({c.Cases})"), c.RootCauseAccuracy, c.SafePassRate)));
        var height = Top + (rows.Count * rowHeight) + Bottom;
        var b = Start(LabelWidth + ChartWidth + Right, height, "Root-cause accuracy and safe-pass rate, per category");
        Legend(b, [(DetectColor, "root-cause accuracy (fault cases)"), (PassColor, "safe-pass rate (all cases)")]);
        Axis(b, 100, Top, Top + (rows.Count * rowHeight), v => Inv($"{v:0} %"));
        for (var i = 0; i < rows.Count; i++)
        {
            var (label, rootCause, safePass) = rows[i];
            var y = Top + (i * rowHeight);
            Text(b, LabelWidth - 8, y + 20, label, "end", "#222222");
            Bar(b, y + 5, 10, rootCause * 100, 100, DetectColor, "no fault case", unit: "%");
            Bar(b, y + 17, 10, safePass * 100, 100, PassColor, "-", unit: "%");
        }

        return End(b);
    }

    /// <summary>The smallest 1, 2 or 5 times a power of ten at or above <paramref name="value"/> (at least 1).</summary>
    internal static double NiceMax(double value)
    {
        if (!(value > 1))
        {
            return 1;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2.0, 5.0, 10.0 })
        {
            if (step * magnitude >= value)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static StringBuilder Start(int width, int height, string title)
    {
        var b = new StringBuilder();
        b.AppendLine("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        b.AppendLine(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        b.AppendLine(Inv($"<title>{Escape(title)}</title>"));
        b.AppendLine(Inv($"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"));
        b.AppendLine(Inv($"<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"#222222\">{Escape(title)}</text>"));
        return b;
    }

    private static string End(StringBuilder b)
    {
        b.AppendLine("</svg>");
        return b.ToString();
    }

    private static void Legend(StringBuilder b, IReadOnlyList<(string Color, string Label)> items)
    {
        var x = LabelWidth;
        foreach (var (color, label) in items)
        {
            b.AppendLine(Inv($"<rect x=\"{x}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{color}\"/>"));
            Text(b, x + 16, 40, label, "start", "#222222");
            x += 24 + (label.Length * 7);
        }
    }

    private static void Axis(StringBuilder b, double max, int top, int bottom, Func<double, string> label)
    {
        const int ticks = 5;
        for (var i = 0; i <= ticks; i++)
        {
            var value = max * i / ticks;
            var x = LabelWidth + (ChartWidth * i / ticks);
            b.AppendLine(Inv($"<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#dddddd\" stroke-width=\"1\"/>"));
            Text(b, x, bottom + 16, label(value), "middle", MutedColor);
        }

        b.AppendLine(Inv($"<line x1=\"{LabelWidth}\" y1=\"{top}\" x2=\"{LabelWidth}\" y2=\"{bottom}\" stroke=\"#444444\" stroke-width=\"1\"/>"));
    }

    private static void Bar(StringBuilder b, int y, int height, double? value, double max, string color, string missing, string unit = "s")
    {
        if (value is not { } v)
        {
            Text(b, LabelWidth + 4, y + height - 1, missing, "start", MutedColor, size: 10);
            return;
        }

        var width = Math.Max(1.0, ChartWidth * Math.Clamp(v / max, 0, 1));
        b.AppendLine(Inv($"<rect x=\"{LabelWidth}\" y=\"{y}\" width=\"{width:0.#}\" height=\"{height}\" fill=\"{color}\"><title>{v:0.0} {unit}</title></rect>"));
        Text(b, LabelWidth + width + 4, y + height - 1, Inv($"{v:0.0} {unit}"), "start", "#222222", size: 10);
    }

    private static void Text(StringBuilder b, double x, double y, string text, string anchor, string color, int size = 12) =>
        b.AppendLine(Inv($"<text x=\"{x:0.#}\" y=\"{y:0.#}\" text-anchor=\"{anchor}\" fill=\"{color}\" font-size=\"{size}\">{Escape(text)}</text>"));

    /// <summary>Text as XML character data: markup characters escaped, characters XML 1.0 forbids dropped.</summary>
    private static string Escape(string text) =>
        SecurityElement.Escape(new string([.. text.Where(c => c is '\t' or '\n' or '\r' || (c >= ' ' && c != '\uFFFE' && c != '\uFFFF'))])) ?? "";

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
