import Decoding

/// The versioned, typed, length-prefixed byte encoding the chain hashes
/// (docs/chain-format.md). It depends on no server setting: timestamps are
/// integers, JSON is encoded structurally (never `jsonb::text`), numbers in
/// the decimal form PostgreSQL's numeric type prints.
public struct CanonicalEncoder: Sendable {
    var buffer = ByteBuffer()
    /// The encoded bytes so far (a copy).
    public var bytes: [UInt8] { buffer.array }
    /// Members of the objects being read from JSON text (CanonicalJSONText.swift).
    var members: [MemberSpan] = []
    /// Where an object's members wait while they are put in key order.
    var scratch = ByteBuffer()

    public init() {}

    /// Empties the buffer, keeping its capacity (one encoder per verifier).
    public mutating func removeAll() { buffer.truncate(to: 0) }

    /// Calls `body` with the encoded bytes, without copying them.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeBytes(body)
    }

    enum Tag: UInt8 {
        case null = 0x00, text = 0x01, integer = 0x02, bytes = 0x03, textArray = 0x04, timestamp = 0x05, json = 0x06
    }

    public mutating func raw(_ data: [UInt8]) { buffer.append(data) }
    public mutating func raw(_ data: UnsafeRawBufferPointer) { append(data) }

    mutating func append(_ data: UnsafeRawBufferPointer) { buffer.append(data) }

    /// A u32 big-endian, appended in one piece (this runs several times
    /// per field when verifying millions of events).
    mutating func length(_ n: Int) {
        withUnsafeBytes(of: UInt32(n).bigEndian) { append($0) }
    }

    private mutating func int64(_ v: Int64) {
        withUnsafeBytes(of: v.bigEndian) { append($0) }
    }

    public mutating func null() { buffer.append(Tag.null.rawValue); length(0) }

    public mutating func text(_ s: String?) {
        guard let s else { return null() }
        buffer.append(Tag.text.rawValue)
        length(s.utf8.count)
        buffer.append(s)
    }

    /// A text field from UTF-8 bytes as stored.
    public mutating func text(bytes text: UnsafeRawBufferPointer) {
        buffer.append(Tag.text.rawValue)
        length(text.count)
        append(text)
    }

    public mutating func integer(_ v: Int64?) {
        guard let v else { return null() }
        buffer.append(Tag.integer.rawValue)
        length(8)
        int64(v)
    }

    public mutating func data(_ d: [UInt8]?) {
        guard let d else { return null() }
        buffer.append(Tag.bytes.rawValue)
        length(d.count)
        buffer.append(d)
    }

    /// A bytes field from bytes as stored.
    public mutating func data(bytes data: UnsafeRawBufferPointer) {
        buffer.append(Tag.bytes.rawValue)
        length(data.count)
        append(data)
    }

    public mutating func timestamp(_ t: PostgresTimestamp) {
        buffer.append(Tag.timestamp.rawValue)
        length(8)
        int64(t.microsecondsSinceEpoch)
    }

    /// A text array field: each element a text field, a NULL element the NULL field.
    public mutating func textArray(_ items: [String?]?) {
        guard let items else { return null() }
        textArray { e in for item in items { e.text(item) } }
    }

    /// A text array field whose items `body` encodes (text or NULL fields).
    mutating func textArray(_ body: (inout CanonicalEncoder) -> Void) {
        buffer.append(Tag.textArray.rawValue)
        let lengthAt = reserveLength()
        body(&self)
        patchLength(at: lengthAt)
    }

    public mutating func json(_ value: JSONValue?) {
        guard let value else { return null() }
        buffer.append(Tag.json.rawValue)
        let lengthAt = reserveLength()
        jsonBody(value)
        patchLength(at: lengthAt)
    }

    /// Room for a u32 length written once the body is known (no copying of
    /// nested bodies).
    mutating func reserveLength() -> Int {
        length(0)
        return buffer.count
    }

    mutating func patchLength(at bodyStart: Int) {
        patch(buffer.count - bodyStart, at: bodyStart)
    }

    /// Writes `n` into the u32 reserved before `bodyStart`.
    mutating func patch(_ n: Int, at bodyStart: Int) {
        buffer.store(UInt32(n), at: bodyStart - 4)
    }

    /// JSON as jsonb holds it: object keys sorted by UTF-8 bytes with the
    /// last duplicate winning, numbers in numeric's output form.
    private mutating func jsonBody(_ value: JSONValue) {
        switch value {
        case .null: buffer.append(UInt8(ascii: "n"))
        case .bool(let b): buffer.append(UInt8(ascii: b ? "t" : "f"))
        case .number(let n):
            let text = Self.numericText(n)
            buffer.append(UInt8(ascii: "d"))
            length(text.utf8.count)
            buffer.append(text)
        case .string(let s):
            buffer.append(UInt8(ascii: "s"))
            length(s.utf8.count)
            buffer.append(s)
        case .array(let items):
            buffer.append(UInt8(ascii: "a"))
            length(items.count)
            for item in items { jsonBody(item) }
        case .object(let members):
            // Later duplicates win; then byte order of the keys. Keys are
            // compared as bytes: Swift's String equality would merge
            // canonically equivalent keys ("é" and "e\u{301}") that jsonb keeps apart.
            // The order lives in scratch memory: an array per object was
            // a tenth of the worker's allocations.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: members.count) { order in
                Self.sortKeys(members, into: order)
                buffer.append(UInt8(ascii: "o"))
                let countAt = reserveLength()
                var count = 0
                for (position, index) in order.enumerated() {
                    let member = members[index]
                    if position + 1 < order.count, member.key.hasSameBytes(as: members[order[position + 1]].key) { continue }
                    count += 1
                    length(member.key.utf8.count)
                    buffer.append(member.key)
                    jsonBody(member.value)
                }
                patch(count, at: countAt)
            }
        }
    }

    /// Fills `order` with the member indexes sorted by key bytes, equal
    /// keys by position (so the last of equal keys is the one that wins).
    /// Rows have a few to a few dozen columns: an insertion sort, no
    /// hashing of keys.
    static func sortKeys(_ members: [JSONValue.Member], into buffer: UnsafeMutableBufferPointer<Int>) {
        var order = buffer  // the pointer itself; sorting writes through it
        for i in order.indices { order[i] = i }
        func precedes(_ a: Int, _ b: Int) -> Bool {
            let c = members[a].key.compareBytes(with: members[b].key)
            return c < 0 || (c == 0 && a < b)
        }
        if order.count > 32 { order.sort(by: precedes); return }
        for i in order.indices.dropFirst() {
            let item = order[i]
            var j = i
            while j > 0 && precedes(item, order[j - 1]) {
                order[j] = order[j - 1]
                j -= 1
            }
            order[j] = item
        }
    }

    /// Whether `json` is already numeric's output form: optional minus, an
    /// integer part without leading zeros, optional fraction, no exponent,
    /// and not a negative zero.
    static func isNumericOutputForm(_ json: String) -> Bool {
        if let answer = json.utf8.withContiguousStorageIfAvailable(isNumericOutputForm(bytes:)) { return answer }
        return Array(json.utf8).withUnsafeBufferPointer(isNumericOutputForm(bytes:))
    }

    private static func isNumericOutputForm(bytes b: UnsafeBufferPointer<UInt8>) -> Bool {
        func isDigit(_ i: Int) -> Bool { i < b.count && b[i] >= 0x30 && b[i] <= 0x39 }
        var i = 0
        let negative = !b.isEmpty && b[0] == UInt8(ascii: "-")
        if negative { i += 1 }
        let integerStart = i
        var nonZero = false
        while isDigit(i) { nonZero = nonZero || b[i] != UInt8(ascii: "0"); i += 1 }
        guard i > integerStart, b[integerStart] != UInt8(ascii: "0") || i - integerStart == 1 else { return false }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            while isDigit(i) { nonZero = nonZero || b[i] != UInt8(ascii: "0"); i += 1 }
            guard i > fractionStart else { return false }
        }
        return i == b.count && (nonZero || !negative)
    }

    /// A JSON number as PostgreSQL's numeric prints it after reading it:
    /// plain decimal, no exponent, scale = max(0, fraction digits − exponent),
    /// no sign on zero. `1.5e3` → `1500`, `2.50` → `2.50`, `-0` → `0`.
    public static func numericText(_ json: String) -> String {
        isNumericOutputForm(json) ? json : rewrittenNumericText(json)  // most numbers are already in that form
    }

    /// `numericText` the long way, for any JSON number.
    static func rewrittenNumericText(_ json: String) -> String {
        var utf8 = Array(json.utf8)[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") { negative = true; utf8 = utf8.dropFirst() }
        let integer = utf8.prefix { $0 >= 0x30 && $0 <= 0x39 }
        utf8 = utf8.dropFirst(integer.count)
        var fraction: ArraySlice<UInt8> = []
        if utf8.first == UInt8(ascii: ".") {
            utf8 = utf8.dropFirst()
            fraction = utf8.prefix { $0 >= 0x30 && $0 <= 0x39 }
            utf8 = utf8.dropFirst(fraction.count)
        }
        var exponent = 0
        if let e = utf8.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            exponent = Int(String(decoding: utf8.dropFirst(), as: UTF8.self).replacingPlus()) ?? 0
        }
        let digits = Array(integer) + Array(fraction)
        let scale = max(0, fraction.count - exponent)
        let point = integer.count + exponent  // digits before the decimal point
        var intPart: [UInt8]
        var fracPart: [UInt8]
        if point <= 0 {
            intPart = [UInt8(ascii: "0")]
            fracPart = Array(repeating: UInt8(ascii: "0"), count: -point) + digits
        } else if point >= digits.count {
            intPart = digits + Array(repeating: UInt8(ascii: "0"), count: point - digits.count)
            fracPart = []
        } else {
            intPart = Array(digits[..<point])
            fracPart = Array(digits[point...])
        }
        if fracPart.count < scale { fracPart += Array(repeating: UInt8(ascii: "0"), count: scale - fracPart.count) }
        fracPart = Array(fracPart.prefix(scale))
        while intPart.count > 1 && intPart.first == UInt8(ascii: "0") { intPart.removeFirst() }
        let isZero = (intPart + fracPart).allSatisfy { $0 == UInt8(ascii: "0") }
        var out = (negative && !isZero) ? "-" : ""
        out += String(decoding: intPart, as: UTF8.self)
        if !fracPart.isEmpty { out += "." + String(decoding: fracPart, as: UTF8.self) }
        return out
    }
}

extension String {
    fileprivate func replacingPlus() -> String { hasPrefix("+") ? String(dropFirst()) : self }
}
