/// A JSON document that keeps numbers as their exact text and object
/// members in order, so nothing is lost between PostgreSQL and the output.
/// Not `indirect`: the arrays already hold nested values on the heap, and
/// an indirect case boxed every value (a heap allocation per column of
/// every row image the worker builds).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// Text of a valid JSON number, unrounded (e.g. a 40-digit numeric).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    /// One `"key": value` of an object; duplicates are kept as the json type allows.
    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSONValue

        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }

        public static func == (a: Member, b: Member) -> Bool {
            a.key.hasSameBytes(as: b.key) && a.value == b.value
        }
    }

    /// Equal as PostgreSQL's json would print them: strings, keys and
    /// number texts by their bytes, so a value rewritten into another
    /// Unicode normalization form counts as changed.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)), (.string(let x), .string(let y)): return x.hasSameBytes(as: y)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

    /// The value of the first member named `key` (by its bytes), if this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key.hasSameBytes(as: key) })?.value
    }

    /// The first key that appears twice among this object's own members
    /// (by its bytes), if any. `self[key]` reads the first of them, while
    /// other JSON readers (jq, Python) keep the last.
    public var repeatedKey: String? {
        guard case .object(let members) = self else { return nil }
        var seen = Set<[UInt8]>()
        for member in members where !seen.insert(Array(member.key.utf8)).inserted { return member.key }
        return nil
    }

    /// Compact JSON text.
    public var serialized: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends compact JSON text to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied whole (byte by byte through
        // the UTF-8 view was 7 % of the worker).
        let copied = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Why a text could not be read as JSON.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
}

extension JSONValue {
    /// Parses RFC 8259 JSON text (the whole input must be one value).
    public init(parsing text: String) throws(JSONSyntaxError) {
        var reader = JSONReader(Array(text.utf8))
        reader.skipWhitespace()
        self = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.atEnd else { throw reader.error("unexpected text after the value") }
    }
}

/// A recursive-descent JSON reader over UTF-8 bytes.
private struct JSONReader {
    let b: [UInt8]
    var i = 0
    /// PostgreSQL's own nesting limit is far below this; it stops stack exhaustion.
    static let maxDepth = 10_000

    init(_ bytes: [UInt8]) { b = bytes }

    var atEnd: Bool { i == b.count }

    func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, reason: reason) }

    mutating func skipWhitespace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        for expected in word.utf8 {
            guard i < b.count, b[i] == expected else { throw error("invalid literal") }
            i += 1
        }
        return value
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested too deeply") }
        guard i < b.count else { throw error("unexpected end") }
        switch b[i] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < b.count else { throw error("unterminated array") }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                guard b[i] == UInt8(ascii: ",") else { throw error("expected ',' or ']'") }
                i += 1
            }
        case UInt8(ascii: "{"):
            i += 1
            var members: [JSONValue.Member] = []
            skipWhitespace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipWhitespace()
                members.append(.init(key, try value(depth: depth + 1)))
                skipWhitespace()
                guard i < b.count else { throw error("unterminated object") }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                guard b[i] == UInt8(ascii: ",") else { throw error("expected ',' or '}'") }
                i += 1
            }
        default:
            let start = i
            while i < b.count, Self.isNumberByte(b[i]) { i += 1 }
            let token = String(decoding: b[start..<i], as: UTF8.self)
            guard isJSONNumber(token) else { i = start; throw error("invalid value") }
            return .number(token)
        }
    }

    static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = UTF8Text.validated(out) else { throw error("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard i < b.count else { throw error("unterminated escape") }
                let e = b[i]
                i += 1
                if let byte = JSONText.escaped(e) {
                    out.append(byte)
                } else if e == UInt8(ascii: "u") {
                    out.append(contentsOf: try unicodeEscape())
                } else {
                    throw error("invalid escape")
                }
            case 0..<0x20:
                throw error("control character in string")
            default:
                out.append(c)
            }
        }
    }

    /// `\uXXXX`, combining a surrogate pair into one scalar.
    mutating func unicodeEscape() throws(JSONSyntaxError) -> [UInt8] {
        var at = i
        // withUnsafeBytes only rethrows untyped errors; a Result keeps the type.
        let scalar = try b.withUnsafeBytes { bytes in
            Result { () throws(JSONSyntaxError) in try JSONText.unicodeEscape(bytes, &at) }
        }.get()
        i = at
        return Array(String(Character(scalar)).utf8)
    }
}

/// Pieces of JSON text reading shared by `JSONValue`'s reader and the chain
/// verifier's, which encodes stored JSON without building values.
public enum JSONText {
    /// The byte a one-letter escape (`\\n`, `\\"`, …) stands for; nil for
    /// `\\u` and for anything that is not an escape.
    public static func escaped(_ letter: UInt8) -> UInt8? {
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): letter
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
    }

    /// The scalar of a `\uXXXX` escape whose hex digits start at `i` (just
    /// after the `u`), taking the second escape of a surrogate pair too.
    public static func unicodeEscape(_ t: UnsafeRawBufferPointer, _ i: inout Int) throws(JSONSyntaxError) -> Unicode.Scalar {
        func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard i + 4 <= t.count else { throw JSONSyntaxError(offset: i, reason: "short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = t[i]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                default: throw JSONSyntaxError(offset: i, reason: "invalid \\u escape")
                }
                v = v * 16 + digit
                i += 1
            }
            return v
        }
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard i + 1 < t.count, t[i] == UInt8(ascii: "\\"), t[i + 1] == UInt8(ascii: "u") else {
                throw JSONSyntaxError(offset: i, reason: "unpaired surrogate")
            }
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw JSONSyntaxError(offset: i, reason: "unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw JSONSyntaxError(offset: i, reason: "unpaired surrogate")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw JSONSyntaxError(offset: i, reason: "invalid code point") }
        return unicode
    }
}
