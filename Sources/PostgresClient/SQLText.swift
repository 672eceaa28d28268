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
