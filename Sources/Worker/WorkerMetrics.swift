import AuditStore
import Foundation
import Ledger
import Prometheus
import Synchronization

/// What the worker tells Prometheus (`walaudit run --metrics-address`).
///
/// Counters, gauges and histograms are swift-prometheus's (the Swift Server
/// Workgroup's client, in the package mirror: its exposition writer follows
/// the text format 0.0.4 and its counters and gauges are atomics). The hot
/// path pays little: the store writer adds a batch's counts once per store
/// commit, the reader one array append per source transaction; lag and the
/// checkpoint's age are computed only when scraped. Names follow Prometheus's
/// conventions: `walaudit_` prefix, base units, `_total` for counters.
public final class WorkerMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    /// By operation, in `operations` order.
    private let eventsStored: [Counter]
    private let transactionsStored: Counter
    private let commitSeconds: ValueHistogram
    private let batchEvents: ValueHistogram
    private let retries: [RetryCause: Counter]
    private let gapEvents: Gauge
    private let lagBytes: Gauge
    private let lagSeconds: Gauge
    private let retainedBytes: Gauge
    private let checkpointAge: Gauge
    private let baselineRowsRecorded: Counter
    private let baselineRowsSkipped: Counter
    private let baselinesInProgress: Gauge
    private let streaming: Gauge

    /// µs since 1970 of the oldest source commit read but not yet stored; 0: none.
    private let oldestUnstoredCommit = Atomic<Int64>(0)
    /// µs since 1970 of the newest source commit stored; 0: none yet.
    private let newestStoredCommit = Atomic<Int64>(0)
    /// µs since 1970 of the newest signed checkpoint; 0: none known.
    private let lastCheckpoint = Atomic<Int64>(0)
    /// The slot's lag in bytes as last read, for the STATUS line and lag in seconds.
    private let lastLagBytes = Atomic<Int64>(0)
    private let storedSinceStart = Atomic<Int64>(0)

    /// WAL waiting beyond this with nothing read means a backlog the server
    /// is still decoding (as `walaudit status` reads it).
    static let backlogBytes: Int64 = 16 << 20

    /// `version` is walaudit's (`walaudit_build_info`); `checkpointInterval`
    /// the worker's, which the alert on stale checkpoints compares with.
    public init(version: String, checkpointInterval: Double) {
        func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        eventsStored = Self.operations.map { operation in
            registry.makeCounter(descriptor: describe("walaudit_events_stored_total", "Events this worker stored in the chain, by operation."),
                                 labels: [("operation", operation.rawValue)])
        }
        transactionsStored = registry.makeCounter(descriptor: describe("walaudit_source_transactions_stored_total",
                                                                       "Source transactions whose events this worker stored."))
        commitSeconds = registry.makeValueHistogram(
            descriptor: describe("walaudit_store_commit_duration_seconds",
                                 "Time to make one batch durable in the store: end its COPY, store tree nodes and position, COMMIT."),
            labels: [], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
        batchEvents = registry.makeValueHistogram(
            descriptor: describe("walaudit_store_batch_events", "Events per store commit."),
            labels: [], buckets: [1, 10, 100, 1000, 5000, 10000, 20000, 50000])
        retries = Dictionary(uniqueKeysWithValues: RetryCause.allCases.map { cause in
            (cause, registry.makeCounter(descriptor: describe("walaudit_retries_total",
                                                              "Capture sessions interrupted by an error that passes, and retried, by cause."),
                                         labels: [("cause", cause.rawValue)]))
        })
        gapEvents = registry.makeGauge(descriptor: describe("walaudit_gap_events",
                                                            "GAP events in the chain: places where the trail says it is incomplete."))
        lagBytes = registry.makeGauge(descriptor: describe("walaudit_replication_lag_bytes",
                                                           "WAL written on the source since the position the worker confirmed (as walaudit status's lag_bytes), read every 5 s."))
        lagSeconds = registry.makeGauge(descriptor: describe("walaudit_replication_lag_seconds",
                                                             "Age of the oldest source commit read and not yet stored; with nothing read while more than 16 MiB of WAL waits, the age of the newest stored commit; else 0."))
        retainedBytes = registry.makeGauge(descriptor: describe("walaudit_slot_retained_wal_bytes",
                                                                "WAL the replication slot keeps on the source's disk, read every 5 s."))
        checkpointAge = registry.makeGauge(descriptor: describe("walaudit_checkpoint_age_seconds",
                                                                "Seconds since the newest signed checkpoint (+Inf: none yet)."))
        registry.makeGauge(descriptor: describe("walaudit_checkpoint_interval_seconds",
                                                "The worker's --checkpoint-interval: a checkpoint is signed at least this often, also when idle."))
            .set(to: checkpointInterval)
        baselineRowsRecorded = registry.makeCounter(descriptor: describe("walaudit_baseline_rows_recorded_total",
                                                                         "Existing rows recorded as SNAPSHOT events by baselines."))
        baselineRowsSkipped = registry.makeCounter(descriptor: describe("walaudit_baseline_rows_skipped_total",
                                                                        "Rows a baseline read but did not record: they changed since the attach, and their own events show them."))
        baselinesInProgress = registry.makeGauge(descriptor: describe("walaudit_baselines_in_progress", "Baselines being taken."))
        streaming = registry.makeGauge(descriptor: describe("walaudit_streaming",
                                                            "1 while the worker streams from the slot, 0 while it connects or retries."))
        registry.makeGauge(descriptor: describe("walaudit_start_time_seconds", "When the worker started, in seconds since 1970."))
            .set(to: Date().timeIntervalSince1970)
        registry.makeGauge(descriptor: describe("walaudit_build_info", "walaudit's version, as a label; the value is 1."),
                           labels: [("version", version)])
            .set(to: 1)
    }

    /// The exposition text, computing the gauges that depend on the time.
    public func exposition() -> [UInt8] {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        lagSeconds.set(to: currentLagSeconds(now: now))
        let checkpoint = lastCheckpoint.load(ordering: .relaxed)
        checkpointAge.set(to: checkpoint == 0 ? .infinity : Double(max(0, now - checkpoint)) / 1_000_000)
        return registry.emitToBuffer()
    }

    private func currentLagSeconds(now: Int64) -> Double {
        let oldest = oldestUnstoredCommit.load(ordering: .relaxed)
        if oldest != 0 { return Double(max(0, now - oldest)) / 1_000_000 }
        let newest = newestStoredCommit.load(ordering: .relaxed)
        guard lastLagBytes.load(ordering: .relaxed) > Self.backlogBytes, newest != 0 else { return 0 }
        return Double(max(0, now - newest)) / 1_000_000
    }

    /// The lag and what was stored since start, for systemd's STATUS line.
    var summary: String {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let lag = (currentLagSeconds(now: now) * 10).rounded() / 10
        return "lag \(lag) s, \(StoreStatus.formatBytes(lastLagBytes.load(ordering: .relaxed))) of WAL; "
            + "\(storedSinceStart.load(ordering: .relaxed)) events stored since start"
    }

    // MARK: Updates

    /// A session starts streaming: what the store holds already.
    func sessionStarted(gapEvents gaps: Int64, lastCheckpoint checkpoint: Int64?) {
        gapEvents.set(to: Double(gaps))
        if let checkpoint { lastCheckpoint.store(checkpoint, ordering: .relaxed) }
        streaming.set(to: 1)
    }

    func sessionEnded() {
        streaming.set(to: 0)
        oldestUnstoredCommit.store(0, ordering: .relaxed)
    }

    /// The reader's view: the oldest commit it handed over that is not stored yet.
    func oldestUnstored(_ microseconds: Int64?) {
        oldestUnstoredCommit.store(microseconds ?? 0, ordering: .relaxed)
    }

    /// A store commit made `batch` durable in `seconds`.
    func committed(_ batch: BatchTally, seconds: Double, baselinesInProgress baselines: Int) {
        for (index, count) in batch.events.enumerated() where count > 0 {
            eventsStored[index].increment(by: Int64(count))
        }
        let events = batch.events.reduce(0, +)
        storedSinceStart.add(Int64(events), ordering: .relaxed)
        transactionsStored.increment(by: Int64(batch.transactions))
        if batch.gaps > 0 { gapEvents.increment(by: Double(batch.gaps)) }
        if batch.baselineRowsRecorded > 0 { baselineRowsRecorded.increment(by: Int64(batch.baselineRowsRecorded)) }
        if batch.baselineRowsSkipped > 0 { baselineRowsSkipped.increment(by: Int64(batch.baselineRowsSkipped)) }
        baselinesInProgress.set(to: Double(baselines))
        if let newest = batch.newestCommit { newestStoredCommit.store(newest, ordering: .relaxed) }
        commitSeconds.record(seconds)
        batchEvents.record(Double(events))
    }

    func baselines(inProgress count: Int) {
        baselinesInProgress.set(to: Double(count))
    }

    func checkpointSigned(at microseconds: Int64) {
        lastCheckpoint.store(microseconds, ordering: .relaxed)
    }

    /// The slot as read from the source.
    func slotRead(lagBytes lag: Int64?, retainedBytes retained: Int64?) {
        lastLagBytes.store(lag ?? 0, ordering: .relaxed)
        lagBytes.set(to: Double(lag ?? 0))
        retainedBytes.set(to: Double(retained ?? 0))
    }

    func retried(_ cause: RetryCause) {
        retries[cause]!.increment()
    }

    /// The operations, in `BatchTally.events` order.
    static let operations: [AuditEvent.Operation] = [.insert, .update, .delete, .truncate, .snapshot, .ddl, .policy, .gap]
}

/// What one store batch holds, counted as it is written and reported when it commits.
struct BatchTally {
    /// Events by operation, in `WorkerMetrics.operations` order.
    var events = [Int](repeating: 0, count: 8)
    var transactions = 0
    var gaps: Int { events[7] }
    var baselineRowsRecorded = 0
    var baselineRowsSkipped = 0
    /// µs since 1970 of the newest source commit in the batch.
    var newestCommit: Int64?

    mutating func add(_ operation: AuditEvent.Operation) {
        let index = switch operation {
        case .insert: 0
        case .update: 1
        case .delete: 2
        case .truncate: 3
        case .snapshot: 4
        case .ddl: 5
        case .policy: 6
        case .gap: 7
        }
        events[index] += 1
    }
}
