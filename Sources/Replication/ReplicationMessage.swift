import Decoding

/// The messages of the streaming replication protocol that walaudit reads
/// and writes inside CopyBoth data (PostgreSQL docs, "Streaming Replication
/// Protocol"). Integers are big-endian; times are microseconds since
/// 2000-01-01 UTC.
public enum ReplicationMessage: Equatable, Sendable {
    /// `w`: a piece of decoded output; `start` is the LSN the plugin tied it
    /// to (for COMMIT: the end of the commit record).
    case xLogData(start: LSN, walEnd: LSN, sendTime: Int64, data: [UInt8])
    /// `k`: the server's keepalive; answer at once when `replyRequested`.
    case keepalive(walEnd: LSN, sendTime: Int64, replyRequested: Bool)

    /// Decodes one CopyData payload.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ReplicationProtocolError) -> ReplicationMessage {
        guard let kind = bytes.first else { throw ReplicationProtocolError("empty CopyData message") }
        switch kind {
        case UInt8(ascii: "w"):
            guard bytes.count >= 25 else { throw ReplicationProtocolError("XLogData message of \(bytes.count) bytes is too short") }
            return .xLogData(start: LSN(bytes.bigEndianUInt64(at: 1)), walEnd: LSN(bytes.bigEndianUInt64(at: 9)),
                             sendTime: Int64(bitPattern: bytes.bigEndianUInt64(at: 17)), data: Array(bytes[25...]))
        case UInt8(ascii: "k"):
            guard bytes.count == 18 else { throw ReplicationProtocolError("keepalive message of \(bytes.count) bytes, expected 18") }
            return .keepalive(walEnd: LSN(bytes.bigEndianUInt64(at: 1)), sendTime: Int64(bitPattern: bytes.bigEndianUInt64(at: 9)),
                              replyRequested: bytes[17] != 0)
        default:
            throw ReplicationProtocolError("unknown replication message type \(kind)")
        }
    }
}

/// A replication message that does not follow the protocol.
public struct ReplicationProtocolError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension UnsafeRawBufferPointer {
    func bigEndianUInt64(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(self[offset + i]) }
        return value
    }
}
