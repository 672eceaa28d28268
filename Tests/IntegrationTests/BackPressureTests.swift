import Foundation
import Logging
import PostgresClient
import Synchronization
import Testing
import TestSupport
import Worker

/// A store slower than the stream pauses reading, never feedback.
@Suite(.tags(.drill)) struct BackPressureTests {
    static let rows = 2_000

    /// The store stalls twice for 6 s (a trigger that sleeps) while the
    /// source's walsender runs with a 5 s `wal_sender_timeout` and the
    /// handoff holds only 50 changes, so the reader must stop reading for
    /// longer than the timeout. The walsender must keep its stream (the same
    /// pid before and after), and every change must be stored once.
    @Test func aSlowStoreNeverMakesTheWalsenderTimeOut() throws {
        let drill = try SlowStore(stalls: 2, seconds: 6)
        let worker = try drill.startWorker()
        let walsender = try drill.walsender()
        let started = Date()
        try drill.insertRows()
        try drill.harness.waitForEvents(atLeast: Self.rows, timeout: 90)
        #expect(try drill.stalls() >= 2)
        #expect(Date().timeIntervalSince(started) > 10, "the store stalled for 12 s in all")
        #expect(try drill.walsender() == walsender, "the walsender dropped the stream")
        #expect(worker.stop() == nil)
        try drill.expectEveryRowOnce()
    }
}

/// A source with a 5 s `wal_sender_timeout`, table `t` attached, and a store
/// whose first `stalls` COPYs sleep `seconds` (a trigger on the event log).
private struct SlowStore {
    let harness: WalauditHarness

    init(stalls: Int, seconds: Int) throws {
        harness = try WalauditHarness.make()
        let source = harness.database.connection
        try source.execute("ALTER DATABASE \(SQLText.identifier(harness.database.name)) SET wal_sender_timeout = '5s'")
        try source.execute("CREATE TABLE t (id integer PRIMARY KEY, note text)")
        try harness.expectSuccess(["attach", "t"])
        try harness.storeConnection().execute("""
            CREATE SEQUENCE public.store_stalls;
            CREATE FUNCTION public.stall_store() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                IF nextval('public.store_stalls') <= \(stalls) THEN PERFORM pg_sleep(\(seconds)); END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER stall_store BEFORE INSERT ON walaudit.event_log FOR EACH STATEMENT EXECUTE FUNCTION public.stall_store();
            """)
    }

    /// The worker in this process with a 50-change handoff.
    func startWorker() throws -> InProcessWorker {
        var configuration = WorkerConfiguration(source: harness.database.conninfo, target: harness.database.conninfo, slot: harness.slot)
        configuration.handoffChanges = 50
        return InProcessWorker(configuration)
    }

    /// 2,000 rows in 100 transactions.
    func insertRows() throws {
        for batch in 0..<BackPressureTests.rows / 20 {
            try harness.database.connection.execute(
                "INSERT INTO t SELECT g, 'row ' || g FROM generate_series($1::int * 20 + 1, $1::int * 20 + 20) g", [String(batch)])
        }
    }

    /// How many COPYs reached the stalling trigger.
    func stalls() throws -> Int {
        Int(try harness.storeConnection().execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.store_stalls").scalar ?? "") ?? 0
    }

    /// The pid of the walsender streaming the slot, once there is one.
    func walsender() throws -> String {
        for _ in 0..<200 {
            if let pid = try harness.database.connection.execute(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar {
                return pid
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("no walsender streams slot \(harness.slot)")
    }

    /// Exactly once, against the rows generated.
    func expectEveryRowOnce() throws {
        let store = try harness.storeConnection()
        let stored = try store.execute("""
            SELECT count(*), count(DISTINCT row_key) FROM walaudit.event_log WHERE table_name = 't' AND operation = 'INSERT'
            """).rows[0]
        #expect(stored == [String(BackPressureTests.rows), String(BackPressureTests.rows)])
        let missing = try store.execute("""
            SELECT count(*) FROM generate_series(1, \(BackPressureTests.rows)) g WHERE NOT EXISTS (
                SELECT 1 FROM walaudit.event_log WHERE table_name = 't' AND row_key = jsonb_build_object('id', g))
            """).scalar
        #expect(missing == "0")
    }
}

/// `CaptureWorker` on a thread of this process, stopped as SIGTERM would.
private final class InProcessWorker: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let failure = Mutex<String?>(nil)
    private let done = Atomic<Bool>(false)

    init(_ configuration: WorkerConfiguration) {
        let worker = CaptureWorker(configuration, logger: Logger(label: "walaudit.test"),
                                   shouldStop: { [self] in stopRequested.load(ordering: .relaxed) })
        Thread { [self] in
            do { try worker.run() } catch { failure.withLock { $0 = "\(error)" } }
            done.store(true, ordering: .releasing)
        }.start()
    }

    /// Asks it to stop, waits; returns its error, if it ended on one.
    func stop() -> String? {
        stopRequested.store(true, ordering: .relaxed)
        while !done.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.05) }
        return failure.withLock { $0 }
    }
}
