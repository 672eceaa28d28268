import Capture
import Decoding
import Foundation
import AuditStore
import Ledger
import PostgresClient
import Replication

/// The store side of a session, on a thread of its own: it turns committed
/// source transactions into chained events, writes them with COPY, commits
/// batches together with the source position, signs checkpoints, and
/// publishes the LSN up to which everything is durable. Reading the stream
/// and writing the store overlap instead of taking turns.
///
/// Transactions are handed over through `submit` in commit order; the
/// reader only ever confirms `confirmable` to the server.
final class StoreWriter: @unchecked Sendable {  // all shared state is guarded by `condition`
    private let condition = NSCondition()
    private var queue: [CommittedTransaction] = []
    private var queuedChanges = 0
    private var queuedBytes = 0
    private var working = false
    private var finishing = false
    private var failure: (any Error)?
    private var durable: LSN
    private var thread: Thread?

    // Owned by the writer thread alone.
    private let worker: CaptureWorker
    private let store: EventStore
    private let systemID: String
    private var chain: Chain
    private let builder: EventBuilder
    private var batch: Batch?
    private var lastCheckpoint: Checkpoint?
    private var lastCheckpointAt = 0.0
    private var lastCommitAt = 0.0
    private var chainID: String?

    /// Transactions waiting beyond this many buffered changes, or this much
    /// memory, make `submit` wait: memory stays bounded when the store is
    /// slower than the stream.
    static let queueLimit = 50_000
    static let queueMemoryLimit = 64 << 20

    struct Batch {
        var started: Double
        var events = 0
        var lastLSN: LSN = .zero
        var lastCommitTime: PostgresTimestamp?
        /// The chain before the batch, restored if it fails.
        var chainBefore: Chain
    }

    init(worker: CaptureWorker, store: EventStore, systemID: String, state: StoredState, chain: Chain) throws {
        self.worker = worker
        self.store = store
        self.systemID = systemID
        self.chain = chain
        durable = state.lastLSN
        builder = EventBuilder(maskKey: state.maskKey)
        if let file = worker.configuration.checkpointFile {
            lastCheckpoint = try file.readAll().last
            chainID = try store.connection.execute("SELECT chain_id::text FROM walaudit.chain").scalar
            // A new chain starts a new file with its own genesis checkpoint;
            // continuing another chain's file would hide the restart.
            if let other = lastCheckpoint?.chainID, other != chainID {
                throw FatalWorkerError(description: "the checkpoint file \(file.path) belongs to chain \(other), but this audit store is chain \(chainID ?? "?"): give a new chain a new --checkpoint-dir, so its first checkpoint is an explicit genesis")
            }
        }
        let thread = Thread { [self] in run() }
        thread.name = "walaudit-store-writer"
        self.thread = thread
        thread.start()
    }

    // MARK: Reader side

    /// Hands over the next committed transaction (waits while the queue is full).
    func submit(_ transaction: CommittedTransaction) throws {
        condition.lock()
        defer { condition.unlock() }
        while (queuedChanges >= Self.queueLimit || queuedBytes >= Self.queueMemoryLimit) && failure == nil { condition.wait() }
        if let failure { throw failure }
        queue.append(transaction)
        queuedChanges += transaction.changeCount
        queuedBytes += transaction.memoryBytes
        condition.broadcast()
    }

    /// Everything up to here is stored, or needed no storing.
    var confirmable: LSN {
        condition.lock()
        defer { condition.unlock() }
        return durable
    }

    /// The server says it sent everything up to `lsn`; if nothing is
    /// pending here either, all of it is settled and may be confirmed.
    /// Never after a failure: work taken off the queue may have died unstored.
    func settleIfIdle(upTo lsn: LSN) {
        condition.lock()
        defer { condition.unlock() }
        if queue.isEmpty && !working && failure == nil && thread != nil { durable = max(durable, lsn) }
    }

