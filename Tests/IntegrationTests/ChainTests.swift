import Foundation
import Ledger
import PostgresClient
import Testing
import TestSupport

/// The chain catches tampering, and the event log refuses changes.
@Suite struct ChainTests {
    /// A store with `rows` captured inserts and the worker stopped.
    private func capturedStore(rows: Int = 20) throws -> WalauditHarness {
        let harness = try WalauditHarness.make()
        let db = harness.database
        try db.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker()
        try db.connection.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, \(rows)) i")
        try harness.waitForEvents(atLeast: rows + 1)
        #expect(worker.stop() == 0)
        return harness
    }

    /// `walaudit verify`; it must say the same whether one connection reads
    /// every event or the seqs are split into ranges read in parallel (ranges
    /// of 11, 7, 6 and 3 events put the drills' seqs at range ends and starts).
    private func verify(_ harness: WalauditHarness) throws -> (status: Int32, output: String) {
        let results = try ["1", "2", "3", "4", "7"].map { jobs in
            let result = try WalauditBinary.run(["verify", "--jobs", jobs] + harness.connectionArguments)
            return (status: result.status, output: String(decoding: result.stdout, as: UTF8.self) + result.stderr)
        }
        for (jobs, result) in zip([2, 3, 4, 7], results.dropFirst()) {
            #expect(result == results[0], "--jobs \(jobs) disagrees with one connection")
        }
        return results[0]
    }

    /// walaudit.verify_chain() as one line like the CLI's.
    private func sqlVerify(_ harness: WalauditHarness) throws -> [String?] {
        try harness.database.connection.execute("SELECT ok, checked, purged, first_bad_seq, problem FROM walaudit.verify_chain()").rows[0]
    }

    @Test func intactChainVerifies() throws {
        let harness = try capturedStore()
        let result = try verify(harness)
        #expect(result.status == 0)
        #expect(result.output.contains("intact: 21 events checked"))
        #expect(try sqlVerify(harness) == ["t", "21", "0", nil, nil])
    }

    @Test(arguments: [
        ("UPDATE walaudit.event_log SET new_row = jsonb_set(new_row, '{v}', '\"forged\"') WHERE seq = 7", "TAMPERED at seq 7: payload altered"),
        ("UPDATE walaudit.event_log SET event_time = event_time + interval '1 second' WHERE seq = 5", "TAMPERED at seq 5: event altered"),
        ("UPDATE walaudit.event_log SET db_user = 'someone_else' WHERE seq = 9", "TAMPERED at seq 9: event altered"),
        ("UPDATE walaudit.event_log SET changed_columns = ARRAY['v', 'id'] WHERE seq = 6", "TAMPERED at seq 6: event altered"),
        ("UPDATE walaudit.event_log SET client_addr = '10.0.0.1' WHERE seq = 8", "TAMPERED at seq 8: event altered"),
        ("UPDATE walaudit.event_log SET app_context = '{\"request_id\": \"forged\"}' WHERE seq = 10", "TAMPERED at seq 10: event altered"),
        ("UPDATE walaudit.event_log SET lsn = lsn + 1 WHERE seq = 11", "TAMPERED at seq 11: event altered"),
        ("UPDATE walaudit.event_log SET row_key = '{\"id\": 99}' WHERE seq = 13", "TAMPERED at seq 13: payload altered"),
        // Marking an event purged must not hide an altered payload.
        ("UPDATE walaudit.event_log SET purged_at = now(), new_row = '{\"id\": 14, \"v\": \"forged\"}' WHERE seq = 14",
         "TAMPERED at seq 14: payload altered"),
        ("DELETE FROM walaudit.event_log WHERE seq = 12", "TAMPERED at seq 12: events missing"),
        // A purge keeps every hash, but no apply_retention run made this one.
        ("UPDATE walaudit.event_log SET row_key = NULL, old_row = NULL, new_row = NULL, payload_salt = NULL, purged_at = now() WHERE seq = 15",
         "TAMPERED at seq 15: purged outside retention"),
        // seqs at the ends of bigint: the ranges of parallel readers must not overflow
        ("UPDATE walaudit.event_log SET seq = -9223372036854775808 WHERE seq = 5",
         "TAMPERED at seq -9223372036854775808: seq -9223372036854775808 is outside the chain"),
        // a copy of an event added before seq 1 breaks no link, but it shows in the reports
        ("CREATE TEMP TABLE copied AS SELECT * FROM walaudit.event_log WHERE seq = 3; UPDATE copied SET seq = 0, lsn_position = -1; "
            + "INSERT INTO walaudit.event_log SELECT * FROM copied", "TAMPERED at seq 0: seq 0 is outside the chain"),
        ("UPDATE walaudit.event_log SET seq = 9223372036854775807 WHERE seq = 21", "TAMPERED at seq 21: events missing"),
        ("UPDATE walaudit.event_log SET seq = -3 WHERE seq = 3; UPDATE walaudit.event_log SET seq = 3 WHERE seq = 4; "
            + "UPDATE walaudit.event_log SET seq = 4 WHERE seq = -3", "TAMPERED at seq 3: link broken"),
    ])
    func tamperingIsCaughtAtTheRightSeq(sql: String, expected: String) throws {
        let harness = try capturedStore()
        try harness.tamperAsSuperuser(sql)
        let result = try verify(harness)
        #expect(result.status == 1)
        #expect(result.output.contains(expected), "\(result.output)")
        // The SQL verifier agrees on the seq and the reason.
        let sql = try sqlVerify(harness)
        #expect(sql[0] == "f")
        #expect(result.output.contains("TAMPERED at seq \(sql[3] ?? "?"): \(sql[4] ?? "?")"), "SQL says \(sql)")
    }

    /// An auditor's login (walaudit_reader, no right to write) allowed a
    /// single connection still verifies with --jobs 3: the seqs are split
    /// over the connections the server accepted.
    @Test func anAuditorVerifiesWithTheConnectionsItGets() throws {
        let harness = try capturedStore()
        let db = harness.database
        let role = "one_connection_\(db.name)"  // roles are cluster-wide
        try db.connection.execute("CREATE ROLE \(role) LOGIN CONNECTION LIMIT 1 IN ROLE walaudit_reader")
        let result = try WalauditBinary.run(["verify", "--jobs", "3", "--source", db.cluster.conninfo(database: db.name, user: role),
                                             "--slot", harness.slot])
        let output = String(decoding: result.stdout, as: UTF8.self) + result.stderr
        #expect(result.status == 0, "\(output)")
        #expect(output.contains("intact: 21 events checked"), "\(output)")
    }

    @Test func eventLogRefusesChangesEvenFromItsOwner() throws {
        let harness = try capturedStore(rows: 2)
        let db = harness.database
        for sql in ["UPDATE walaudit.event_log SET db_user = 'x'", "DELETE FROM walaudit.event_log", "TRUNCATE walaudit.event_log"] {
            do {
                try db.connection.execute(sql)
                Issue.record("\(sql) succeeded")
            } catch {
                #expect(error.message.contains("append-only"), "\(error)")
            }
        }
        // walaudit_admin gets no write privilege at all.
        let admin = "admin_\(db.name)"
        try db.connection.execute("CREATE ROLE \(admin) LOGIN IN ROLE walaudit_admin")
        let asAdmin = try Connection(db.cluster.conninfo(database: db.name, user: admin))
        for sql in ["UPDATE walaudit.event_log SET db_user = 'x'", "DELETE FROM walaudit.event_log", "TRUNCATE walaudit.event_log"] {
            #expect(throws: PostgresError.self) { try asAdmin.execute(sql) }
        }
        #expect(try verify(harness).status == 0)
    }

    /// The chain's canonical number form is what PostgreSQL's numeric prints
    /// (docs/chain-format.md): checked against the server itself.
    @Test func canonicalNumbersAreWhatNumericPrints() throws {
        let db = try TestServer.freshDatabase()
        for text in ["0", "-0", "1.5e3", "2.50", "1.50e-3", "1e2", "1E+2", "-1.7976931348623157e+308", "5e-324",
                     "123456789012345678901234567890.5", "0.000", "-0.0e5", "10.50", "-12.340e1", "7e-1", "-3.1e-10"] {
            let server = try db.connection.execute("SELECT $1::numeric::text", [text]).scalar
            #expect(CanonicalEncoder.numericText(text) == server, "\(text)")
        }
    }

    /// A purged payload leaves its digest behind: both verifiers still pass
    /// and count the events as purged (by apply_retention: a purge by hand
    /// is a finding, see PurgeAccountingTests).
    @Test func purgedPayloadsStillVerify() throws {
        let harness = try capturedStore()
        try harness.database.connection.execute("""
            SELECT walaudit.set_retention('t', '1 day'); SET walaudit.test_now = '2100-01-01';
            SELECT * FROM walaudit.apply_retention(); RESET walaudit.test_now
            """)
        let cli = try WalauditBinary.run(["verify", "--json"] + harness.connectionArguments)
        #expect(String(decoding: cli.stdout, as: UTF8.self) == #"{"ok":true,"checked":23,"purged":20,"first_bad_seq":null,"problem":null,"gaps":[]}"# + "\n")
        #expect(try sqlVerify(harness) == ["t", "23", "20", nil, nil])
        // Purging is not a licence to alter the metadata that stays.
        try harness.tamperAsSuperuser("UPDATE walaudit.event_log SET db_user = 'x' WHERE seq = 4")
        #expect(try verify(harness).output.contains("TAMPERED at seq 4: event altered"))
    }
}
