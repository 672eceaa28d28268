import AuditStore
import Capture
import Decoding
import Foundation
import PostgresClient
import Replication

/// One streaming session, read top to bottom like pg_recvlogical's loop.
/// The decisions (when to read, when to confirm what) are the
/// `ReplicationStateMachine`'s; this drives it: receive, assemble, hand
/// committed transactions to the store writer thread, send feedback.
struct Session {
    let worker: CaptureWorker
    let source: ReplicationConnection
    var assembler: TransactionAssembler
    var machine: ReplicationStateMachine
    let startLSN: LSN
    /// Baselines left unfinished by an earlier session, resumed at start.
    let pendingBaselines: [BaselineProgress.Pending]
    private var baselines: BaselineReader?
    /// Looks for changes escaping capture between steps; nil: never.
    var coverage: CoverageCheck?
    /// Reads the slot's lag for the metrics and systemd between steps; nil: never.
    var monitor: SlotMonitor?
    /// Commit LSN and time (µs since 1970) of each transaction handed over
    /// and not yet stored, oldest first from `unstoredStart`: the oldest is
    /// what the lag in seconds is measured from.
    private var unstored: [(lsn: LSN, time: Int64)] = []
    private var unstoredStart = 0

    /// `shouldStop` is looked at least this often (seconds).
    static let stopCheckInterval = 0.25

    init(worker: CaptureWorker, source: ReplicationConnection, state: CaptureState, pendingBaselines: [BaselineProgress.Pending]) {
        self.worker = worker
        self.source = source
        self.pendingBaselines = pendingBaselines
        startLSN = state.lastLSN
        assembler = TransactionAssembler(tables: state.tables, memoryLimit: worker.configuration.memoryLimit)
        let logger = worker.logger
        assembler.warn = { logger.warning("\($0)") }
        var settings = ReplicationStateMachine.Settings()
        settings.feedbackInterval = worker.configuration.feedbackInterval
        settings.pausedFeedbackInterval = worker.configuration.pausedFeedbackInterval
        machine = ReplicationStateMachine(startingAt: state.lastLSN, now: monotonicSeconds(), settings: settings)
    }

    /// Streams until the worker is asked to stop (then stores what was
    /// handed over and confirms it) or an error.
    mutating func stream(into writer: BatchWriter) throws {
        let configuration = worker.configuration
        let handoff = Handoff(stored: startLSN, changeLimit: configuration.handoffChanges, byteLimit: configuration.handoffBytes)
        writer.resumeBaselines(pendingBaselines.map { ($0.baselineID, $0.table) })
        nonisolated(unsafe) let writer = writer  // moved to the writer thread: this one no longer touches it
        let thread = Thread { writer.run(handoff) }
        thread.name = "walaudit-store-writer"
        thread.start()
        defer { handoff.cancel() }  // after a failure: the writer stops and rolls its open batch back
        let baselines = startBaselines(stored: { handoff.durable })
        defer { baselines.stop() }
        while true {
            if let news = try handoff.news() {
                machine.stored(upTo: news.stored)
                machine.store(full: news.full)
                forgetUnstored(upTo: news.stored)
            }
            if worker.shouldStop() { return try finish(handoff) }
            let now = monotonicSeconds()
            worker.notifier?.pingWatchdogIfDue(now: now)  // from this loop: a stuck loop stops the pings
            try coverage?.runIfDue(now: now)
            try monitor?.runIfDue(now: now)
            switch machine.nextStep(now: now) {
            case .sendFeedback(let lsn):
                try sendFeedback(lsn)
            case .read(let deadline, let gather):
                let timeout = min(deadline - now, Self.stopCheckInterval)
                let message = try source.next(timeout: timeout, gather: gather, wake: handoff.wake) { try ReplicationMessage.decode($0) }
                guard let message else {
                    handoff.drainWake()  // the wait may have ended for the writer's news
                    continue
                }
                guard let delivery = machine.receive(message, now: monotonicSeconds(), readerIdle: assembler.isIdle),
                      let transaction = try assemble(delivery) else { continue }
                let full = handoff.put(transaction)
                machine.handedOver(upTo: transaction.commitLSN)
                if transaction.baselineChunk == nil {  // a baseline's chunk is no source commit waiting
                    if unstoredStart == unstored.count { worker.metrics.oldestUnstored(transaction.commitTime.microsecondsSinceEpoch) }
                    unstored.append((transaction.commitLSN, transaction.commitTime.microsecondsSinceEpoch))
                }
                for request in transaction.baselineRequests {
                    baselines.enqueue(request, members: members(of: request.table))
                }
                machine.store(full: full)
            case .waitForStore(let deadline):
                handoff.waitForNews(until: min(deadline, now + Self.stopCheckInterval))
            }
        }
    }

