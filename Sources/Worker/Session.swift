import Capture
import Decoding
import Foundation
import Ledger
import PostgresClient
import Replication

/// One streaming session, read top to bottom like pg_recvlogical's loop:
/// receive, assemble, write the batch, commit it, confirm, repeat.
struct Session {
    let worker: CaptureWorker
    let source: ReplicationConnection
    let store: EventStore
    let systemID: String
    var assembler: TransactionAssembler
    var chain: Chain
    let builder: EventBuilder

    /// Everything up to here is stored or needs no storing: safe to confirm.
    var confirmed: UInt64
    /// The open target transaction, if any.
    var batch: Batch?
    var lastFeedback = 0.0
    /// The last signed checkpoint (from the external file) and when it was made here.
    var lastCheckpoint: Checkpoint?
    var lastCheckpointAt = 0.0
    var chainID: String?

    struct Batch {
        var started: Double
        var events = 0
        var lastLSN: UInt64 = 0
        var lastCommitTime: PostgresTimestamp?
        /// The chain before the batch, restored if it fails.
        var chainBefore: Chain
    }

    init(worker: CaptureWorker, source: ReplicationConnection, store: EventStore, systemID: String,
         state: StoredState, chain: Chain) {
        self.worker = worker
        self.source = source
        self.store = store
        self.systemID = systemID
        self.chain = chain
        confirmed = state.lastLSN
        builder = EventBuilder(maskKey: state.maskKey)
        assembler = TransactionAssembler(tables: state.tables, memoryLimit: worker.configuration.memoryLimit)
        let logger = worker.logger
        assembler.warn = { logger.warning("\($0)") }
    }

    mutating func stream() throws {
        let configuration = worker.configuration
        if let file = configuration.checkpointFile {
            lastCheckpoint = try file.readAll().last
            chainID = try store.connection.execute("SELECT chain_id::text FROM walaudit.chain").scalar
            // A new chain starts a new file with its own genesis checkpoint;
            // continuing another chain's file would hide the restart.
            if let other = lastCheckpoint?.chainID, other != chainID {
                throw FatalWorkerError(description: "the checkpoint file \(file.path) belongs to chain \(other), but this audit store is chain \(chainID ?? "?"): give a new chain a new --checkpoint-dir, so its first checkpoint is an explicit genesis")
            }
        }
        try sendFeedback()
        while true {
            if worker.shouldStop() {
                try commitBatch()
                try sendFeedback()
                worker.logger.info("stopped", metadata: ["confirmed_lsn": "\(LSN.text(confirmed))"])
                return
            }
            let now = Self.now()
            var wait = 1.0
            if let batch { wait = min(configuration.idleCommit, max(0, batch.started + configuration.batchAge - now)) }
            wait = min(wait, max(0, lastFeedback + configuration.feedbackInterval - now))

            switch try source.next(timeout: wait) {
            case .xLogData(let start, _, _, let data)?:
                try receive(data, at: start)
            case .keepalive(let walEnd, _, let replyRequested)?:
                // The server has sent everything up to walEnd. With nothing
                // pending here, all of it is stored or needs no storing, so
                // it may be confirmed (a server shutdown waits for this).
                // Mid-transaction it may not: the rest has yet to arrive.
                if batch == nil && assembler.isIdle { confirmed = max(confirmed, walEnd) }
                if replyRequested { try sendFeedback() }
            case nil:
                // The stream is quiet: store what is pending now.
                try commitBatch()
            }
            if let batch, batch.events >= configuration.batchEvents || Self.now() - batch.started >= configuration.batchAge {
                try commitBatch()
            }
            if Self.now() - lastFeedback >= configuration.feedbackInterval { try sendFeedback() }
            if batch == nil { try checkpointIfDue() }
        }
    }

