import Capture
import Decoding
import Foundation
import AuditStore
import Ledger
import PostgresClient
import Replication

/// One streaming session, read top to bottom like pg_recvlogical's loop:
/// receive, assemble, hand committed transactions to the store writer,
/// confirm what it has made durable, answer keepalives.
struct Session {
    let worker: CaptureWorker
    let source: ReplicationConnection
    let writer: StoreWriter
    var assembler: TransactionAssembler
    var lastFeedback = 0.0
    var lastConfirmed: LSN = .zero

    init(worker: CaptureWorker, source: ReplicationConnection, store: EventStore, systemID: String,
         state: StoredState, chain: Chain) throws {
        self.worker = worker
        self.source = source
        writer = try StoreWriter(worker: worker, store: store, systemID: systemID, state: state, chain: chain)
        assembler = TransactionAssembler(tables: state.tables, memoryLimit: worker.configuration.memoryLimit)
        let logger = worker.logger
        assembler.warn = { logger.warning("\($0)") }
    }

    mutating func stream() throws {
        defer { writer.stop() }
        try sendFeedback()
        while true {
            try writer.checkFailure()
            if worker.shouldStop() {
                // Store what was handed over; an unfinished transaction stays in the slot.
                try writer.finish()
                try sendFeedback()
                worker.logger.info("stopped", metadata: ["confirmed_lsn": "\(lastConfirmed)"])
                return
            }
            let confirmable = writer.confirmable
            // Poll briefly while the writer has news to confirm soon.
            let wait = confirmable != lastConfirmed ? 0 : 0.1
            switch try source.next(timeout: wait, { try ReplicationMessage.decode($0) }) {
            case .xLogData(let start, _, _, let data)?:
                try receive(data, at: start)
            case .keepalive(let walEnd, _, let replyRequested)?:
                // The server has sent everything up to walEnd. With nothing
                // pending here, all of it is stored or needs no storing, so
                // it may be confirmed (a server shutdown waits for this).
                // Mid-transaction it may not: the rest has yet to arrive.
                if assembler.isIdle { writer.settleIfIdle(upTo: walEnd) }
                if replyRequested { try sendFeedback() }
            case nil:
                break
            }
            if writer.confirmable != lastConfirmed || monotonicSeconds() - lastFeedback >= worker.configuration.feedbackInterval {
                try sendFeedback()
            }
        }
    }

    /// One XLogData payload: parse, assemble, and hand over a committed transaction.
    private mutating func receive(_ data: [UInt8], at lsn: LSN) throws {
        // Records of tables nobody audits (the store's own, when it shares
        // the database) are passed over after their first words.
        let record: DecodedRecord
        do {
            guard let parsed = try TestDecoding.parseRecord(data, skipping: { !self.assembler.captures($0) }) else { return }
            record = parsed
        } catch {
            throw FatalWorkerError(description: "malformed test_decoding output at LSN \(lsn): \(error). "
                + "Nothing after \(writer.confirmable) was confirmed, so the slot still holds it")
        }
        guard let transaction = try assembler.handle(record, raw: data, lsn: lsn) else { return }
        try writer.submit(transaction)
    }

    private mutating func sendFeedback() throws {
        let confirmed = writer.confirmable
        let micros = Int64(Date().timeIntervalSince1970 * 1_000_000) - postgresEpochOffsetMicroseconds
        try source.send(StandbyStatusUpdate(confirmed: confirmed, clientTime: micros).encoded)
        lastConfirmed = confirmed
        lastFeedback = monotonicSeconds()
    }
}
