/// Markup in which everything interpolated is escaped unless it is markup
/// itself: in `"<td>\(name)</td>" as HTML` the literal parts are markup and
/// `name` (a String) is text, so a table called `<script>` shows as such.
/// Only string literals and other `HTML` values ever become tags.
public struct HTML: Equatable, Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var markup: String

    public init(stringLiteral value: String) { markup = value }

    public init(stringInterpolation: StringInterpolation) { markup = stringInterpolation.markup }

    public var description: String { markup }

    /// Several pieces one after the other.
    public init(joining pieces: [HTML], separator: HTML = "") {
        markup = pieces.map(\.markup).joined(separator: separator.markup)
    }

    /// Text escaped for an element's content or a quoted attribute value:
    /// `& < > " '` as character references, NUL (which HTML drops or
    /// refuses) as U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\0": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Collects the literal markup and the escaped interpolations.
    public struct StringInterpolation: StringInterpolationProtocol {
        var markup = ""

        public init(literalCapacity: Int, interpolationCount: Int) {
            markup.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { markup += literal }

        /// Text: escaped.
        public mutating func appendInterpolation(_ text: String) { markup += HTML.escape(text) }

        /// Markup: as is.
        public mutating func appendInterpolation(_ html: HTML) { markup += html.markup }

        /// Markup pieces, one after the other.
        public mutating func appendInterpolation(_ pieces: [HTML]) { for piece in pieces { markup += piece.markup } }

        /// A plain integer (an attribute, a coordinate).
        public mutating func appendInterpolation(_ number: Int) { markup += String(number) }

        /// A count for people: digits grouped by thousands (`1,234,567`).
        public mutating func appendInterpolation(count: Int64) { markup += HTML.grouped(count) }

        /// A coordinate with one decimal.
        public mutating func appendInterpolation(_ coordinate: Double) {
            let tenths = Int((coordinate * 10).rounded())
            markup += (tenths < 0 ? "-" : "") + String(abs(tenths) / 10) + (abs(tenths) % 10 == 0 ? "" : "." + String(abs(tenths) % 10))
        }
    }

    /// `1234567` as `1,234,567`.
    public static func grouped(_ number: Int64) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (number < 0 ? "-" : "") + out
    }
}
