import CLibPQ

/// Helpers for libpq connection strings (`key=value …` or `postgresql://` URLs).
public enum ConnectionString {
    /// `conninfo` fit for logs and errors: parsed by libpq itself
    /// (`PQconninfoParse`, so quoting, escapes and URL percent-encoding are
    /// read exactly as a connection would read them) and written back as
    /// `keyword=value` pairs in libpq's order, with the value of every
    /// password field (`password`, `sslpassword`: libpq's display character
    /// `*`) replaced by `***`; likewise inside a dbname that is itself a
    /// conninfo or URL. A string libpq cannot parse is not shown at all.
    public static func redacted(_ conninfo: String) -> String {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            PQfreemem(error)
            return "(a connection string libpq cannot parse)"
        }
        defer { PQconninfoFree(options) }
        var pairs: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                let name = String(cString: keyword), text = String(cString: value)
                let secret = option.pointee.dispchar.map { String(cString: $0).hasPrefix("*") } ?? false
                // A dbname that is itself a conninfo or URL (libpq expands one such level) is redacted too.
                let nested = name == "dbname" && (text.contains("=") || text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"))
                pairs.append(name + "=" + (secret ? "***" : quoted(nested ? redacted(text) : text)))
            }
            option += 1
        }
        return pairs.joined(separator: " ")
    }

    /// Whether libpq can parse `conninfo`. When it cannot, libpq's own
    /// message may quote the offending piece (e.g. `invalid percent-encoded
    /// token: "…"`), which may be a password: check first, and say only that.
    public static func isParsable(_ conninfo: String) -> Bool {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            PQfreemem(error)
            return false
        }
        PQconninfoFree(options)
        return true
    }

    /// A conninfo value as libpq reads it back: bare if it can be, else in
    /// single quotes with `\` and `'` escaped by a backslash.
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: { $0 == "'" || $0 == "\\" || $0 == "=" || $0.properties.isWhitespace }) else {
            return value
        }
        var out = "'"
        for scalar in value.unicodeScalars {
            if scalar == "'" || scalar == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "'"
    }
}
