import AuditStore
import Capture
import Decoding
import Foundation
import Ledger
import PostgresClient

/// The store side of a session, alone on its thread (no locks: it talks to
/// the reader only through the `Handoff`). It turns committed source
/// transactions into chained events, writes them with COPY, and commits
/// them in batches together with the source position they reach; only
/// then does it publish that position as durable.
final class BatchWriter {
    private let configuration: WorkerConfiguration
    private let store: EventStore
    private let sourceSystemID: String
    private let builder: EventBuilder
    private let signer: CheckpointSigner?
    private var chain: Chain
    private var batch: Batch?
    private var lastCommitAt = -Double.infinity

    /// An open store transaction.
    private struct Batch {
        var started: Double
        var events = 0
        var lastLSN: LSN = .zero
        var lastCommitTime: PostgresTimestamp?
        /// The chain before the batch, restored if it fails.
        var chainBefore: Chain
    }

    init(configuration: WorkerConfiguration, store: EventStore, sourceSystemID: String, maskKey: [UInt8],
         signer: CheckpointSigner?) throws {
        self.configuration = configuration
        self.store = store
        self.sourceSystemID = sourceSystemID
        self.signer = signer
        builder = EventBuilder(maskKey: maskKey)
        chain = try store.loadChain()
    }

    /// The writer thread's body: until the reader finishes or cancels, or an error.
    func run(_ handoff: Handoff) {
        do {
            try loop(handoff)
        } catch {
            handoff.fail(error)
        }
        abandonBatch()  // after a failure or a cancel; nothing is open after a clean finish
        handoff.writerEnded()
    }

    private func loop(_ handoff: Handoff) throws {
        while let (work, finishing) = handoff.take(until: nextDeadline()) {
            for transaction in work {
                if handoff.isCancelled { return }  // run() rolls the open batch back
                if let settled = try write(transaction) { handoff.publish(stored: settled) }
            }
            handoff.written(work)
            if let open = batch, commitIsDue(open, caughtUp: handoff.isEmpty, finishing: finishing) {
                handoff.publish(stored: try commitBatch())
            }
            if batch == nil { try signer?.signIfDue(headSeq: chain.seq, store: store) }
            if finishing && batch == nil && handoff.isEmpty { return }
        }
    }

    /// When to look again with nothing handed over: the open batch's commit
    /// time, or the next heartbeat checkpoint.
    private func nextDeadline() -> Double {
        guard let open = batch else { return monotonicSeconds() + min(1, configuration.checkpointInterval) }
        return min(lastCommitAt + configuration.commitInterval, open.started + configuration.batchAge)
    }

    /// Commit when caught up with the stream (and the last commit is
    /// commitInterval old, or the reader is finishing), or when the batch is big or old.
    private func commitIsDue(_ open: Batch, caughtUp: Bool, finishing: Bool) -> Bool {
        let now = monotonicSeconds()
        return caughtUp && (now - lastCommitAt >= configuration.commitInterval || finishing)
            || open.events >= configuration.batchEvents || now - open.started >= configuration.batchAge
    }

    /// Adds the transaction's events to the batch (opening one if needed).
    /// A transaction with nothing to store and no batch open is settled at
    /// once: its LSN is returned.
    private func write(_ transaction: CommittedTransaction) throws -> LSN? {
        if transaction.isEmpty {
            guard batch != nil else { return transaction.commitLSN }
            batch!.lastLSN = transaction.commitLSN
            return nil
        }
        if batch == nil {
            try store.connection.execute("BEGIN")
            chain = try store.lockChain()
            batch = Batch(started: monotonicSeconds(), chainBefore: chain)
        }
        var count = 0
        try transaction.forEachEvent(builder: builder) { event in
            try store.write(chain.append(event))
            count += 1
        }
        if let tables = transaction.tablesAfter {
            try store.finishCopy()
            try CaptureState.saveTables(store.connection, slot: configuration.slot, tables)
        }
        batch!.events += count
        batch!.lastLSN = transaction.commitLSN
        batch!.lastCommitTime = transaction.commitTime
        return nil
    }

    /// Stores the position with the events and commits; returns the position.
    private func commitBatch() throws -> LSN {
        guard let open = batch else { preconditionFailure("no batch to commit") }
        try store.finishCopy()
        try CaptureState.savePosition(store.connection, slot: configuration.slot, sourceSystemID: sourceSystemID,
                                      lsn: open.lastLSN, commitTime: open.lastCommitTime)
        try store.connection.execute("COMMIT")
        batch = nil
        lastCommitAt = monotonicSeconds()
        return open.lastLSN
    }

    private func abandonBatch() {
        guard let open = batch else { return }
        store.abandon()
        _ = try? store.connection.execute("ROLLBACK")
        chain = open.chainBefore
        batch = nil
    }
}
