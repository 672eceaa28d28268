/// A PostgreSQL MVCC snapshot as `pg_current_snapshot()` prints it
/// (`xmin:xmax:xip,…`, 64-bit transaction ids): which transactions a query
/// that took it sees as committed.
public struct Snapshot: Equatable, Sendable {
    public var xmin: UInt64
    public var xmax: UInt64
    /// Transactions in progress when it was taken.
    public var inProgress: Set<UInt64>

    /// Parses `pg_current_snapshot()::text`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else { return nil }
        var inProgress: Set<UInt64> = []
        for part in parts[2].split(separator: ",") {
            guard let xid = UInt64(part) else { return nil }
            inProgress.insert(xid)
        }
        (self.xmin, self.xmax, self.inProgress) = (xmin, xmax, inProgress)
    }

    /// Whether a committed transaction with this 32-bit xid (as the
    /// replication stream names it) is visible to the snapshot. Its full
    /// id is the one within 2^31 below `xmax` with these low bits (xids
    /// are compared modulo 2^32 that way); one at or after `xmax`, or in
    /// progress, is not visible yet.
    public func sees(committed xid: UInt32) -> Bool {
        let distance = UInt32(truncatingIfNeeded: xmax) &- xid  // xmax - xid modulo 2^32
        guard distance != 0, distance < 1 << 31, UInt64(distance) <= xmax else { return false }
        return !inProgress.contains(xmax - UInt64(distance))
    }
}
