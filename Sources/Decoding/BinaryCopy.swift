/// Reads the rows of `COPY … TO STDOUT (FORMAT binary)` (PostgreSQL docs,
/// "Binary Format" of COPY): an 11-byte signature, flags and a header
/// extension, then per row a 16-bit field count and each field as a 32-bit
/// length (-1 for NULL) followed by that many bytes, then a -1 trailer.
public struct BinaryCopyReader {
    /// Byte ranges of the current row's fields within its message; nil is NULL.
    public private(set) var fields: [Range<Int>?] = []
    private var sawHeader = false
    static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    public init() {}

    /// Reads one CopyData message. Returns true when it held a row (its
    /// fields are then in `fields`); false for the header or the trailer.
    public mutating func read(_ message: UnsafeRawBufferPointer) throws(BinaryCopyError) -> Bool {
        var offset = 0
        if !sawHeader {
            guard message.count >= 19, message.prefix(11).elementsEqual(Self.signature) else {
                throw BinaryCopyError("missing COPY binary signature")
            }
            let extensionLength = Int(Self.int32(message, at: 15))
            offset = 19 + extensionLength
            guard extensionLength >= 0, offset <= message.count else { throw BinaryCopyError("bad COPY binary header") }
            sawHeader = true
            if offset == message.count { return false }
        }
        guard offset + 2 <= message.count else { throw BinaryCopyError("truncated row") }
        let count = Int(Int16(bitPattern: UInt16(message[offset]) << 8 | UInt16(message[offset + 1])))
        offset += 2
        if count == -1 { return false }
        guard count >= 0 else { throw BinaryCopyError("bad field count \(count)") }
        fields.removeAll(keepingCapacity: true)
        for _ in 0..<count {
            guard offset + 4 <= message.count else { throw BinaryCopyError("truncated field length") }
            let length = Int(Self.int32(message, at: offset))
            offset += 4
            if length == -1 {
                fields.append(nil)
                continue
            }
            guard length >= 0, offset + length <= message.count else { throw BinaryCopyError("field overruns its row") }
            fields.append(offset..<offset + length)
            offset += length
        }
        guard offset == message.count else { throw BinaryCopyError("trailing bytes after a row") }
        return true
    }

    /// A big-endian signed 32-bit integer at `offset`.
    public static func int32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32 {
        Int32(bitPattern: UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
              | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3]))
    }

    /// A big-endian signed 64-bit integer at `offset`.
    public static func int64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
        return Int64(bitPattern: value)
    }
}

/// A COPY binary stream that does not follow the format.
public struct BinaryCopyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = "COPY binary: " + description }
}
