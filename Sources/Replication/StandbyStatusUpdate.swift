import Decoding

/// `r`: the standby status update that tells the server what is safe.
public struct StandbyStatusUpdate: Equatable, Sendable {
    public var written: LSN
    public var flushed: LSN
    public var applied: LSN
    public var clientTime: Int64
    public var replyRequested: Bool

    public init(confirmed lsn: LSN, clientTime: Int64, replyRequested: Bool = false) {
        written = lsn
        flushed = lsn
        applied = lsn
        self.clientTime = clientTime
        self.replyRequested = replyRequested
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "r")]
        for value in [written.rawValue, flushed.rawValue, applied.rawValue, UInt64(bitPattern: clientTime)] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(value >> UInt64(shift) & 0xFF)) }
        }
        out.append(replyRequested ? 1 : 0)
        return out
    }
}
