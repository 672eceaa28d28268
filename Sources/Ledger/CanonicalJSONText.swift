import Decoding
import Glibc

/// JSON text straight to the canonical JSON body, byte for byte what
/// `json(JSONValue(parsing: text))` writes, without building the tree: the
/// verifier reads millions of stored jsonb values and the tree's
/// allocations were most of its cost.
extension CanonicalEncoder {
    /// One object member already written into `bytes`: u32 key length, key,
    /// value body. Kept until the object ends, then put in key order.
    struct MemberSpan: Sendable {
        var start: Int
        var keyStart: Int
        var keyEnd: Int
        var end: Int
        var index: Int
    }

    /// A JSON field (tag 0x06) from JSON text; nil is the NULL field.
    public mutating func json(text: UnsafeRawBufferPointer?) throws(JSONSyntaxError) {
        guard let text else { return null() }
        buffer.append(Tag.json.rawValue)
        let at = reserveLength()
        var i = 0
        skipWhitespace(text, &i)
        try jsonTextValue(text, &i, depth: 0)
        skipWhitespace(text, &i)
        guard i == text.count else { throw JSONSyntaxError(offset: i, reason: "unexpected text after the value") }
        patchLength(at: at)
    }

    private func skipWhitespace(_ t: UnsafeRawBufferPointer, _ i: inout Int) {
        while i < t.count, t[i] == 0x20 || t[i] == 0x0A || t[i] == 0x0D || t[i] == 0x09 { i += 1 }
    }

