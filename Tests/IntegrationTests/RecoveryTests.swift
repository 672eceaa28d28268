import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// The worker recovers from outages by itself and refuses what it must.
@Suite(.tags(.drill)) struct RecoveryTests {
    @Test func secondWorkerOnTheSameSlotRefuses() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        let first = try harness.startWorker()
        try harness.waitForEvents(atLeast: 1)
        let second = try harness.startWorker()
        #expect(second.waitForExit() == 2)
        #expect(second.log.contains("another walaudit worker is running on slot"), "\(second.log)")
        try harness.database.connection.execute("INSERT INTO t VALUES (1)")
        try harness.waitForEvents(atLeast: 2)
        #expect(first.stop() == 0)
    }

    @Test func missingSlotIsFatalWithTheFix() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("SELECT pg_drop_replication_slot($1)", [harness.slot])
        let worker = try harness.startWorker()
        #expect(worker.waitForExit() == 2)
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
        try harness.waitForConfirmationOfCurrentWAL()  // a duplicate would be stored by now
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
        try harness.waitForEvents(atLeast: 8)
        try harness.waitForConfirmationOfCurrentWAL()  // the worker's own writes, were they audited, would be stored by now
        #expect(worker.stop() == 0)
        let events = try db.connection.execute(
            "SELECT operation, row_key::text, db_user FROM walaudit.event_log ORDER BY seq").rows
        #expect(Array(events.prefix(4)) == [["DDL", nil, "postgres"], ["INSERT", #"{"id": 1}"#, "postgres"], ["GAP", nil, "postgres"],
                                            ["DDL", nil, "postgres"]])
        // Attached again, its rows are recorded by a baseline (row 2 changed
        // unseen, row 1 did not); the INSERT of row 3 may come before it or after.
        #expect(events.dropFirst(4).map { "\($0[0] ?? "") \($0[1] ?? "")" }.sorted()
                == ["DDL ", "INSERT {\"id\": 3}", "SNAPSHOT {\"id\": 1}", "SNAPSHOT {\"id\": 2}"])
        let own = try db.connection.execute("SELECT count(*) FROM walaudit.event_log WHERE schema_name = 'walaudit'").scalar
        #expect(own == "0")
    }
}

/// A lost slot is a gap in the trail, and the chain must say so.
@Suite(.tags(.drill)) struct SlotLossTests {
    @Test func invalidatedSlotWritesOneGapAndStopsLoudly() throws {
        let cluster = try ThrowawayCluster(settings: ["max_slot_wal_keep_size": "'1MB'"])
        defer { cluster.shutdown() }
        let harness = try WalauditHarness.make(cluster: cluster)
        let db = harness.database
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY); CREATE TABLE filler (x text)")
        try harness.expectSuccess(["attach", "t"])
        var worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t VALUES (1)")
        try harness.waitForEvents(atLeast: 2)
        #expect(worker.stop() == 0)

        // With the worker down, WAL moves on until the slot is invalidated.
        try db.connection.execute("INSERT INTO t VALUES (2)")
        for _ in 0..<4 {
            try db.connection.execute("INSERT INTO filler SELECT repeat('x', 100) FROM generate_series(1, 1000)")
            try db.connection.execute("SELECT pg_switch_wal()")
        }
        try db.connection.execute("CHECKPOINT")
        #expect(try db.connection.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar == "lost")

        for _ in 0..<2 {
            worker = try harness.startWorker()
            #expect(worker.waitForExit() == 2)
            #expect(worker.log.contains("was invalidated"), "\(worker.log)")
            #expect(worker.log.contains("pg_drop_replication_slot"))
        }
        let gaps = try db.connection.execute(
            "SELECT new_row->>'reason', new_row->>'slot' FROM walaudit.event_log WHERE operation = 'GAP'").rows
        #expect(gaps == [["slot invalidated", harness.slot]], "one GAP, however often the worker is started")
        // verify and status say so.
        let verified = try WalauditBinary.run(["verify"] + harness.connectionArguments)
        #expect(verified.status == 0)
        #expect(String(decoding: verified.stdout, as: UTF8.self).contains("1 gap(s), changes it could not capture: GAP at seq 3"))
        let status = String(decoding: try WalauditBinary.run(["status"] + harness.connectionArguments).stdout, as: UTF8.self)
        #expect(status.contains("WARNING: the trail has 1 gap(s); the latest, at seq 3, says: slot invalidated"), "\(status)")
        #expect(status.contains("the slot was invalidated and changes are lost"), "\(status)")

        // The documented recovery: recreate the slot; capture resumes after the GAP.
        try db.connection.execute("SELECT pg_drop_replication_slot($1)", [harness.slot])
        try harness.expectSuccess(["setup"])
        worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t VALUES (3)")
        try harness.waitForEvents(atLeast: 4)
        #expect(worker.stop() == 0)
        let trail = try db.connection.execute("SELECT operation, row_key->>'id' FROM walaudit.event_log ORDER BY seq").rows
        #expect(trail == [["DDL", nil], ["INSERT", "1"], ["GAP", nil], ["INSERT", "3"]])
    }
}
