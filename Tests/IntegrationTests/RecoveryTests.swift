import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// The worker recovers from outages by itself and refuses what it must.
@Suite struct RecoveryTests {
    @Test func secondWorkerOnTheSameSlotRefuses() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        let first = try harness.startWorker()
        try harness.waitForEvents(atLeast: 1)
        let second = try harness.startWorker()
        #expect(second.waitForExit() == 1)
        #expect(second.log.contains("another walaudit worker is running on slot"), "\(second.log)")
        try harness.database.connection.execute("INSERT INTO t VALUES (1)")
        try harness.waitForEvents(atLeast: 2)
        #expect(first.stop() == 0)
    }

    @Test func missingSlotIsFatalWithTheFix() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("SELECT pg_drop_replication_slot($1)", [harness.slot])
        let worker = try harness.startWorker()
        #expect(worker.waitForExit() == 1)
        #expect(worker.log.contains("does not exist: run `walaudit setup`"), "\(worker.log)")
    }

    /// A cluster of its own: restarting the shared one would break other tests.
    @Test func sourceRestartAndThirtySecondStoreOutage() throws {
        let cluster = try ThrowawayCluster()
        defer { cluster.shutdown() }
        let harness = try WalauditHarness.make(cluster: cluster, separateStore: true)
        let source = harness.database
        try source.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, note text)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        var next = 0
        func write(_ count: Int) throws {
            let writer = try Connection(source.conninfo)
            for _ in 0..<count {
                next += 1
                try writer.execute("INSERT INTO t VALUES ($1, 'row')", [String(next)])
            }
        }
        try write(50)
        try harness.waitForEvents(atLeast: 51)

        // The source (and with it the store, same cluster) restarts mid-stream.
        try cluster.stop(mode: .fast)
        try cluster.start()
        try write(50)
        try harness.waitForEvents(atLeast: 101, timeout: 60)
        try cluster.stop(mode: .immediate)
        try cluster.start()
        try write(50)
        try harness.waitForEvents(atLeast: 151, timeout: 60)

        // The store refuses connections for 30 s while the source keeps writing.
        let admin = try Connection(cluster.conninfo())
        let storeName = try harness.storeConnection().execute("SELECT current_database()").scalar!
        try admin.execute("ALTER DATABASE \(SQLText.identifier(storeName)) ALLOW_CONNECTIONS false")
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [storeName])
        let outageEnds = Date().addingTimeInterval(30)
        while Date() < outageEnds {
            try write(5)
            Thread.sleep(forTimeInterval: 1)
        }
        try admin.execute("ALTER DATABASE \(SQLText.identifier(storeName)) ALLOW_CONNECTIONS true")
        try harness.waitForEvents(atLeast: 1 + next, timeout: 90)
        Thread.sleep(forTimeInterval: 1)
        #expect(worker.stop() == 0, "\(worker.log)")

        let store = try harness.storeConnection()
        let summary = try store.execute("""
            SELECT count(*), count(DISTINCT row_key), min((row_key->>'id')::int), max((row_key->>'id')::int)
            FROM walaudit.event_log WHERE operation = 'INSERT'
            """).rows.first
        #expect(summary == [String(next), String(next), "1", String(next)])
        #expect(worker.log.contains("retrying"), "the outages were noticed")
    }

    @Test func detachLeavesAGapAndTheWorkersOwnWritesAreNeverAudited() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t VALUES (1)")
        try harness.expectSuccess(["detach", "t"])
        try db.connection.execute("INSERT INTO t VALUES (2)")
        try harness.expectSuccess(["attach", "t"])
        try db.connection.execute("INSERT INTO t VALUES (3)")
        try harness.waitForEvents(atLeast: 5)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(worker.stop() == 0)
        let events = try db.connection.execute(
            "SELECT operation, row_key::text, db_user FROM walaudit.event_log ORDER BY seq").rows
        #expect(events == [["DDL", nil, "postgres"], ["INSERT", #"{"id": 1}"#, "postgres"], ["GAP", nil, "postgres"],
                           ["DDL", nil, "postgres"], ["INSERT", #"{"id": 3}"#, "postgres"]])
        let own = try db.connection.execute("SELECT count(*) FROM walaudit.event_log WHERE schema_name = 'walaudit'").scalar
        #expect(own == "0")
    }
}
