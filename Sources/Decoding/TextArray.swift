/// PostgreSQL's text form of a one-dimensional `text[]`.
public enum TextArray {
    /// The input form: every element double-quoted with `"` and `\`
    /// escaped (for a parameter or a COPY field).
    public static func literal(_ items: [String]) -> String {
        "{" + items.map { item in
            var quoted = "\""
            for c in item.unicodeScalars {
                if c == "\"" || c == "\\" { quoted.unicodeScalars.append("\\") }
                quoted.unicodeScalars.append(c)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}"
    }

    /// The elements of the output form (`{a,"b c",NULL}`); NULL elements are dropped.
    public static func parse(_ text: String) -> [String] {
        var items: [String] = []
        var current = String.UnicodeScalarView()
        var quoted = false, wasQuoted = false, escaped = false
        func finish() {
            let item = String(current)
            if wasQuoted || (item != "NULL" && !item.isEmpty) { items.append(item) }
            current = String.UnicodeScalarView()
            wasQuoted = false
        }
        // By scalar, not Character: a quote followed by a combining mark is still a quote.
        for c in text.unicodeScalars.dropFirst().dropLast() {
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
}
