import Ledger
import Dispatch
import PostgresClient
import Synchronization

/// Verifies a store's whole chain over several connections at once: the
/// first connection exports its snapshot and the others adopt it, the seqs
/// are split into consecutive ranges, each range is checked by its own
/// `ChainVerifier` on its own thread, and the ranges are joined in order —
/// the same report one verifier reading everything in turn would give.
/// The POLICY events are read first, in the same snapshot, so that every
/// range can account for its purged events (`PurgeAccounting`).
public enum StoreVerification {
    /// `verifier` holds the checkpoints to check against and checks the first
    /// range; `connect` opens the extra connections (up to `jobs - 1`; if the
    /// server refuses one, the ranges are split over those it accepted);
    /// `progress` gets the running count every 50,000 events, from any thread.
    public static func verify(_ store: Connection, jobs: Int, connect: () throws -> Connection, verifier: ChainVerifier,
                              tree: TreeCheck? = nil, progress: (@Sendable (Int) -> Void)? = nil) throws -> VerificationReport {
        guard verifier.report.ok else { return verifier.report }  // a bad checkpoint file: nothing to read
        try store.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? store.execute("ROLLBACK") }
        let head = try store.execute("SELECT pg_export_snapshot(), min(seq), max(seq) FROM walaudit.event_log").rows[0]
        let (lowest, highest) = (head[1].flatMap { Int64($0) }, head[2].flatMap { Int64($0) })
        if let lowest, lowest < 1 {
            var outside = verifier
            outside.rowOutsideChain(seq: lowest)
            return outside.report
        }
        var verifier = verifier
        verifier.accounting = try PurgeAccounting.read(store)
        let wanted = split(lowest: lowest, highest: highest, jobs: jobs).count
        var connections = [store]
        while connections.count < wanted {
            // Fewer connections rather than none: the store may be near max_connections.
            guard let extra = try? connect() else { break }
            try extra.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try extra.execute("SET TRANSACTION SNAPSHOT \(SQLText.literal(head[0] ?? ""))")
            connections.append(extra)
        }
        let ranges = split(lowest: lowest, highest: highest, jobs: connections.count)
        let parts = ranges.indices.map { index in
            Part(connections[index], index == 0 ? verifier : verifier.continuation(), ranges[index], tree: tree?.part())
        }
        let counted = Counter(progress)
        DispatchQueue.concurrentPerform(iterations: parts.count) { index in
            let part = parts[index]
            do {
                try EventReader(connection: part.connection).forEach(fromSeq: part.range.from, toSeq: part.range.to,
                                                                     inOpenTransaction: true) { event in
                    counted.add()
                    part.tree?.add(seq: event.seq, hash: event.hash)
                    return try part.verifier.check(event)
                }
            } catch {
                part.error = error
            }
        }

        // In order, as one pass would meet them: the seam to the range
        // before, then what the range found, then whether reading it failed.
        var joined = parts[0].verifier
        for (index, part) in parts.enumerated() {
            if index > 0 { joined.append(part.verifier) }
            guard joined.report.ok else { break }
            if let error = part.error { throw error }
        }
        joined.finish()
        return joined.report
    }

    /// Consecutive seq ranges covering `lowest...highest` (nil bounds: open
    /// ends), at most `jobs` of them and none empty; one range when `jobs`
    /// is 1 or the store is empty. Small stores are split too: an extra
    /// connection costs milliseconds, and every store then exercises the
    /// joins. The bounds may be tampered seqs anywhere in Int64, so the
    /// arithmetic is done on offsets from the lowest seq read (1: the
    /// reader reads seq >= 1 only), which cannot overflow.
    static func split(lowest: Int64?, highest: Int64?, jobs: Int) -> [(from: Int64?, to: Int64?)] {
        guard let lowest, let highest, jobs > 1 else { return [(nil, nil)] }
        let low = max(lowest, 1)
        guard highest > low else { return [(nil, nil)] }
        let span = UInt64(highest - low) + 1                  // seqs in low...highest, at most 2^63
        let size = span / UInt64(jobs) + (span % UInt64(jobs) == 0 ? 0 : 1)
        let count = Int(span / size + (span % size == 0 ? 0 : 1))  // ranges that hold a seq
        return (0..<count).map { index in
            let start = UInt64(index) * size                  // < span
            return (index == 0 ? nil : low + Int64(start), index == count - 1 ? nil : low + Int64(start + size - 1))
        }
    }

    /// One range, its connection and its verifier; used by one thread at a time.
    private final class Part: @unchecked Sendable {
        let connection: Connection
        var verifier: ChainVerifier
        let range: (from: Int64?, to: Int64?)
        var error: (any Error)?
        let tree: TreeCheck.Part?

        init(_ connection: Connection, _ verifier: ChainVerifier, _ range: (from: Int64?, to: Int64?), tree: TreeCheck.Part?) {
            self.connection = connection
            self.verifier = verifier
            self.range = range
            self.tree = tree
        }
    }

    /// Events checked so far over all threads, reported every 50,000.
    private final class Counter: Sendable {
        let count = Atomic<Int>(0)
        let progress: (@Sendable (Int) -> Void)?

        init(_ progress: (@Sendable (Int) -> Void)?) { self.progress = progress }

        func add() {
            guard let progress else { return }
            let total = count.add(1, ordering: .relaxed).newValue
            if total % 50_000 == 0 { progress(total) }
        }
    }
}
