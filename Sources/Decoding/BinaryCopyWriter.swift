import Glibc


/// Builds the rows of `COPY … FROM STDIN (FORMAT binary)` (PostgreSQL docs,
/// "Binary Format" of COPY; each type's binary form is its `*_send`): the
/// server converts nothing from text, and no byte needs escaping.
public struct BinaryCopyWriter {
    public private(set) var out: [UInt8] = []

    public init() {}

    public var count: Int { out.count }

    /// The signature, flags and an empty header extension; once per COPY.
    public mutating func header() {
        out += BinaryCopyReader.signature
        int32(0)
        int32(0)
    }

    /// The -1 field count that ends the data; once per COPY.
    public mutating func trailer() { int16(-1) }

    public mutating func removeAll() { out.removeAll(keepingCapacity: true) }

    /// Starts a row of `fields` fields.
    public mutating func row(fields: Int) { int16(Int16(fields)) }

    public mutating func null() { int32(-1) }

    public mutating func int8(_ value: Int64?) {
        guard let value else { return null() }
        int32(8)
        withUnsafeBytes(of: value.bigEndian) { out += $0 }
    }

    /// An int4 column; nil if the value does not fit (the caller decides).
    public mutating func int4(_ value: Int32?) {
        guard let value else { return null() }
        int32(4)
        int32(value)
    }

    /// timestamptz: microseconds since 2000-01-01 UTC.
    public mutating func timestamp(microsecondsSinceUnixEpoch value: Int64?) {
        int8(value.map { $0 - postgresEpochOffsetMicroseconds })
    }

    /// pg_lsn: the 64-bit position.
    public mutating func lsn(_ value: LSN?) { int8(value.map { Int64(bitPattern: $0.rawValue) }) }

    public mutating func text(_ value: String?) {
        guard var value else { return null() }
        value.withUTF8 { bytes in
            int32(Int32(bytes.count))
            out += bytes
        }
    }

    public mutating func bytea(_ value: [UInt8]?) {
        guard let value else { return null() }
        int32(Int32(value.count))
        out += value
    }

    /// jsonb: format version 1, then the JSON text (which `text` writes into
    /// the buffer). Not optional: an optional closure escapes, and that was
    /// an allocation per field.
    public mutating func jsonb(_ text: (inout [UInt8]) -> Void) {
        let lengthAt = out.count
        int32(0)
        out.append(1)
        text(&out)
        patch(Int32(out.count - lengthAt - 4), at: lengthAt)
    }

    /// text[]: one dimension (none when empty), lower bound 1; a nil
    /// element is a NULL element.
    public mutating func textArray(_ items: [String?]?) {
        guard let items else { return null() }
        let lengthAt = out.count
        int32(0)
        int32(items.isEmpty ? 0 : 1)                  // dimensions
        int32(items.contains { $0 == nil } ? 1 : 0)   // has NULLs
        int32(25)                                     // element type: text
        if !items.isEmpty {
            int32(Int32(items.count))
            int32(1)                                  // lower bound
            for item in items { text(item) }
        }
        patch(Int32(out.count - lengthAt - 4), at: lengthAt)
    }

    /// inet from its text form (`a.b.c.d`, an IPv6 address, optionally
    /// `/bits`); false if it is not one (nothing is written then).
    public mutating func inet(_ value: String?) -> Bool {
        guard let value else { null(); return true }
        guard let address = InetAddress(value) else { return false }
        int32(Int32(4 + address.bytes.count))
        out += [address.family, address.bits, 0, UInt8(address.bytes.count)]
        out += address.bytes
        return true
    }

    private mutating func int16(_ value: Int16) { withUnsafeBytes(of: value.bigEndian) { out += $0 } }
    private mutating func int32(_ value: Int32) { withUnsafeBytes(of: value.bigEndian) { out += $0 } }

    private mutating func patch(_ value: Int32, at offset: Int) {
        withUnsafeBytes(of: value.bigEndian) { bytes in
            for i in 0..<4 { out[offset + i] = bytes[i] }
        }
    }
}