    /// Stores what was handed over (an unfinished transaction stays in the
    /// slot) and confirms it. Feedback goes on while the store drains.
    private mutating func finish(_ handoff: Handoff) throws {
        worker.notifier?.stopping()
        handoff.requestFinish()
        while true {
            worker.notifier?.pingWatchdogIfDue(now: monotonicSeconds())
            let interval = worker.configuration.pausedFeedbackInterval
            if let stored = try handoff.writerResult(until: monotonicSeconds() + interval) {
                machine.stored(upTo: stored)
                break
            }
            machine.stored(upTo: handoff.durable)
            try sendFeedback(machine.confirmable)
        }
        try sendFeedback(machine.confirmable)
        worker.logger.info("stopped", metadata: ["confirmed_lsn": "\(machine.confirmed)"])
    }

    /// Drops the transactions stored up to `lsn` from `unstored` and tells
    /// the metrics which commit is now the oldest waiting.
    private mutating func forgetUnstored(upTo lsn: LSN) {
        while unstoredStart < unstored.count && unstored[unstoredStart].lsn <= lsn { unstoredStart += 1 }
        worker.metrics.oldestUnstored(unstoredStart < unstored.count ? unstored[unstoredStart].time : nil)
        if unstoredStart > 4096 && unstoredStart * 2 > unstored.count {
            unstored.removeFirst(unstoredStart)
            unstoredStart = 0
        }
    }

    /// The baseline reader's thread, with the baselines an earlier session left unfinished.
    private mutating func startBaselines(stored: @escaping @Sendable () -> LSN) -> BaselineReader {
        let reader = BaselineReader(source: worker.configuration.source, chunkRows: worker.configuration.baselineChunkRows,
                                    logger: worker.logger, stored: stored)
        for pending in pendingBaselines {
            guard let table = assembler.tables.values.first(where: { $0.relid == pending.relid })
            else {
                worker.logger.warning("a baseline cannot go on: its table is no longer attached", metadata: ["table": "\(pending.table)"])
                continue
            }
            let request = BaselineRequest(baselineID: pending.baselineID, table: table, actor: pending.actor, requestLSN: pending.requestLSN)
            reader.enqueue(request, members: members(of: table), resume: pending)
        }
        let thread = Thread { reader.run() }
        thread.name = "walaudit-baseline"
        thread.start()
        baselines = reader
        return reader
    }

    /// The partitions and children captured under `table` now.
    private func members(of table: TableCapture) -> [TableCapture] {
        assembler.tables.values.filter { $0.rootRelid == table.relid }
    }

    /// One XLogData payload: parse and assemble; a COMMIT yields its transaction.
    private mutating func assemble(_ delivery: Delivery) throws -> CommittedTransaction? {
        // Records of tables nobody audits (the store's own, when it shares
        // the database) are passed over after their first words.
        let record: DecodedRecord
        do {
            guard let parsed = try TestDecoding.parseRecord(delivery.data, skipping: { !self.assembler.captures($0) }) else { return nil }
            record = parsed
        } catch {
            throw FatalWorkerError("malformed test_decoding output at LSN \(delivery.lsn): \(error). "
                + "Nothing after \(machine.confirmable) was confirmed, so the slot still holds it")
        }
        // A baseline chunk's mark: its rows are stored here, in stream order
        // (a non-transactional message sits between transactions).
        if case .message(let message) = record, !message.transactional, message.prefix == BaselineReader.markPrefix {
            guard let chunk = baselines?.take(mark: message.content) else { return nil }
            return .baseline(chunk, mark: delivery.lsn)
        }
        return try assembler.handle(record, raw: delivery.data, lsn: delivery.lsn)
    }

    private mutating func sendFeedback(_ lsn: LSN) throws {
        let micros = Int64(Date().timeIntervalSince1970 * 1_000_000) - postgresEpochOffsetMicroseconds
        try source.send(StandbyStatusUpdate(confirmed: lsn, clientTime: micros).encoded)
        machine.feedbackSent(lsn, now: monotonicSeconds())
    }
}