    private mutating func jsonTextValue(_ t: UnsafeRawBufferPointer, _ i: inout Int, depth: Int) throws(JSONSyntaxError) {
        guard depth < 10_000 else { throw JSONSyntaxError(offset: i, reason: "nested too deeply") }
        guard i < t.count else { throw JSONSyntaxError(offset: i, reason: "unexpected end") }
        switch t[i] {
        case UInt8(ascii: "n"): try literal(t, &i, "null", UInt8(ascii: "n"))
        case UInt8(ascii: "t"): try literal(t, &i, "true", UInt8(ascii: "t"))
        case UInt8(ascii: "f"): try literal(t, &i, "false", UInt8(ascii: "f"))
        case UInt8(ascii: "\""):
            buffer.append(UInt8(ascii: "s"))
            let at = reserveLength()
            try jsonTextString(t, &i)
            patchLength(at: at)
        case UInt8(ascii: "["):
            i += 1
            buffer.append(UInt8(ascii: "a"))
            let countAt = reserveLength()
            var count = 0
            skipWhitespace(t, &i)
            if i < t.count, t[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    skipWhitespace(t, &i)
                    try jsonTextValue(t, &i, depth: depth + 1)
                    count += 1
                    skipWhitespace(t, &i)
                    guard i < t.count else { throw JSONSyntaxError(offset: i, reason: "unterminated array") }
                    if t[i] == UInt8(ascii: "]") { i += 1; break }
                    guard t[i] == UInt8(ascii: ",") else { throw JSONSyntaxError(offset: i, reason: "expected ',' or ']'") }
                    i += 1
                }
            }
            patch(count, at: countAt)
        case UInt8(ascii: "{"):
            try jsonTextObject(t, &i, depth: depth)
        default:
            try jsonTextNumber(t, &i)
        }
    }

    private mutating func literal(_ t: UnsafeRawBufferPointer, _ i: inout Int, _ word: StaticString, _ body: UInt8) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard i + count <= t.count,
              (0..<count).allSatisfy({ t[i + $0] == word.utf8Start[$0] }) else {
            throw JSONSyntaxError(offset: i, reason: "invalid literal")
        }
        i += count
        buffer.append(body)
    }

    /// Members are written in text order, then rewritten in key byte order
    /// (the later of duplicate keys wins) if the text had another order.
    private mutating func jsonTextObject(_ t: UnsafeRawBufferPointer, _ i: inout Int, depth: Int) throws(JSONSyntaxError) {
        i += 1
        buffer.append(UInt8(ascii: "o"))
        let countAt = reserveLength()
        let base = members.count
        skipWhitespace(t, &i)
        if i < t.count, t[i] == UInt8(ascii: "}") {
            i += 1
            return patch(0, at: countAt)
        }
        while true {
            skipWhitespace(t, &i)
            guard i < t.count, t[i] == UInt8(ascii: "\"") else { throw JSONSyntaxError(offset: i, reason: "expected a member name") }
            let start = buffer.count
            let keyStart = reserveLength()
            try jsonTextString(t, &i)
            let keyEnd = buffer.count
            patchLength(at: keyStart)
            skipWhitespace(t, &i)
            guard i < t.count, t[i] == UInt8(ascii: ":") else { throw JSONSyntaxError(offset: i, reason: "expected ':'") }
            i += 1
            skipWhitespace(t, &i)
            try jsonTextValue(t, &i, depth: depth + 1)
            members.append(MemberSpan(start: start, keyStart: keyStart, keyEnd: keyEnd, end: buffer.count, index: members.count - base))
            skipWhitespace(t, &i)
            guard i < t.count else { throw JSONSyntaxError(offset: i, reason: "unterminated object") }
            if t[i] == UInt8(ascii: "}") { i += 1; break }
            guard t[i] == UInt8(ascii: ",") else { throw JSONSyntaxError(offset: i, reason: "expected ',' or '}'") }
            i += 1
        }
        let count = members.count - base
        let ordered = buffer.withUnsafeBytes { out in
            members[base...].withUnsafeMutableBufferPointer { spans in
                func compare(_ a: MemberSpan, _ b: MemberSpan) -> Int32 {
                    let (la, lb) = (a.keyEnd - a.keyStart, b.keyEnd - b.keyStart)
                    let c = memcmp(out.baseAddress! + a.keyStart, out.baseAddress! + b.keyStart, min(la, lb))
                    return c != 0 ? c : la == lb ? 0 : la < lb ? -1 : 1
                }
                if zip(spans, spans.dropFirst()).allSatisfy({ compare($0, $1) < 0 }) { return 0 }
                // Key order, then text order; of equal keys only the last stays.
                spans.sort { a, b in
                    let c = compare(a, b)
                    return c != 0 ? c < 0 : a.index < b.index
                }
                var kept = 0
                for n in spans.indices where n + 1 == spans.count || compare(spans[n], spans[n + 1]) != 0 {
                    spans[kept] = spans[n]
                    kept += 1
                }
                return kept
            }
        }
        if ordered == 0 {
            patch(count, at: countAt)
        } else {
            // Rewrite the members in order from a copy of their bytes.
            let bodyStart = countAt
            scratch.truncate(to: 0)
            buffer.withUnsafeBytes { scratch.append(UnsafeRawBufferPointer(rebasing: $0[bodyStart...])) }
            buffer.truncate(to: bodyStart)
            for m in members[base..<(base + ordered)] {
                scratch.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[(m.start - bodyStart)..<(m.end - bodyStart)])) }
            }
            patch(ordered, at: countAt)
        }
        members.removeSubrange(base...)
    }

    /// A JSON string's content, unescaped, as UTF-8.
    private mutating func jsonTextString(_ t: UnsafeRawBufferPointer, _ i: inout Int) throws(JSONSyntaxError) {
        i += 1
        let start = buffer.count
        var ascii = true
        while true {
            // Plain bytes are copied a run at a time.
            let run = i
            while i < t.count, t[i] >= 0x20, t[i] != UInt8(ascii: "\""), t[i] != UInt8(ascii: "\\") {
                if t[i] >= 0x80 { ascii = false }
                i += 1
            }
            if i > run { append(UnsafeRawBufferPointer(rebasing: t[run..<i])) }
            guard i < t.count else { throw JSONSyntaxError(offset: i, reason: "unterminated string") }
            let c = t[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                if !ascii, buffer.withUnsafeBytes({ String(validating: $0[start...], as: UTF8.self) }) == nil {
                    throw JSONSyntaxError(offset: i, reason: "string is not valid UTF-8")
                }
                return
            case UInt8(ascii: "\\"):
                guard i < t.count else { throw JSONSyntaxError(offset: i, reason: "unterminated escape") }
                let e = t[i]
                i += 1
                if let byte = JSONText.escaped(e) {
                    buffer.append(byte)
                } else if e == UInt8(ascii: "u") {
                    try unicodeEscape(t, &i)
                    ascii = false
                } else {
                    throw JSONSyntaxError(offset: i, reason: "invalid escape")
                }
            case 0..<0x20:
                throw JSONSyntaxError(offset: i, reason: "control character in string")
            default:
                if c >= 0x80 { ascii = false }
                buffer.append(c)
            }
        }
    }

    /// `\uXXXX` (a surrogate pair as one scalar) as UTF-8.
    private mutating func unicodeEscape(_ t: UnsafeRawBufferPointer, _ i: inout Int) throws(JSONSyntaxError) {
        buffer.append(UTF8.encode(try JSONText.unicodeEscape(t, &i))!)
    }

    /// A number in numeric's output form. jsonb already prints that form
    /// (no exponent, no sign on zero), so only other texts take the slow path.
    private mutating func jsonTextNumber(_ t: UnsafeRawBufferPointer, _ i: inout Int) throws(JSONSyntaxError) {
        let start = i
        var zero = true  // every mantissa digit is 0
        func digits() -> Int {
            let first = i
            while i < t.count, t[i] >= 0x30 && t[i] <= 0x39 {
                if t[i] != 0x30 { zero = false }
                i += 1
            }
            return i - first
        }
        func invalid() -> JSONSyntaxError { JSONSyntaxError(offset: start, reason: "invalid value") }
        if i < t.count, t[i] == UInt8(ascii: "-") { i += 1 }
        let integerStart = i
        let integerDigits = digits()
        guard integerDigits == 1 || (integerDigits > 1 && t[integerStart] != 0x30) else { throw invalid() }
        if i < t.count, t[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw invalid() }
        }
        let mantissaEnd = i
        if i < t.count, t[i] == UInt8(ascii: "e") || t[i] == UInt8(ascii: "E") {
            i += 1
            if i < t.count, t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") { i += 1 }
            let saved = zero
            guard digits() > 0 else { throw invalid() }
            zero = saved
        }
        buffer.append(UInt8(ascii: "d"))
        if mantissaEnd == i {
            let from = zero && t[start] == UInt8(ascii: "-") ? start + 1 : start
            length(i - from)
            append(UnsafeRawBufferPointer(rebasing: t[from..<i]))
        } else {
            let canonical = Self.numericText(String(decoding: UnsafeRawBufferPointer(rebasing: t[start..<i]), as: UTF8.self))
            length(canonical.utf8.count)
            buffer.append(canonical)
        }
    }
}
