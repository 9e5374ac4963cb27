using DevLab.JmesPath.Functions;
using Newtonsoft.Json.Linq;

namespace PgRuntimeAgent.Skills;

/// <summary>
/// <c>sqrt(number)</c>: the square root, for skills that turn sums into a spread (a standard deviation from a mean and a
/// mean of squares). A negative argument (rounding) gives 0; anything but a number is an error, as JMESPath's own
/// number functions do.
/// </summary>
internal sealed class SqrtFunction : JmesPathFunction
{
    public SqrtFunction()
        : base("sqrt", 1)
    {
    }

    public override void Validate(params JmesPathFunctionArgument[] args)
    {
        base.Validate(args);
        if (args[0].Token.Type is not (JTokenType.Integer or JTokenType.Float))
        {
            throw new InvalidOperationException($"sqrt: expected a number, got {args[0].Token.Type.ToString().ToLowerInvariant()}");
        }
    }

    public override JToken Execute(params JmesPathFunctionArgument[] args) =>
        new JValue(Math.Sqrt(Math.Max(0, args[0].Token.Value<double>())));
}
