/// Quoting for the rare places where SQL text must name an object;
/// values always travel as parameters instead.
public enum SQLText {
    /// `name` as a double-quoted identifier, `"` doubled, safe for any input.
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// A schema-qualified name, both parts quoted.
    public static func qualified(_ schema: String, _ name: String) -> String {
        identifier(schema) + "." + identifier(name)
    }

    /// A one-dimensional text[] value in its input form: every element
    /// double-quoted with `"` and `\` escaped (as a parameter or COPY field).
    public static func array(_ items: [String]) -> String {
        "{" + items.map { item in
            var quoted = "\""
            for c in item.unicodeScalars {
                if c == "\"" || c == "\\" { quoted.unicodeScalars.append("\\") }
                quoted.unicodeScalars.append(c)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}"
    }

    /// The elements of a one-dimensional text[] in its output form
    /// (`{a,"b c",NULL}`); NULL elements are dropped.
    public static func parseArray(_ text: String) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false, wasQuoted = false, escaped = false
        func finish() {
            if wasQuoted || (current != "NULL" && !current.isEmpty) { items.append(current) }
            current = ""
            wasQuoted = false
        }
        for c in text.dropFirst().dropLast() {
            if escaped { current.append(c); escaped = false; continue }
            switch c {
            case "\\" where quoted: escaped = true
            case "\"": quoted.toggle(); wasQuoted = true
            case "," where !quoted: finish()
            default: current.append(c)
            }
        }
        finish()
        return items
    }

    /// `value` as a standard-conforming string literal, `'` doubled.
    /// Only for utility statements that take no parameters (e.g. `CREATE DATABASE … OWNER`).
    public static func literal(_ value: String) -> String {
        "'" + value.replacingAll("'", with: "''") + "'"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(count)
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
