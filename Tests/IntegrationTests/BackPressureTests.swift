import Foundation
import Logging
import PostgresClient
import Synchronization
import Testing
import TestSupport
import Worker

/// A store slower than the stream pauses reading, never feedback.
@Suite(.tags(.drill)) struct BackPressureTests {
    /// The store stalls twice for 6 s (a trigger that sleeps) while the
    /// source's walsender runs with a 5 s `wal_sender_timeout` and the
    /// handoff holds only 50 changes, so the reader must stop reading for
    /// longer than the timeout. The walsender must keep its stream (the same
    /// pid before and after), and every change must be stored once.
    @Test func aSlowStoreNeverMakesTheWalsenderTimeOut() throws {
        let harness = try WalauditHarness.make()
        let source = harness.database.connection
        try source.execute("ALTER DATABASE \(SQLText.identifier(harness.database.name)) SET wal_sender_timeout = '5s'")
        try source.execute("CREATE TABLE t (id integer PRIMARY KEY, note text)")
        try harness.expectSuccess(["attach", "t"])
        try harness.storeConnection().execute("""
            CREATE SEQUENCE public.store_stalls;
            CREATE FUNCTION public.stall_store() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                IF nextval('public.store_stalls') <= 2 THEN PERFORM pg_sleep(6); END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER stall_store BEFORE INSERT ON walaudit.event_log FOR EACH STATEMENT EXECUTE FUNCTION public.stall_store();
            """)

        var configuration = WorkerConfiguration(source: harness.database.conninfo, target: harness.database.conninfo, slot: harness.slot)
        configuration.handoffChanges = 50
        let stop = Atomic<Bool>(false)
        let failure = Mutex<String?>(nil)
        let worker = CaptureWorker(configuration, logger: Logger(label: "walaudit.test"), shouldStop: { stop.load(ordering: .relaxed) })
        let thread = Thread {
            do { try worker.run() } catch { failure.withLock { $0 = "\(error)" } }
        }
        thread.start()
        defer { stop.store(true, ordering: .relaxed) }

        let walsender = try waitForWalsender(source, slot: harness.slot)
        let started = Date()
        for batch in 0..<100 {
            try source.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series($1::int * 20 + 1, $1::int * 20 + 20) g",
                               [String(batch)])
        }
        let rows = 2_000
        try harness.waitForEvents(atLeast: rows, timeout: 90)
        let stalled = Date().timeIntervalSince(started)

        #expect(try harness.storeConnection().execute("SELECT last_value FROM public.store_stalls").scalar.flatMap(Int.init) ?? 0 >= 2)
        #expect(stalled > 10, "the store stalled for 12 s in all")
        #expect(try waitForWalsender(source, slot: harness.slot) == walsender, "the walsender dropped the stream")
        #expect(failure.withLock { $0 } == nil)
        // Exactly once, against the table's own rows.
        let stored = try harness.storeConnection().execute("""
            SELECT count(*), count(DISTINCT row_key) FROM walaudit.event_log WHERE table_name = 't' AND operation = 'INSERT'
            """).rows[0]
        #expect(stored == [String(rows), String(rows)])
        let missing = try harness.storeConnection().execute("""
            SELECT count(*) FROM generate_series(1, \(rows)) g WHERE NOT EXISTS (
                SELECT 1 FROM walaudit.event_log WHERE table_name = 't' AND row_key = jsonb_build_object('id', g))
            """).scalar
        #expect(missing == "0")
        stop.store(true, ordering: .relaxed)
        while !thread.isFinished { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// The pid of the walsender streaming `slot`, once there is one.
    private func waitForWalsender(_ connection: Connection, slot: String) throws -> String {
        for _ in 0..<200 {
            if let pid = try connection.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", [slot]).scalar {
                return pid
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("no walsender streams slot \(slot)")
    }
}