    /// Signs the chain head when enough events or time have passed: appended
    /// (and fsynced) to the external file first, then recorded in the store.
    private mutating func checkpointIfDue() throws {
        let configuration = worker.configuration
        guard let file = configuration.checkpointFile, let key = configuration.signingKey, let chainID, chain.seq > 0 else { return }
        let sinceSeq = chain.seq - (lastCheckpoint?.seq ?? 0)
        guard sinceSeq >= configuration.checkpointEvents || Self.now() - lastCheckpointAt >= configuration.checkpointInterval,
              sinceSeq > 0 || lastCheckpoint != nil else { return }
        let now = PostgresTimestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))
        var checkpoint = Checkpoint(chainID: chainID, seq: chain.seq, head: chain.head, time: now, previous: lastCheckpoint?.hash)
        try checkpoint.sign(with: key)
        try file.append(checkpoint)
        try store.connection.execute("""
            INSERT INTO walaudit.checkpoint_log (hash, seq, head, checkpoint_time, previous, signature)
            VALUES (decode($1, 'hex'), $2, decode($3, 'hex'), $4, decode($5, 'hex'), decode($6, 'hex'))
            """, [Hex.encode(checkpoint.hash), String(checkpoint.seq), Hex.encode(checkpoint.head), now.iso8601,
                  checkpoint.previous.map(Hex.encode), Hex.encode(checkpoint.signature)])
        lastCheckpoint = checkpoint
        lastCheckpointAt = Self.now()
    }

    /// One XLogData payload: parse, assemble, and write a committed transaction.
    private mutating func receive(_ data: [UInt8], at lsn: UInt64) throws {
        let record: DecodedRecord
        do {
            record = try TestDecoding.parseRecord(data)
        } catch {
            throw FatalWorkerError(description: "malformed test_decoding output at LSN \(LSN.text(lsn)): \(error). "
                + "Nothing after \(LSN.text(confirmed)) was confirmed, so the slot still holds it")
        }
        guard let transaction = try assembler.handle(record, raw: data, lsn: lsn) else { return }
        guard !transaction.isEmpty else {
            if batch == nil { confirmed = max(confirmed, transaction.commitLSN) }
            return
        }
        try write(transaction)
    }

    private mutating func write(_ transaction: CommittedTransaction) throws {
        if batch == nil {
            try store.connection.execute("BEGIN")
            batch = Batch(started: Self.now(), chainBefore: chain)
        }
        do {
            var count = 0
            try transaction.forEachEvent(builder: builder) { event in
                try store.write(chain.append(event))
                count += 1
            }
            if let tables = transaction.tablesAfter { try saveTables(tables) }
            batch!.events += count
            batch!.lastLSN = transaction.commitLSN
            batch!.lastCommitTime = transaction.commitTime
        } catch {
            abandonBatch()
            throw error
        }
    }

    /// Replaces the stored attached-table set (small; changes rarely).
    private func saveTables(_ tables: [RelationName: TableCapture]) throws {
        try store.finishCopy()
        let slot = worker.configuration.slot
        try store.connection.execute("DELETE FROM walaudit.capture_config WHERE slot = $1", [slot])
        for table in tables.values {
            try store.connection.execute("""
                INSERT INTO walaudit.capture_config (slot, relid, schema_name, table_name, key_columns, exclude_columns, mask_columns)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """, [slot, String(table.relid), table.schemaName, table.tableName, SQLText.array(table.keyColumns),
                      SQLText.array(table.excludeColumns.sorted()), SQLText.array(table.maskColumns.sorted())])
        }
    }

    /// Stores the position with the events and commits; then confirms.
    private mutating func commitBatch() throws {
        guard let open = batch else { return }
        do {
            try store.finishCopy()
            try store.connection.execute("""
                INSERT INTO walaudit.capture_state (slot, source_system_id, last_lsn, last_commit_time, updated_at)
                VALUES ($1, $2, $3::pg_lsn, $4, clock_timestamp())
                ON CONFLICT (slot) DO UPDATE SET last_lsn = EXCLUDED.last_lsn, last_commit_time = EXCLUDED.last_commit_time,
                    source_system_id = EXCLUDED.source_system_id, updated_at = EXCLUDED.updated_at
                """, [worker.configuration.slot, systemID, LSN.text(open.lastLSN), open.lastCommitTime?.iso8601])
            try store.connection.execute("COMMIT")
        } catch {
            abandonBatch()
            throw error
        }
        batch = nil
        confirmed = max(confirmed, open.lastLSN)
        try sendFeedback()
    }

    private mutating func abandonBatch() {
        guard let open = batch else { return }
        store.abandon()
        _ = try? store.connection.execute("ROLLBACK")
        chain = open.chainBefore
        batch = nil
    }

    private mutating func sendFeedback() throws {
        let now = Self.now()
        let micros = Int64(Date().timeIntervalSince1970 * 1_000_000) - postgresEpochOffsetMicroseconds
        try source.send(StandbyStatusUpdate(confirmed: confirmed, clientTime: micros))
        lastFeedback = now
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
