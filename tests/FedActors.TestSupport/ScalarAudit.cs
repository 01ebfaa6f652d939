using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;

namespace FedActors.TestSupport;

/// <summary>
/// Finds the calls through which a temporary TorchSharp <see cref="Scalar"/> can be finalised while libtorch still reads
/// it (dotnet/TorchSharp#1434): a <c>Scalar</c> made by an implicit conversion (<c>t.gt(0.5)</c>, <c>t * 2.0</c>) or by a
/// TorchSharp method that makes one internally and drops it (<c>add(Tensor)</c> is <c>add(t, 1)</c>). Such a scalar's
/// only reference ends when its native handle is read, so the GC may free the native value mid-call; libtorch then reads
/// freed memory (a wrong value, or a "toFloat" overflow check that fails).
/// <para>It reads IL: a method's body is scanned for <c>call</c>/<c>callvirt</c>/<c>newobj</c> of (a) an implicit
/// conversion to <c>Scalar</c>, (b) a TorchSharp method that (transitively, inside TorchSharp) creates a scalar and
/// never disposes it in the same body. Scalars that our code creates with <c>ToScalar()</c> and owns (<c>using</c>) are
/// fine and are not reported.</para>
/// </summary>
public static class ScalarAudit
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static readonly Lazy<HashSet<MethodBase>> Hazards = new(FindTorchSharpHazards);

    /// <summary>The TorchSharp methods that create a scalar and leave it to the GC, directly or through another one.</summary>
    public static IReadOnlySet<MethodBase> TorchSharpHazards => Hazards.Value;

    /// <summary>Every call in <paramref name="assembly"/> that makes or passes a temporary scalar, as "caller → callee".</summary>
    public static IReadOnlyList<string> Findings(Assembly assembly)
    {
        var hazards = Hazards.Value;
        var found = new List<string>();
        foreach (var method in MethodsOf(assembly))
            foreach (var callee in Callees(method))
            {
                bool implicitScalar = callee.Name == "op_Implicit" && callee is MethodInfo { ReturnType: var r } && r == typeof(Scalar);
                if (implicitScalar || hazards.Contains(callee))
                    found.Add($"{method.DeclaringType?.FullName}.{method.Name} → {Describe(callee)}");
            }
        return found;
    }

    /// <summary>How much of <paramref name="assembly"/> the audit read: the methods with a body, and those whose IL it could
    /// not read to the end (an unreadable body, an opcode it does not know, a call it cannot resolve). A method it cannot
    /// read is one whose calls it does not see, so an audit that passes says nothing of it: the tests require none.</summary>
    public static (int Scanned, IReadOnlyList<string> Unread) Coverage(Assembly assembly)
    {
        int scanned = 0;
        var unread = new List<string>();
        foreach (var method in MethodsOf(assembly))
        {
            var (_, hasBody, complete) = Read(method);
            if (!hasBody) continue;
            scanned++;
            if (!complete) unread.Add($"{method.DeclaringType?.FullName}.{method.Name}");
        }
        return (scanned, unread);
    }

    private static string Describe(MethodBase m) =>
        $"{m.DeclaringType?.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    private static HashSet<MethodBase> FindTorchSharpHazards()
    {
        var torch = typeof(Scalar).Assembly;
        var calls = MethodsOf(torch).ToDictionary(m => m, m => Callees(m).ToArray());
        var scalarDispose = typeof(Scalar).GetMethod(nameof(Scalar.Dispose), Type.EmptyTypes)!;
        // Roots: a body that makes a scalar (any TorchSharp call returning Scalar: implicit conversions, ToScalar) and
        // disposes none. Then everything in TorchSharp that calls a hazard is one too (add(Tensor) → add(Tensor, Scalar)
        // with a literal 1; operator + → add(Tensor)).
        var hazards = calls
            .Where(kv => kv.Value.Any(c => c is MethodInfo mi && mi.ReturnType == typeof(Scalar) && mi.DeclaringType?.Assembly == torch)
                         && !kv.Value.Contains(scalarDispose))
            .Select(kv => kv.Key)
            .ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (m, callees) in calls)
                if (!hazards.Contains(m) && callees.Any(hazards.Contains)) grew = hazards.Add(m) || grew;
        }
        return hazards;
    }

    private static IEnumerable<MethodBase> MethodsOf(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        Type[] types;
        try { types = assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types.Where(t => t is not null).ToArray()!; }
        foreach (var t in types)
        {
            foreach (var m in t.GetMethods(all)) yield return m;
            foreach (var c in t.GetConstructors(all)) yield return c;
        }
    }

    /// <summary>The methods that <paramref name="method"/>'s IL calls (generic instances reduced to their definitions).</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method) => Read(method).Callees;

    /// <summary>The calls in <paramref name="method"/>'s IL, whether it has a body, and whether the IL was read to its end.</summary>
    private static (List<MethodBase> Callees, bool HasBody, bool Complete) Read(MethodBase method)
    {
        var callees = new List<MethodBase>();
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { return (callees, true, false); }
        if (il is null) return (callees, false, true);
        bool complete = true;
        var module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            if (!OpCodesByValue.TryGetValue(value, out var op)) return (callees, true, false); // not IL we understand: stop, never guess
            int operand = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try { callee = module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs); }
                catch (Exception) { complete = false; }
                if (callee is not null) callees.Add(Definition(callee));
            }
            i += operand;
        }
        return (callees, true, complete);
    }

    private static MethodBase Definition(MethodBase m)
    {
        if (m is MethodInfo { IsGenericMethod: true } g && !g.IsGenericMethodDefinition) m = g.GetGenericMethodDefinition();
        if (m.DeclaringType is { IsGenericType: true, IsGenericTypeDefinition: false } t)
        {
            var open = t.GetGenericTypeDefinition();
            var match = open.GetMember(m.Name, m.MemberType, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .OfType<MethodBase>().FirstOrDefault(c => c.MetadataToken == m.MetadataToken);
            if (match is not null) return match;
        }
        return m;
    }
}
