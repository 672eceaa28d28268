import Decoding
import Replication
import Testing

/// The CopyData messages of the streaming replication protocol, byte for
/// byte as the PostgreSQL documentation lays them out (big-endian integers).
@Suite struct ReplicationMessageTests {
    static func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(value >> ($0 * 8) & 0xFF) } }

    static func decode(_ bytes: [UInt8]) throws -> ReplicationMessage {
        try bytes.withUnsafeBytes { try ReplicationMessage.decode($0) }
    }

    @Test func xLogDataCarriesItsStartAndPayload() throws {
        let bytes = [UInt8(ascii: "w")] + Self.bigEndian(0x1_6B37_48A0) + Self.bigEndian(0x1_6B37_4900)
            + Self.bigEndian(UInt64(bitPattern: -5)) + Array("BEGIN 731".utf8)
        #expect(try Self.decode(bytes) == .xLogData(start: LSN(0x1_6B37_48A0), walEnd: LSN(0x1_6B37_4900), sendTime: -5,
                                                    data: Array("BEGIN 731".utf8)))
    }

    @Test func keepaliveSaysWhetherAReplyIsRequested() throws {
        let bytes = [UInt8(ascii: "k")] + Self.bigEndian(UInt64.max) + Self.bigEndian(42)
        #expect(try Self.decode(bytes + [1]) == .keepalive(walEnd: LSN(UInt64.max), sendTime: 42, replyRequested: true))
        #expect(try Self.decode(bytes + [0]) == .keepalive(walEnd: LSN(UInt64.max), sendTime: 42, replyRequested: false))
    }

    @Test func malformedMessagesAreErrorsNotGuesses() {
        for bytes: [UInt8] in [[], [UInt8(ascii: "w")] + [UInt8](repeating: 0, count: 23), [UInt8(ascii: "k")] + [UInt8](repeating: 0, count: 16),
                               [UInt8(ascii: "k")] + [UInt8](repeating: 0, count: 18), [UInt8(ascii: "x"), 0]] {
            #expect(throws: ReplicationProtocolError.self) { try Self.decode(bytes) }
        }
    }

    @Test func statusUpdateConfirmsOneLSNAsWrittenFlushedAndApplied() {
        let update = StandbyStatusUpdate(confirmed: LSN(0xAB_CDEF_0123), clientTime: 7, replyRequested: false)
        let lsn = Self.bigEndian(0xAB_CDEF_0123)
        #expect(update.encoded == [UInt8(ascii: "r")] + lsn + lsn + lsn + Self.bigEndian(7) + [0])
    }
}
