/// Quoting for the rare places where SQL text must name an object;
/// values always travel as parameters instead.
///
/// Quotes are doubled by Unicode scalar, never by `Character`: a quote
/// followed by a combining mark is one grapheme cluster but still a quote
/// to the server.
public enum SQLText {
    /// `name` as a double-quoted identifier, `"` doubled, safe for any input.
    public static func identifier(_ name: String) -> String {
        quoted(name, by: "\"")
    }

    /// A schema-qualified name, both parts quoted.
    public static func qualified(_ schema: String, _ name: String) -> String {
        identifier(schema) + "." + identifier(name)
    }

    /// `value` as a standard-conforming string literal, `'` doubled.
    /// Only for utility statements that take no parameters (e.g. `CREATE DATABASE … OWNER`).
    public static func literal(_ value: String) -> String {
        quoted(value, by: "'")
    }

    private static func quoted(_ text: String, by quote: Unicode.Scalar) -> String {
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in text.unicodeScalars {
            if scalar == quote { out.append(quote) }
            out.append(scalar)
        }
        out.append(quote)
        return String(out)
    }
}
