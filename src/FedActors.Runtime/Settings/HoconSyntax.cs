namespace FedActors.Runtime.Settings;

/// <summary>
/// The mistakes Akka's HOCON parser lets through: it reads an unclosed <c>{</c> as closed at the end of the file, ignores
/// extra <c>}</c>, and reads <c>rounds = = 2</c> as a key named <c>2</c>. A scan for balanced braces and brackets and for
/// doubled separators (outside strings and comments) catches them first, with the line.
/// </summary>
public static class HoconSyntax
{
    /// <exception cref="ConfigurationError">The first such mistake, with its line, under <paramref name="source"/>.</exception>
    public static void Check(string text, string source)
    {
        var open = new Stack<(char Bracket, int Line)>();
        int line = 1;
        for (int i = 0; i < text.Length; i++)
        {
            char ch = text[i];
            switch (ch)
            {
                case '\n':
                    line++;
                    break;
                case '#':
                case '/' when i + 1 < text.Length && text[i + 1] == '/':
                    while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                    break;
                case '"' when i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"':
                    int end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                    if (end < 0) Fail(source, line, "a triple-quoted string that is never closed");
                    line += text.AsSpan(i, end - i).Count('\n');
                    i = end + 2;
                    break;
                case '"':
                    for (i++; i < text.Length && text[i] != '"'; i++)
                    {
                        if (text[i] == '\\') i++;
                        else if (text[i] == '\n') Fail(source, line, "a quoted string closed on its own line");
                    }
                    if (i >= text.Length) Fail(source, line, "a quoted string that is never closed");
                    break;
                case '{' or '[':
                    open.Push((ch, line));
                    break;
                case '}' or ']':
                    char expected = ch == '}' ? '{' : '[';
                    if (open.Count == 0) Fail(source, line, $"'{ch}' that closes nothing (one too many?)");
                    var (bracket, at) = open.Pop();
                    if (bracket != expected) Fail(source, line, $"'{ch}' where the '{bracket}' of line {at} is still open");
                    break;
                case '=' or ':':
                    int j = i + 1;
                    while (j < text.Length && text[j] is ' ' or '\t') j++;
                    if (j < text.Length && text[j] == '=') Fail(source, line, $"one separator between a key and its value ('{ch}' then '=')");
                    break;
            }
        }
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            Fail(source, at, $"the '{bracket}' opened here to be closed");
        }
    }

    private static void Fail(string source, int line, string expected) =>
        throw new ConfigurationError(source, $"line {line}", "valid HOCON: " + expected);
}