    /// The writer's error, if it stopped on one.
    func checkFailure() throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
    }

    /// Stores what was handed over, commits, and stops the thread.
    func finish() throws {
        condition.lock()
        finishing = true
        condition.broadcast()
        while thread != nil { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure { throw failure }
    }

    /// Stops the thread without storing what is queued (the session
    /// failed): an open batch is rolled back. No-op once the thread ended.
    func stop() {
        condition.lock()
        if thread != nil && failure == nil { failure = CancellationError() }
        condition.broadcast()
        while thread != nil { condition.wait() }
        condition.unlock()
    }

    // MARK: Writer thread

    private func run() {
        do {
            try loop()
        } catch {
            condition.lock()
            if failure == nil { failure = error }
            condition.unlock()
        }
        abandonBatch()  // after a failure or a stop; nothing is open after a clean finish
        condition.lock()
        thread = nil
        working = false
        condition.broadcast()
        condition.unlock()
    }

    /// Takes what was handed over, writes it, commits; until finished or stopped.
    private func loop() throws {
        while true {
            condition.lock()
            while queue.isEmpty && !finishing && failure == nil {
                if batch != nil {
                    // Caught up with a batch open: it commits once the last
                    // commit is commitInterval old; what arrives meanwhile joins it.
                    let wait = lastCommitAt + worker.configuration.commitInterval - monotonicSeconds()
                    if wait <= 0 { break }
                    _ = condition.wait(until: Date().addingTimeInterval(wait))
                    continue
                }
                // Idle: wake up for heartbeat checkpoints.
                _ = condition.wait(until: Date().addingTimeInterval(min(1, worker.configuration.checkpointInterval)))
                if queue.isEmpty && batch == nil && !finishing && failure == nil {
                    condition.unlock()
                    try checkpointIfDue()
                    condition.lock()
                }
            }
            if failure != nil { condition.unlock(); return }
            let work = queue
            queue.removeAll()
            working = !work.isEmpty || batch != nil
            let done = finishing && work.isEmpty
            condition.unlock()

            for transaction in work { try write(transaction) }
            condition.lock()
            queuedChanges -= work.reduce(0) { $0 + $1.changeCount }
            queuedBytes -= work.reduce(0) { $0 + $1.memoryBytes }
            let caughtUp = queue.isEmpty
            let stopping = finishing
            condition.broadcast()
            condition.unlock()
            // Commit when caught up with the stream (and the last commit is
            // commitInterval old, or this is the last batch), or when the batch is big or old.
            let now = monotonicSeconds()
            if let open = batch, caughtUp && (now - lastCommitAt >= worker.configuration.commitInterval || stopping)
                || open.events >= worker.configuration.batchEvents || now - open.started >= worker.configuration.batchAge {
                try commitBatch()
            }
            condition.lock()
            working = batch != nil  // an open batch is unsettled work: settleIfIdle must not pass it
            condition.broadcast()
            condition.unlock()
            if batch == nil { try checkpointIfDue() }
            if done { return }
        }
    }

    private func write(_ transaction: CommittedTransaction) throws {
        guard !transaction.isEmpty else {
            if batch == nil {
                condition.lock()
                durable = max(durable, transaction.commitLSN)
                condition.unlock()
            } else {
                batch!.lastLSN = transaction.commitLSN
            }
            return
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
        if let tables = transaction.tablesAfter { try saveTables(tables) }
        batch!.events += count
        batch!.lastLSN = transaction.commitLSN
        batch!.lastCommitTime = transaction.commitTime
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
                """, [slot, String(table.relid), table.schemaName, table.tableName, TextArray.literal(table.keyColumns),
                      TextArray.literal(table.excludeColumns.sorted()), TextArray.literal(table.maskColumns.sorted())])
        }
    }

    /// Stores the position with the events and commits; then publishes it.
    private func commitBatch() throws {
        guard let open = batch else { return }
        try store.finishCopy()
        try store.connection.execute("""
            INSERT INTO walaudit.capture_state (slot, source_system_id, last_lsn, last_commit_time, updated_at)
            VALUES ($1, $2, $3::pg_lsn, $4, clock_timestamp())
            ON CONFLICT (slot) DO UPDATE SET last_lsn = EXCLUDED.last_lsn, last_commit_time = EXCLUDED.last_commit_time,
                source_system_id = EXCLUDED.source_system_id, updated_at = EXCLUDED.updated_at
            """, [worker.configuration.slot, systemID, open.lastLSN.description, open.lastCommitTime?.iso8601])
        try store.connection.execute("COMMIT")
        batch = nil
        lastCommitAt = monotonicSeconds()
        condition.lock()
        durable = max(durable, open.lastLSN)
        condition.unlock()
    }

    private func abandonBatch() {
        guard let open = batch else { return }
        store.abandon()
        _ = try? store.connection.execute("ROLLBACK")
        chain = open.chainBefore
        batch = nil
    }

    /// Signs the chain head when enough events or time have passed: appended
    /// (and fsynced) to the external file first, then recorded in the store.
    private func checkpointIfDue() throws {
        let configuration = worker.configuration
        guard let file = configuration.checkpointFile, let key = configuration.signingKey, let chainID,
              chain.seq - (lastCheckpoint?.seq ?? 0) >= configuration.checkpointEvents
                || monotonicSeconds() - lastCheckpointAt >= configuration.checkpointInterval else { return }
        // Only when due, so not once per batch: POLICY events may have been added from SQL.
        chain = try store.loadChain()
        guard chain.seq > 0, chain.seq > (lastCheckpoint?.seq ?? 0) || lastCheckpoint != nil else { return }
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
        lastCheckpointAt = monotonicSeconds()
    }
}
