import AuditStore
import Foundation
import Logging
import PostgresClient
import Service

/// The capture worker: reads the slot, turns committed transactions into
/// chained events, stores them together with the source LSN they cover in
/// one target transaction, and only then confirms that LSN to the server.
///
/// Exactly once: after any crash the worker resumes from the LSN stored with
/// the events (the server starts no earlier than what was confirmed, which
/// is never beyond what is stored), so a transaction is neither lost nor
/// stored twice. Errors marked passing where they were made (a lost
/// connection, a full disk, a shutdown) are retried with backoff; any other
/// stops the worker with the fix.
///
/// It keeps `metrics` up to date and, started by systemd with Type=notify,
/// tells the service manager through `notifier` when it streams, how far
/// behind it is, that its loops are alive (the watchdog), and when it stops.
public final class CaptureWorker: Sendable {
    let configuration: WorkerConfiguration
    let logger: Logger
    let metrics: WorkerMetrics
    let notifier: ServiceNotifier?
    let shouldStop: @Sendable () -> Bool

    public init(_ configuration: WorkerConfiguration, logger: Logger, metrics: WorkerMetrics? = nil, notifier: ServiceNotifier? = nil,
                shouldStop: @escaping @Sendable () -> Bool) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics ?? WorkerMetrics(version: walauditVersion, checkpointInterval: configuration.checkpointInterval)
        self.notifier = notifier
        self.shouldStop = shouldStop
    }

    /// Runs until `shouldStop` says so (then drains and returns) or a fatal error.
    public func run() throws {
        var backoff = 1.0
        while !shouldStop() {
            do {
                try runSession { backoff = 1.0 }
                return
            } catch where isTransient(error) {
                metrics.retried(RetryCause(error))
                logger.warning("capture interrupted; retrying", metadata: ["error": "\(error)", "retry_in_seconds": "\(backoff)"])
                notifier?.status("reconnecting: \(error) (retrying in \(Int(backoff)) s)")
                let until = monotonicSeconds() + backoff
                while monotonicSeconds() < until && !shouldStop() {
                    notifier?.pingWatchdogIfDue(now: monotonicSeconds())  // waiting to retry is not being stuck
                    Thread.sleep(forTimeInterval: 0.1)
                }
                backoff = min(backoff * 2, 30)
            } catch {
                throw FatalWorkerError(explaining: error, slot: configuration.slot)
            }
        }
        notifier?.stopping()  // asked to stop between sessions (a session says so itself)
    }

    /// One connected session: load state from the store, claim the slot, stream.
    private func runSession(connected: () -> Void) throws {
        let target = try Connection(configuration.target, overrides: [("application_name", "walaudit-worker")])
        try Self.becomeWriter(target)
        let store = EventStore(connection: target)
        let state = try CaptureState.load(from: target, slot: configuration.slot)
        let (gaps, lastCheckpoint) = (try ChainHead.gapCount(target), try CheckpointLog.newestTime(target))
        let slotGuard = try SlotGuard(source: configuration.source, slot: configuration.slot, lastLSN: state.lastLSN,
                                      store: store, logger: logger)
        let source = try ReplicationConnection(configuration.source, applicationName: SlotGuard.replicationApplicationName)
        let identity = try source.identifySystem()
        if let stored = state.sourceSystemID, stored != identity.systemID {
            throw FatalWorkerError("the audit store belongs to PostgreSQL system \(stored), but the source is system \(identity.systemID); point --source at the database this store audits, or use a new store")
        }
        try source.startReplication(slot: configuration.slot, from: state.lastLSN,
                                    options: [("include-xids", "1"), ("include-timestamp", "1"), ("skip-empty-xacts", "1")])
        connected()
        metrics.sessionStarted(gapEvents: gaps, lastCheckpoint: lastCheckpoint)
        defer { metrics.sessionEnded() }
        logger.info("capturing", metadata: ["slot": "\(configuration.slot)", "from_lsn": "\(state.lastLSN)",
                                            "attached_tables": "\(state.tables.count)"])
        notifier?.ready(status: "streaming from \(state.lastLSN)")
        let writer = try BatchWriter(configuration: configuration, store: store, metrics: metrics, sourceSystemID: identity.systemID,
                                     maskKey: state.maskKey, signer: CheckpointSigner(configuration: configuration, store: target, metrics: metrics,
                                                                              origin: configuration.origin ?? "walaudit/\(identity.systemID)/\(configuration.slot)"))
        let pendingBaselines = try BaselineProgress.pending(slot: configuration.slot, target)
        var session = Session(worker: self, source: source, state: state, pendingBaselines: pendingBaselines)
        session.coverage = CoverageCheck(connection: slotGuard.connection, interval: configuration.coverageCheckInterval, logger: logger)
        session.monitor = SlotMonitor(connection: slotGuard.connection, slot: configuration.slot, metrics: metrics, notifier: notifier,
                                      logger: logger)
        try withExtendedLifetime(slotGuard) { try session.stream(into: writer) }
    }

    /// The store is written as walaudit_writer, which may only insert
    /// events, whatever login the worker was given.
    static func becomeWriter(_ target: Connection) throws {
        let member = try target.execute("SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = 'walaudit_writer'")
        guard let isMember = member.scalar else {
            throw FatalWorkerError("the audit store has no walaudit_writer role: run `walaudit setup` first")
        }
        guard isMember == "t" else {
            let login = try target.execute("SELECT session_user").scalar ?? "?"
            throw FatalWorkerError("the worker writes the audit store as walaudit_writer, but its login \(login) is not a member: GRANT walaudit_writer TO \(SQLText.identifier(login))")
        }
        try target.execute("SET ROLE walaudit_writer")
        // Its queries are small and many (a baseline's key probes): JIT
        // compiling them costs more than running them.
        try target.execute("SET jit = off")
    }
}
