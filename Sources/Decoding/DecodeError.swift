/// Why a `test_decoding` record could not be parsed.
///
/// `offset` is the byte offset of the offending text inside the record;
/// callers add where the record itself came from (an LSN, a stream offset).
public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    /// Up to 60 bytes of the record starting at `offset`, as the reader saw it.
    public var excerpt: String

    public init(offset: Int, reason: String, excerpt: String) {
        self.offset = offset
        self.reason = reason
        self.excerpt = excerpt
    }

    public var description: String {
        "\(reason) at byte \(offset) near \(quotedExcerpt)"
    }

    /// The excerpt in double quotes with control characters escaped, so a
    /// newline in the data cannot break a log line.
    public var quotedExcerpt: String {
        var out = "\""
        for scalar in excerpt.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
