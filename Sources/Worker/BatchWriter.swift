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
    private let metrics: WorkerMetrics
    private let sourceSystemID: String
    private let builder: EventBuilder
    private let signer: CheckpointSigner?
    private var chain: Chain
    /// The Merkle tree's right edge, in step with `chain` while a batch is
    /// open; nil when it must be read again (first batch, after a failed
    /// one, or when SQL appended events since).
    private var tree: MerkleFrontier?
    /// Whether the store keeps the tree (`walaudit setup` of this release
    /// made `walaudit.merkle_nodes`; a store not upgraded yet goes on without).
    private let keepsTree: Bool
    /// Tree nodes the open batch closed, stored with its events.
    private var closedNodes: [(level: Int, index: Int64, hash: [UInt8])] = []
    private var batch: Batch?
    private var lastCommitAt = -Double.infinity
    /// For each baseline being read (by id): the keys rows of its table
    /// left by a key-changing UPDATE (e.g. a move between partitions) since
    /// its last chunk. Such an UPDATE is stored under the new key, so the
    /// store cannot tell that the old key changed; the next chunk may have
    /// read the row under its old key before it moved (a chunk is read
    /// after the previous chunk's mark), and must not record it. Kept per
    /// baseline: two of one table (its own and a partition's that joined
    /// with rows) each clear their own after each chunk.
    private var movedKeys: [Int64: MovedKeys] = [:]

    private struct MovedKeys {
        var table: RelationName
        var keys: Set<String> = []
    }

    /// An open store transaction.
    private struct Batch {
        var started: Double
        var events = 0
        var lastLSN: LSN = .zero
        var lastCommitTime: PostgresTimestamp?
        /// The chain before the batch, restored if it fails.
        var chainBefore: Chain
        /// What the metrics learn when it commits.
        var tally = BatchTally()
    }

    init(configuration: WorkerConfiguration, store: EventStore, metrics: WorkerMetrics, sourceSystemID: String, maskKey: [UInt8],
         signer: CheckpointSigner?) throws {
        self.configuration = configuration
        self.store = store
        self.metrics = metrics
        self.sourceSystemID = sourceSystemID
        self.signer = signer
        builder = EventBuilder(maskKey: maskKey)
        chain = try store.loadChain()
        keepsTree = try MerkleStore.exists(store.connection)
    }

    /// Baselines an earlier session left unfinished: their moved keys are
    /// tracked from the start of this one.
    func resumeBaselines(_ baselines: [(id: Int64, table: RelationName)]) {
        for baseline in baselines { movedKeys[baseline.id] = MovedKeys(table: baseline.table) }
        metrics.baselines(inProgress: movedKeys.count)
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
            if keepsTree && tree?.size != chain.seq {
                try MerkleStore.extend(store.connection)
                var reader = MerkleStore(store.connection)
                tree = try reader.frontier(size: chain.seq)
            }
            batch = Batch(started: monotonicSeconds(), chainBefore: chain)
        }
        var count = 0
        if let chunk = transaction.baselineChunk {
            count = try writeBaseline(chunk, mark: transaction.commitLSN)
        }
        try transaction.forEachEvent(builder: builder) { event in
            if !movedKeys.isEmpty { noteMovedKey(event) }
            try append(event)
            count += 1
        }
        if let tables = transaction.tablesAfter {
            try store.finishCopy()
            try CaptureState.saveTables(store.connection, slot: configuration.slot, tables)
        }
        if !transaction.baselineRequests.isEmpty {
            try store.finishCopy()
            try BaselineProgress.record(transaction.baselineRequests, slot: configuration.slot, store.connection)
            for request in transaction.baselineRequests {
                movedKeys[request.baselineID] = MovedKeys(table: RelationName(schema: request.table.schemaName, table: request.table.tableName))
            }
        }
        batch!.events += count
        batch!.lastLSN = transaction.commitLSN
        batch!.lastCommitTime = transaction.commitTime
        if transaction.baselineChunk == nil {
            batch!.tally.transactions += 1
            batch!.tally.newestCommit = transaction.commitTime.microsecondsSinceEpoch
        }
        return nil
    }

    /// A chunk of baseline rows: a SNAPSHOT event for each row whose key has
    /// no event since the request (the others' history shows them), the
    /// closing event after the last chunk, and the progress, all in the open
    /// batch. Returns the number of events.
    private func writeBaseline(_ chunk: BaselineChunk, mark: LSN) throws -> Int {
        let request = chunk.request
        let snapshots = try chunk.rows.map { try builder.snapshotEvent($0, chunk: chunk, lsn: mark) }
        try store.finishCopy()  // the query below must see the batch's events
        let recordedBefore = try BaselineProgress.rowsRecorded(slot: configuration.slot, baselineID: request.baselineID, store.connection)
        let name = RelationName(schema: request.table.schemaName, table: request.table.tableName)
        var changed = try BaselineProgress.keysWithEvents(schema: name.schema, table: name.table,
                                                          keys: snapshots.map { $0.rowKey ?? .null }, since: request.requestLSN,
                                                          store.connection)
        if let moved = movedKeys[request.baselineID]?.keys, !moved.isEmpty {
            for (index, event) in snapshots.enumerated() where moved.contains(event.rowKey?.serialized ?? "") { changed.insert(index) }
        }
        if chunk.finishesBaseline {
            movedKeys[request.baselineID] = nil
        } else {
            movedKeys[request.baselineID]?.keys = []
        }
        var position: Int64 = 0
        for (index, var event) in snapshots.enumerated() where !changed.contains(index) {
            position += 1
            event.lsnPosition = position
            try append(event)
        }
        if chunk.finishesBaseline {
            var done = builder.baselineDoneEvent(request, rows: recordedBefore + position, time: chunk.readTime, lsn: mark)
            position += 1
            done.lsnPosition = position
            try append(done)
        }
        try store.finishCopy()
        try BaselineProgress.save(chunk, slot: configuration.slot, recorded: snapshots.count - changed.count,
                                  skipped: changed.count, store.connection)
        batch!.tally.baselineRowsRecorded += snapshots.count - changed.count
        batch!.tally.baselineRowsSkipped += changed.count
        return Int(position)
    }

    /// Chains an event, queues it for the COPY and adds it to the tree.
    private func append(_ event: AuditEvent) throws {
        let chained = chain.append(event)
        try store.write(chained)
        batch!.tally.add(event.operation)
        if keepsTree { closedNodes += chained.hash.withUnsafeBytes { tree!.append(leafData: $0) } }
    }

    /// Remembers the old key of a key-changing UPDATE of a table being baselined.
    private func noteMovedKey(_ event: AuditEvent) {
        guard event.operation == .update, let schema = event.schemaName, let table = event.tableName,
              case .object(let key)? = event.rowKey, let old = event.oldRow else { return }
        let name = RelationName(schema: schema, table: table)
        let oldKey = JSONValue.object(key.map { .init($0.key, old[$0.key] ?? .null) })
        guard oldKey != event.rowKey else { return }
        for (id, watch) in movedKeys where watch.table == name { movedKeys[id]!.keys.insert(oldKey.serialized) }
    }

    /// Stores the position with the events and commits; returns the position.
    private func commitBatch() throws -> LSN {
        guard let open = batch else { preconditionFailure("no batch to commit") }
        let started = monotonicSeconds()
        try store.finishCopy()
        try MerkleStore.write(closedNodes, store.connection)
        closedNodes = []
        try CaptureState.savePosition(store.connection, slot: configuration.slot, sourceSystemID: sourceSystemID,
                                      lsn: open.lastLSN, commitTime: open.lastCommitTime)
        try store.connection.execute("COMMIT")
        batch = nil
        lastCommitAt = monotonicSeconds()
        metrics.committed(open.tally, seconds: lastCommitAt - started, baselinesInProgress: movedKeys.count)
        return open.lastLSN
    }

    private func abandonBatch() {
        guard let open = batch else { return }
        store.abandon()
        _ = try? store.connection.execute("ROLLBACK")
        chain = open.chainBefore
        tree = nil
        closedNodes = []
        batch = nil
    }
}
