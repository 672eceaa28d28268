import Foundation
import PostgresClient
import Testing
import TestSupport

/// What walaudit's DDL event trigger refuses can still happen when a
/// superuser switches the event triggers off: a captured table turned
/// UNLOGGED, a partition added uncaptured. The worker's coverage check
/// finds it, the chain records a GAP for the attached table, and
/// `walaudit status` warns until the table is attached again.
@Suite struct CoverageGapTests {
    /// The worker looks this often (seconds) instead of every 10 s.
    private static let checkInterval = ["--coverage-check-interval", "0.2"]

    private func waitUntil(_ what: String, timeout: Double = 120, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw HarnessError("timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func count(_ harness: WalauditHarness, _ condition: String) throws -> Int {
        Int(try harness.storeConnection().execute("SELECT count(*) FROM walaudit.event_log WHERE \(condition)").scalar ?? "") ?? -1
    }

    /// `walaudit status`: its exit status and warnings.
    private func status(_ harness: WalauditHarness) throws -> (status: Int32, warnings: [String]) {
        let result = try WalauditBinary.run(["status", "--json"] + harness.connectionArguments)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any] ?? [:]
        return (result.status, object["warnings"] as? [String] ?? [])
    }

    @Test func aTableTurnedUnloggedBehindTheEventTriggersIsAGapUntilAttachedAgain() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker(Self.checkInterval)
        try connection.execute("INSERT INTO t VALUES (1, 'logged')")
        try waitUntil("the INSERT") { try count(harness, "operation = 'INSERT' AND table_name = 't'") == 1 }
        #expect(try status(harness).warnings.allSatisfy { !$0.contains("public.t") })

