import Foundation
import PostgresClient
import Testing
import TestSupport

/// Retention, legal holds and the POLICY events that record them, through
/// real roles on a real store (sql/store/007–009).
@Suite struct PolicyTests {
    /// The store's answer to `sql` as rows of text.
    private func rows(_ connection: Connection, _ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        try connection.execute(sql, parameters).rows
    }

    private func seqs(_ connection: Connection, where condition: String) throws -> [String] {
        try rows(connection, "SELECT seq FROM walaudit.event_log WHERE \(condition) ORDER BY seq").map { $0[0]! }
    }

    private func waitForRowEvents(_ harness: WalauditHarness, _ count: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        while try Int(harness.database.connection.execute(
            "SELECT count(*) FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE')").scalar!)! < count {
            guard Date() < deadline else { throw HarnessError("timed out waiting for \(count) row events") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// A 7-year compliance table and a 30-day governance table; holds on one
    /// row and on one actor; the retention clock moved forward (test-only,
    /// superuser session). Each run purges exactly the events expected from
    /// what the workload did, keeps every held one, and the chain verifies.
    @Test func retentionPurgesExactlyWhatPolicyAllowsAndHoldsKeep() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let su = db.connection
        let admin = "admin_\(db.name)"
        try su.execute("""
            CREATE TABLE orders (id integer PRIMARY KEY, amount numeric);
            CREATE TABLE logs (id integer PRIMARY KEY, line text);
            CREATE ROLE \(admin) LOGIN IN ROLE walaudit_admin;
            """)
        try harness.expectSuccess(["attach", "orders", "logs"])
        let worker = try harness.startWorker()

        // Before the boundary: 17 row events, 4 of them by mallory.
        try su.execute("INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 5) i")
        try su.execute("UPDATE orders SET amount = amount + 1 WHERE id IN (2, 3)")
        try su.execute("INSERT INTO logs SELECT i, 'line ' || i FROM generate_series(1, 6) i")
        try su.execute("BEGIN; SELECT walaudit.set_actor('mallory'); INSERT INTO logs SELECT i, 'm' || i FROM generate_series(7, 10) i; COMMIT;")
        let boundary = try su.execute("SELECT clock_timestamp()").scalar!
        // After it: 9 more, 1 by mallory.
        try su.execute("INSERT INTO orders SELECT i, i * 10 FROM generate_series(6, 8) i")
        try su.execute("UPDATE orders SET amount = 0 WHERE id = 3")
        try su.execute("INSERT INTO logs SELECT i, 'late ' || i FROM generate_series(11, 13) i")
        try su.execute("BEGIN; SELECT walaudit.set_actor('mallory'); UPDATE logs SET line = 'changed' WHERE id = 7; COMMIT;")
        try su.execute("DELETE FROM logs WHERE id = 1")
        try waitForRowEvents(harness, 26)

        // Policies, by an admin login naming the person behind it, while the worker runs.
        let asAdmin = try Connection(db.cluster.conninfo(database: db.name, user: admin))
        try asAdmin.execute("SET walaudit.actor = 'officer@example.com'")
        try asAdmin.execute("SELECT walaudit.set_retention('orders', '7 years', 'compliance')")
        try asAdmin.execute("SELECT walaudit.set_retention('logs', '30 days')")
        try asAdmin.execute(#"SELECT walaudit.place_legal_hold('order-3', 'billing dispute', 'orders', '{"id": 3}')"#)
        try asAdmin.execute("SELECT walaudit.place_legal_hold('mallory', 'fraud investigation', actor => 'mallory')")
        // The worker appends after the POLICY events without a fork.
        try su.execute("INSERT INTO logs VALUES (14, 'after the policies')")
        try waitForRowEvents(harness, 27)

        // Ground truth from the workload, fixed before anything is purged.
        let logsBefore = try seqs(su, where: "table_name = 'logs' AND operation = 'INSERT' AND (row_key->>'id')::int BETWEEN 1 AND 6")
        let mallory = try seqs(su, where: "app_user = 'mallory'")
        let ordersBefore = try seqs(su, where: "table_name = 'orders' AND (row_key->>'id')::int <= 5 AND event_time < '\(boundary)'")
        let order3Before = try seqs(su, where: "table_name = 'orders' AND row_key = '{\"id\": 3}' AND event_time < '\(boundary)'")
        let logsAfter = try seqs(su, where: "table_name = 'logs' AND operation <> 'POLICY' AND event_time > '\(boundary)' AND app_user IS DISTINCT FROM 'mallory'")
        #expect((logsBefore.count, mallory.count, ordersBefore.count, order3Before.count, logsAfter.count) == (6, 5, 7, 2, 5))

        /// apply_retention as the admin role in a superuser session (the
        /// test clock is honoured only there), at `boundary + age`.
        func applyRetention(after age: String, dryRun: Bool = false) throws -> [[String?]] {
            let clock = try su.execute("SELECT ($1::timestamptz + $2::interval)::text", [boundary, age]).scalar!
            try su.execute("SELECT set_config('walaudit.test_now', $1, false)", [clock])
            try su.execute("SET ROLE \(admin); SET walaudit.actor = 'retention-job'")
            defer { _ = try? su.execute("RESET ROLE; RESET walaudit.actor; RESET walaudit.test_now") }
            return try rows(su, "SELECT * FROM walaudit.apply_retention($1)", [dryRun ? "t" : "f"])
        }
        let purged = { try self.seqs(su, where: "purged_at IS NOT NULL") }

        // 30 days on: the early logs expire, mallory's are held, orders are young.
        #expect(try applyRetention(after: "30 days", dryRun: true) == [["public.logs", "6", "4"]])
        #expect(try purged().isEmpty)
        #expect(try applyRetention(after: "30 days") == [["public.logs", "6", "4"]])
        #expect(try purged() == logsBefore)

        // Seven years on: the early orders expire except the held row; the later logs too.
        #expect(try applyRetention(after: "7 years") == [["public.logs", "5", "5"], ["public.orders", "5", "2"]])
        #expect(try purged() == (logsBefore + ordersBefore.filter { !order3Before.contains($0) } + logsAfter).sorted { Int($0)! < Int($1)! })
        // Held events keep their payload.
        #expect(try rows(su, "SELECT count(*) FROM walaudit.event_log WHERE seq = ANY($1::bigint[]) AND new_row IS NOT NULL",
                         ["{" + (mallory + order3Before).joined(separator: ",") + "}"]) == [[String(mallory.count + order3Before.count)]])

        // Compliance cannot be shortened, removed or weakened: not by the admin, not by a superuser.
        for (connection, sql) in [(asAdmin, "SELECT walaudit.set_retention('orders', '1 year', 'compliance')"),
                                  (su, "SELECT walaudit.set_retention('orders', '1 year', 'compliance')"),
                                  (su, "SELECT walaudit.set_retention('orders', '2556 days', 'compliance')"),
                                  (su, "SELECT walaudit.set_retention('orders', '7 years', 'governance')"),
                                  (su, "SELECT walaudit.set_retention('orders', NULL)"),
                                  (su, "DELETE FROM walaudit.retention_policy"),
                                  (su, "UPDATE walaudit.retention_policy SET keep = '1 day'")] {
            #expect(throws: PostgresError.self, "\(sql)") { try connection.execute(sql) }
        }
        #expect(try rows(su, "SELECT keep::text, mode FROM walaudit.retention_policies WHERE table_name = 'public.orders'")
                == [["7 years", "compliance"]])
        // Lengthening works; governance can be shortened by the admin.
        try asAdmin.execute("SELECT walaudit.set_retention('orders', '10 years', 'compliance')")
        try asAdmin.execute("SELECT walaudit.set_retention('logs', '1 day')")

        // Released, the row's events go at the next run (10 years on now).
        try asAdmin.execute("SELECT walaudit.release_legal_hold('order-3', 'dispute settled')")
        #expect(throws: PostgresError.self) { try asAdmin.execute("SELECT walaudit.release_legal_hold('order-3', 'again')") }
        #expect(try applyRetention(after: "10 years") == [["public.logs", "0", "5"], ["public.orders", "2", "0"]])
        #expect(try purged().count == logsBefore.count + ordersBefore.count + logsAfter.count)

        // Both verifiers pass and count the purged events.
        let total = logsBefore.count + ordersBefore.count + logsAfter.count
        let cli = try WalauditBinary.run(["verify", "--json"] + harness.connectionArguments)
        #expect(cli.status == 0)
        #expect(String(decoding: cli.stdout, as: UTF8.self).contains(#""purged":\#(total),"first_bad_seq":null"#))
        #expect(try rows(su, "SELECT ok, purged FROM walaudit.verify_chain()") == [["t", String(total)]])

        // Every policy call is a POLICY event with who did it, in order.
        let superuser = try su.execute("SELECT session_user").scalar!
        let policy = try rows(su, """
            SELECT new_row->>'action', db_user, role_name, app_user, coalesce(table_name, '-') FROM walaudit.events
            WHERE operation = 'POLICY' ORDER BY seq
            """)
        let officer: [String?] = [admin, admin, "officer@example.com"]
        let job: [String?] = [superuser, admin, "retention-job"]
        #expect(policy == [
            ["set_retention"] + officer + ["orders"], ["set_retention"] + officer + ["logs"],
            ["place_legal_hold"] + officer + ["orders"], ["place_legal_hold"] + officer + ["-"],
            ["apply_retention"] + job + ["-"], ["apply_retention"] + job + ["-"], ["apply_retention"] + job + ["-"],
            ["set_retention"] + officer + ["orders"], ["set_retention"] + officer + ["logs"],
            ["release_legal_hold"] + officer + ["orders"], ["apply_retention"] + job + ["-"],
        ])
        #expect(try rows(su, """
            SELECT new_row->'dry_run', new_row->'test_clock', new_row->'tables' FROM walaudit.events
            WHERE operation = 'POLICY' AND new_row->>'action' = 'apply_retention' ORDER BY seq LIMIT 1
            """) == [["true", "true", #"{"public.logs": [6, 4]}"#]])
        #expect(worker.stop() == 0, "\(worker.log)")
    }

    /// Who may do what: readers read, admins set policy, the worker only
    /// inserts, and nobody purges outside retention.
    @Test func onlyTheRightRolesChangePolicyAndNobodyPurgesOutsideRetention() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let su = db.connection
        let (reader, admin) = ("reader_\(db.name)", "admin_\(db.name)")
        try su.execute("""
            CREATE TABLE t (id integer PRIMARY KEY, v text);
            CREATE ROLE \(reader) LOGIN IN ROLE walaudit_reader;
            CREATE ROLE \(admin) LOGIN IN ROLE walaudit_admin;
            """)
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        try su.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 5) i")
        try waitForRowEvents(harness, 5)
        #expect(worker.stop() == 0)
        let events = try su.execute("SELECT count(*) FROM walaudit.event_log").scalar

        // A reader reads, but changes no policy and cannot touch the logs.
        let asReader = try Connection(db.cluster.conninfo(database: db.name, user: reader))
        #expect(try asReader.execute("SELECT count(*) FROM walaudit.events").scalar == events)
        for sql in ["SELECT walaudit.set_retention('t', '1 day')", "SELECT walaudit.set_retention(NULL, '1 day')",
                    "SELECT walaudit.place_legal_hold('h', 'why', 't')", "SELECT walaudit.release_legal_hold('h', 'why')",
                    "SELECT * FROM walaudit.apply_retention()", "SELECT * FROM walaudit.access",
                    "INSERT INTO walaudit.access_log (db_user, role_name, function_name, arguments, rows_returned) VALUES ('x', 'x', 'x', '{}', 0)",
                    "INSERT INTO walaudit.retention_policy (keep, mode, set_by) VALUES ('1 day', 'governance', 'x')",
                    "SELECT walaudit.append_event('POLICY', NULL, NULL, NULL, NULL, '{}')"] {
            #expect(performing: { try asReader.execute(sql) }, throws: { ($0 as? PostgresError)?.sqlState == "42501" })
        }
        // Reports work for the reader and are logged.
        #expect(try asReader.execute(#"SELECT count(*) FROM walaudit.row_history('t', '{"id": 2}')"#).scalar == "1")
        let ofT = try su.execute("SELECT count(*) FROM walaudit.events WHERE table_name = 't'").scalar!  // the inserts and attach's DDL
        #expect(try asReader.execute("SELECT count(*) FROM walaudit.changes(now() - interval '1 hour', now() + interval '1 hour', 't')").scalar == ofT)
        #expect(try su.execute("SELECT function_name, db_user, rows_returned FROM walaudit.access ORDER BY access_id").rows
                == [["row_history", reader, "1"], ["changes", reader, ofT]])

        // The worker's role inserts only.
        try su.execute("SET ROLE walaudit_writer")
        for sql in ["UPDATE walaudit.event_log SET db_user = 'x' WHERE seq = 1", "DELETE FROM walaudit.event_log WHERE seq = 1",
                    "UPDATE walaudit.checkpoint_log SET seq = 0", "DELETE FROM walaudit.access_log", "DELETE FROM walaudit.legal_hold"] {
            #expect(throws: PostgresError.self, "\(sql)") { try su.execute(sql) }
        }
        try su.execute("RESET ROLE")

        // Not even the owner purges an event retention does not allow, nor
        // changes anything else on the way.
        try su.execute("SELECT walaudit.set_retention('t', '1 year')")
        try su.execute("SET walaudit.purging = 'on'")
        for sql in ["UPDATE walaudit.event_log SET row_key = NULL, old_row = NULL, new_row = NULL, payload_salt = NULL, purged_at = now() WHERE seq = 3",
                    "UPDATE walaudit.event_log SET row_key = NULL, old_row = NULL, new_row = NULL, payload_salt = NULL, purged_at = now(), db_user = 'x' WHERE seq = 3"] {
            #expect(throws: PostgresError.self, "\(sql)") { try su.execute(sql) }
        }
        try su.execute("RESET walaudit.purging")

        // An admin's session cannot move the retention clock.
        let asAdmin = try Connection(db.cluster.conninfo(database: db.name, user: admin))
        try asAdmin.execute("SET walaudit.test_now = '2100-01-01'")
        #expect(try asAdmin.execute("SELECT * FROM walaudit.apply_retention()").rows.isEmpty)
        #expect(try su.execute("SELECT new_row->'test_clock' FROM walaudit.events WHERE operation = 'POLICY' ORDER BY seq DESC LIMIT 1").scalar == "false")
        #expect(try su.execute("SELECT count(*) FROM walaudit.event_log WHERE purged_at IS NOT NULL").scalar == "0")
        #expect(try su.execute("SELECT ok FROM walaudit.verify_chain()").scalar == "t")
    }

    /// The worker needs no superuser: a REPLICATION login that is a member of
    /// walaudit_writer captures everything; a login that is not is refused
    /// with the GRANT that fixes it.
    @Test func workerRunsAsWalauditWriter() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let (member, outsider) = ("worker_\(db.name)", "stranger_\(db.name)")
        try db.connection.execute("""
            CREATE TABLE t (id integer PRIMARY KEY, v text);
            CREATE ROLE \(member) LOGIN REPLICATION IN ROLE walaudit_writer;
            CREATE ROLE \(outsider) LOGIN REPLICATION;
            """)
        try harness.expectSuccess(["attach", "t"])
        let refused = try WalauditBinary.run(["run", "--source", db.cluster.conninfo(database: db.name, user: outsider), "--slot", harness.slot])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("GRANT walaudit_writer TO \"\(outsider)\""), "\(refused.stderr)")

        let worker = try WorkerProcess(arguments: ["run", "--source", db.cluster.conninfo(database: db.name, user: member), "--slot", harness.slot])
        try db.connection.execute("INSERT INTO t SELECT i, 'v' FROM generate_series(1, 10) i")
        try waitForRowEvents(harness, 10)
        #expect(worker.stop() == 0, "\(worker.log)")
        #expect(try db.connection.execute("SELECT count(*), count(DISTINCT row_key) FROM walaudit.events WHERE operation = 'INSERT'").rows
                == [["10", "10"]])
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// apply_retention alongside the worker's ingest and alongside itself:
    /// no error, every change stored once, every purge counted once, and the
    /// chain (with POLICY events between captured ones) verifies.
    @Test func retentionRunsConcurrentlyWithIngestAndWithItself() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", "t"])
        try db.connection.execute("SELECT walaudit.set_retention('t', '1 day')")
        let worker = try harness.startWorker()
        let conninfo = db.conninfo
        let outcome = Outcome()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            outcome.record {
                let c = try Connection(conninfo)
                for batch in 0..<40 {
                    try c.execute("INSERT INTO t SELECT g, 'v' FROM generate_series($1::int + 1, $1::int + 50) g", [String(batch * 50)])
                    outcome.add(inserted: 50)
                    Thread.sleep(forTimeInterval: 0.01)
                    // Halfway, wait for a purge, so the rest is ingested while retention runs.
                    let halfway = Date().addingTimeInterval(20)
                    while batch == 19 && outcome.purged == 0 && Date() < halfway { Thread.sleep(forTimeInterval: 0.01) }
                }
            }
            outcome.finishIngest()
        }
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                outcome.record {
                    let c = try Connection(conninfo)
                    try c.execute("SET walaudit.test_now = '2100-01-01'")
                    while !outcome.ingestDone {
                        for row in try c.execute("SELECT purged FROM walaudit.apply_retention()").rows {
                            outcome.add(purged: Int(row[0]!)!)
                        }
                    }
                }
            }
        }
        group.wait()
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(outcome.purged > 0, "retention ran while the worker ingested")
        try waitForRowEvents(harness, outcome.inserted)
        let last = try db.connection.execute("SET walaudit.test_now = '2100-01-01'; SELECT coalesce(sum(purged), 0) FROM walaudit.apply_retention()").scalar!
        #expect(worker.stop() == 0, "\(worker.log)")
        let su = db.connection
        #expect(try su.execute("SELECT count(*), count(DISTINCT (row_key->>'id')) FROM walaudit.event_log WHERE operation = 'INSERT'").rows
                == [[String(outcome.inserted), "0"]])  // all purged: no key left to count
        let purgedNow = try su.execute("SELECT count(*) FROM walaudit.event_log WHERE purged_at IS NOT NULL").scalar!
        #expect(purgedNow == String(outcome.inserted))
        #expect(outcome.purged + Int(last)! == outcome.inserted, "each purge is counted by exactly one run")
        let cli = try WalauditBinary.run(["verify"] + harness.connectionArguments)
        #expect(cli.status == 0, "\(String(decoding: cli.stdout, as: UTF8.self))")
        #expect(try su.execute("SELECT ok, purged FROM walaudit.verify_chain()").rows == [["t", purgedNow]])
    }
}

/// What concurrent test threads report, behind a lock.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var inserted = 0
    private var purgedCount = 0
    var purged: Int { lock.withLock { purgedCount } }
    private(set) var errors: [String] = []
    private var ingestFinished = false
    var ingestDone: Bool { lock.withLock { ingestFinished } }

    func finishIngest() { lock.withLock { ingestFinished = true } }
    func add(inserted n: Int) { lock.withLock { inserted += n } }
    func add(purged n: Int) { lock.withLock { purgedCount += n } }
    func record(_ body: () throws -> Void) {
        do { try body() } catch { lock.withLock { errors.append("\(error)") } }
    }
}
