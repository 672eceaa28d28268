import AuditStore
import Logging
import PostgresClient
import Service

/// Every few seconds, reads how far the slot is behind and how much WAL it
/// keeps on the source's disk (as `walaudit status` does) for the metrics,
/// and tells systemd the lag in a STATUS line. It runs on the slot guard's
/// connection, between the session's steps.
struct SlotMonitor {
    let connection: Connection
    let slot: String
    let metrics: WorkerMetrics
    let notifier: ServiceNotifier?
    let logger: Logger
    private var due: Double
    private var failing = false

    static let interval = 5.0

    init(connection: Connection, slot: String, metrics: WorkerMetrics, notifier: ServiceNotifier?, logger: Logger) {
        (self.connection, self.slot, self.metrics, self.notifier, self.logger) = (connection, slot, metrics, notifier, logger)
        due = monotonicSeconds()
    }

    /// Reads the slot if it is due. Only a lost connection is thrown (the
    /// session starts again); any other failure is logged once and the
    /// reading tried again at the next interval, while capture goes on.
    mutating func runIfDue(now: Double) throws(PostgresError) {
        guard now >= due else { return }
        due = now + Self.interval
        do {
            if let reading = try ReplicationSlot.read(connection, slot: slot) {
                metrics.slotRead(lagBytes: reading.lagBytes, retainedBytes: reading.retainedBytes)
            }
            failing = false
        } catch where error.connectionLost {
            throw error
        } catch {
            if !failing { logger.error("cannot read the slot's lag for the metrics; capture goes on", metadata: ["error": "\(error)"]) }
            failing = true
        }
        notifier?.status("streaming: " + metrics.summary)
    }
}
