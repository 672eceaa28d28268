import Decoding

/// The versioned, typed, length-prefixed byte encoding the chain hashes
/// (docs/chain-format.md). It depends on no server setting: timestamps are
/// integers, JSON is encoded structurally (never `jsonb::text`), numbers in
/// the decimal form PostgreSQL's numeric type prints.
public struct CanonicalEncoder: Sendable {
    public internal(set) var bytes: [UInt8] = []
    /// Members of the objects being read from JSON text (CanonicalJSONText.swift).
    var members: [MemberSpan] = []
    /// Where an object's members wait while they are put in key order.
    var scratch: [UInt8] = []

    public init() {}

    /// Empties the buffer, keeping its capacity (one encoder per verifier).
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    enum Tag: UInt8 {
        case null = 0x00, text = 0x01, integer = 0x02, bytes = 0x03, textArray = 0x04, timestamp = 0x05, json = 0x06
    }

    public mutating func raw(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }
    public mutating func raw(_ data: UnsafeRawBufferPointer) { append(data) }

    /// Appends raw memory with one copy. (Array's generic append reads an
    /// UnsafeRawBufferPointer byte by byte; a typed buffer is copied whole.)
    mutating func append(_ data: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: data.assumingMemoryBound(to: UInt8.self))
    }

    /// A u32 big-endian, appended in one piece (this runs several times
    /// per field when verifying millions of events).
    mutating func length(_ n: Int) {
        withUnsafeBytes(of: UInt32(n).bigEndian) { append($0) }
    }

    private mutating func int64(_ v: Int64) {
        withUnsafeBytes(of: v.bigEndian) { append($0) }
    }

    public mutating func null() { bytes.append(Tag.null.rawValue); length(0) }

    public mutating func text(_ s: String?) {
        guard let s else { return null() }
        bytes.append(Tag.text.rawValue)
        length(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    /// A text field from UTF-8 bytes as stored.
    public mutating func text(bytes text: UnsafeRawBufferPointer) {
        bytes.append(Tag.text.rawValue)
        length(text.count)
        append(text)
    }

    public mutating func integer(_ v: Int64?) {
        guard let v else { return null() }
        bytes.append(Tag.integer.rawValue)
        length(8)
        int64(v)
    }

    public mutating func data(_ d: [UInt8]?) {
        guard let d else { return null() }
        bytes.append(Tag.bytes.rawValue)
        length(d.count)
        bytes.append(contentsOf: d)
    }

    /// A bytes field from bytes as stored.
    public mutating func data(bytes data: UnsafeRawBufferPointer) {
        bytes.append(Tag.bytes.rawValue)
        length(data.count)
        append(data)
    }

    public mutating func timestamp(_ t: PostgresTimestamp) {
        bytes.append(Tag.timestamp.rawValue)
        length(8)
        int64(t.microsecondsSinceEpoch)
    }

    public mutating func textArray(_ items: [String]?) {
        guard let items else { return null() }
        textArray { e in for item in items { e.text(item) } }
    }

    /// A text array field whose items `body` encodes (text or NULL fields).
    mutating func textArray(_ body: (inout CanonicalEncoder) -> Void) {
        bytes.append(Tag.textArray.rawValue)
        let lengthAt = reserveLength()
        body(&self)
        patchLength(at: lengthAt)
    }

    public mutating func json(_ value: JSONValue?) {
        guard let value else { return null() }
        bytes.append(Tag.json.rawValue)
        let lengthAt = reserveLength()
        jsonBody(value)
        patchLength(at: lengthAt)
    }

    /// Room for a u32 length written once the body is known (no copying of
    /// nested bodies).
    mutating func reserveLength() -> Int {
        length(0)
        return bytes.count
    }

    mutating func patchLength(at bodyStart: Int) {
        patch(bytes.count - bodyStart, at: bodyStart)
    }

    /// Writes `n` into the u32 reserved before `bodyStart`.
    mutating func patch(_ n: Int, at bodyStart: Int) {
        let v = UInt32(n)
        bytes[bodyStart - 4] = UInt8(v >> 24)
        bytes[bodyStart - 3] = UInt8(v >> 16 & 0xFF)
        bytes[bodyStart - 2] = UInt8(v >> 8 & 0xFF)
        bytes[bodyStart - 1] = UInt8(v & 0xFF)
    }

    /// JSON as jsonb holds it: object keys sorted by UTF-8 bytes with the
    /// last duplicate winning, numbers in numeric's output form.
    private mutating func jsonBody(_ value: JSONValue) {
        switch value {
        case .null: bytes.append(UInt8(ascii: "n"))
        case .bool(let b): bytes.append(UInt8(ascii: b ? "t" : "f"))
        case .number(let n):
            let text = Self.numericText(n)
            bytes.append(UInt8(ascii: "d"))
            length(text.utf8.count)
            bytes.append(contentsOf: text.utf8)
        case .string(let s):
            bytes.append(UInt8(ascii: "s"))
            length(s.utf8.count)
            bytes.append(contentsOf: s.utf8)
        case .array(let items):
            bytes.append(UInt8(ascii: "a"))
            length(items.count)
            for item in items { jsonBody(item) }
        case .object(let members):
            // Later duplicates win; then byte order of the keys. Keys are
            // compared as bytes: Swift's String equality would merge
            // canonically equivalent keys ("é" and "e\u{301}") that jsonb keeps apart.
            var last = [[UInt8]: Int](minimumCapacity: members.count)
            for (index, member) in members.enumerated() { last[Array(member.key.utf8)] = index }
            let chosen = last.values.sorted { members[$0].key.utf8.lexicographicallyPrecedes(members[$1].key.utf8) }
            bytes.append(UInt8(ascii: "o"))
            length(chosen.count)
            for index in chosen {
                let member = members[index]
                length(member.key.utf8.count)
                bytes.append(contentsOf: member.key.utf8)
                jsonBody(member.value)
            }
        }
    }

    /// A JSON number as PostgreSQL's numeric prints it after reading it:
    /// plain decimal, no exponent, scale = max(0, fraction digits − exponent),
    /// no sign on zero. `1.5e3` → `1500`, `2.50` → `2.50`, `-0` → `0`.
    public static func numericText(_ json: String) -> String {
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