        try connection.execute("""
            ALTER EVENT TRIGGER walaudit_ddl DISABLE;
            ALTER TABLE t SET UNLOGGED;
            ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
            """)
        try connection.execute("INSERT INTO t VALUES (2, 'not in the WAL')")
        try waitUntil("the GAP event") {
            try count(harness, "operation = 'GAP' AND table_name = 't' AND new_row->>'reason' = 'unlogged'") == 1
        }
        let unlogged = try status(harness)
        #expect(unlogged.status == 0)
        #expect(unlogged.warnings.contains { $0.hasPrefix("public.t has been UNLOGGED or otherwise uncovered since") && $0.contains("walaudit attach") },
                "\(unlogged.warnings)")
        #expect(worker.log.contains("changes escape capture") && worker.log.contains("is UNLOGGED"), "\(worker.log)")

        // Checked again and again, it stays one GAP.
        Thread.sleep(forTimeInterval: 1)
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(try count(harness, "operation = 'GAP'") == 1)

        try connection.execute("ALTER TABLE t SET LOGGED")
        try harness.expectSuccess(["attach", "t"])
        #expect(try status(harness).warnings.allSatisfy { !$0.contains("public.t") })
        try connection.execute("INSERT INTO t VALUES (3, 'logged again')")
        try waitUntil("the INSERT after attaching again") {
            try count(harness, "operation = 'INSERT' AND table_name = 't' AND new_row->>'id' = '3'") == 1
        }
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(try count(harness, "operation = 'GAP'") == 1)
        // Never in the WAL (the GAP says so); attaching again recorded it in the new baseline.
        try waitUntil("the new baseline") { try count(harness, "new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'") == 1 }
        #expect(try count(harness, "new_row->>'id' = '2' AND operation <> 'SNAPSHOT'") == 0)
        #expect(try count(harness, "new_row->>'id' = '2' AND operation = 'SNAPSHOT'") == 1)
        #expect(worker.stop() == 0)
    }

    @Test func statusWarnsWhileWalauditsEventTriggersDoNotFireAlways() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        func triggerWarnings() throws -> [String] { try status(harness).warnings.filter { $0.contains("event trigger") } }
        #expect(try triggerWarnings() == [])

        try connection.execute("ALTER EVENT TRIGGER walaudit_ddl DISABLE")
        let disabled = try status(harness)
        #expect(disabled.status == 0)
        #expect(disabled.warnings.contains {
            $0.contains("walaudit_ddl is disabled") && $0.contains("DDL on attached tables is not being recorded")
                && $0.contains("ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS")
        }, "\(disabled.warnings)")

        // Enabled, but not ALWAYS: replica-mode sessions pass it.
        try connection.execute("ALTER EVENT TRIGGER walaudit_ddl ENABLE")
        #expect(try triggerWarnings().contains { $0.contains("walaudit_ddl does not fire in replica mode") })

        try connection.execute("ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS; DROP EVENT TRIGGER walaudit_drop")
        let missing = try triggerWarnings()
        #expect(missing.count == 1 && missing[0].contains("walaudit_drop is missing") && missing[0].contains("walaudit setup"), "\(missing)")

        try harness.expectSuccess(["setup"])
        #expect(try triggerWarnings() == [])
    }

    @Test func aPartitionAddedBehindTheEventTriggersIsCapturedFromThenOnWithAGap() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE parted (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE parted_2025 PARTITION OF parted FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """)
        try harness.expectSuccess(["attach", "parted"])
        let worker = try harness.startWorker(Self.checkInterval)
        try connection.execute("INSERT INTO parted VALUES (1, '2025-06-01')")
        try waitUntil("the INSERT") { try count(harness, "operation = 'INSERT' AND table_name = 'parted'") == 1 }

        // Its first row is written before any check can see it.
        try connection.execute("""
            ALTER EVENT TRIGGER walaudit_ddl DISABLE;
            CREATE TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            INSERT INTO parted VALUES (2, '2026-06-01');
            ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
            """)
        try waitUntil("the partition to be captured") {
            try connection.execute("""
                SELECT count(*) FROM walaudit.capture_tables WHERE relid = 'parted_2026'::regclass AND root_relid = 'parted'::regclass
                """).scalar == "1"
        }
        try connection.execute("INSERT INTO parted VALUES (3, '2026-07-01')")
        try waitUntil("the GAP and the INSERT after it") {
            try count(harness, "operation = 'GAP' AND table_name = 'parted'") == 1
                && count(harness, "operation = 'INSERT' AND table_name = 'parted' AND new_row->>'id' = '3'") == 1
        }
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(try count(harness, "operation = 'DDL' AND new_row->>'command_tag' = 'WALAUDIT CAPTURE' AND table_name = 'parted'"
                               + " AND new_row->>'object_identity' = 'public.parted_2026'") == 1)
        // Written before the check: no INSERT (the GAP covers that), but the
        // partition joined with it, so its baseline records it.
        try waitUntil("the partition's baseline") { try count(harness, "new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'") == 1 }
        #expect(try count(harness, "new_row->>'id' = '2' AND operation <> 'SNAPSHOT'") == 0)
        #expect(try count(harness, "new_row->>'id' = '2' AND operation = 'SNAPSHOT'") == 1)
        #expect(try count(harness, "operation = 'GAP'") == 1)
        #expect(worker.log.contains("public.parted_2026") && worker.log.contains("it is captured from now on"), "\(worker.log)")
        #expect(try status(harness).warnings.contains { $0.hasPrefix("public.parted has been UNLOGGED or otherwise uncovered since") })
        #expect(worker.stop() == 0)
    }

    /// A check that fails for a reason other than a lost connection is
    /// logged and tried again; capture goes on.
    @Test func aFailingCheckDoesNotStopCapture() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        try connection.execute("DROP FUNCTION walaudit.check_coverage()")
        let worker = try harness.startWorker(Self.checkInterval)
        try connection.execute("INSERT INTO t VALUES (1)")
        try waitUntil("the INSERT") { try count(harness, "operation = 'INSERT' AND table_name = 't'") == 1 }
        try waitUntil("the logged failure") { worker.log.contains("cannot check whether attached tables' changes escape capture") }
        #expect(worker.log.contains("run walaudit setup"), "\(worker.log)")
        try harness.expectSuccess(["setup"])
        try connection.execute("""
            ALTER EVENT TRIGGER walaudit_ddl DISABLE;
            ALTER TABLE t SET UNLOGGED;
            ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
            """)
        try waitUntil("the GAP event") { try count(harness, "operation = 'GAP' AND table_name = 't'") == 1 }
        #expect(worker.stop() == 0)
    }

    /// A partition that cannot be captured (UNLOGGED) is named with the
    /// reason, check after check; the attached table is marked once.
    @Test func anUncapturablePartitionIsReportedAndItsTableMarked() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE TABLE parted (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)")
        try harness.expectSuccess(["attach", "parted"])
        try connection.execute("""
            ALTER EVENT TRIGGER walaudit_ddl DISABLE;
            CREATE UNLOGGED TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
            """)
        let check = "SELECT attached_table, relation, problem FROM walaudit.check_coverage()"
        let first = try connection.execute(check).rows
        #expect(first.count == 1 && first[0][0] == "public.parted" && first[0][1] == "public.parted_2026", "\(first)")
        #expect(first.first?[2]?.contains("it cannot be captured: partition of public.parted, which is attached: public.parted_2026 is UNLOGGED") == true,
                "\(first)")
        let since = try connection.execute("SELECT gap_since FROM walaudit.capture_tables WHERE relid = 'parted'::regclass").scalar
        #expect(since != nil)
        #expect(try connection.execute(check).rows == first)
        #expect(try connection.execute("SELECT gap_since FROM walaudit.capture_tables WHERE relid = 'parted'::regclass").scalar == since)
        #expect(try connection.execute("SELECT count(*) FROM walaudit.capture_tables").scalar == "1")
    }
}
