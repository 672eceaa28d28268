import Foundation

/// Helpers for libpq connection strings (`key=value …` or `postgresql://` URLs).
public enum ConnectionString {
    /// `conninfo` with any password replaced by `***`, fit for logs and errors.
    public static func redacted(_ conninfo: String) -> String {
        if conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://") {
            return redactURL(conninfo)
        }
        return redactKeywords(conninfo)
    }

    private static func redactURL(_ url: String) -> String {
        var text = url
        // user:password@ in the authority part
        if let scheme = text.range(of: "://") {
            let authorityEnd = text[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? text.endIndex
            if let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@"),
               let colon = text[scheme.upperBound..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        // password=… among the query parameters
        guard let query = text.firstIndex(of: "?") else { return text }
        let parameters = text[text.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { part in
            part.lowercased().hasPrefix("password=") ? "password=***" : String(part)
        }
        return String(text[...query]) + parameters.joined(separator: "&")
    }

    private static func redactKeywords(_ conninfo: String) -> String {
        var out = ""
        var rest = conninfo[...]
        while let range = rest.range(of: "password") {
            out += rest[..<range.lowerBound]
            var after = rest[range.upperBound...]
            let spaces = after.prefix(while: { $0 == " " })
            after = after.dropFirst(spaces.count)
            guard after.first == "=" else {
                out += "password"
                rest = rest[range.upperBound...]
                continue
            }
            after = after.dropFirst().drop(while: { $0 == " " })
            out += "password=***"
            // the value: a quoted string with \' and \\ escapes, or up to whitespace
            if after.first == "'" {
                var index = after.index(after: after.startIndex)
                while index < after.endIndex, after[index] != "'" {
                    if after[index] == "\\" { index = after.index(after: index) }
                    if index < after.endIndex { index = after.index(after: index) }
                }
                rest = index < after.endIndex ? after[after.index(after: index)...] : after[after.endIndex...]
            } else {
                rest = after.drop(while: { !$0.isWhitespace })
            }
        }
        return out + rest
    }
}
