import Decoding
import Foundation
@testable import Ledger
import PostgresClient
import Testing
import TestSupport

/// Purges the chain alone cannot show (issue 16 §2): a purge keeps the
/// event's hash, so both verifiers account for every purged payload with
/// the apply_retention run that made it, under the retention, the age and
/// the legal holds the chain's own POLICY events say were in force then
/// (docs/chain-format.md, "Purge accounting"). A purge nothing accounts for
/// is "purged outside retention", named by its seq.
@Suite struct PurgeAccountingTests {
    /// A store with two attached tables and the worker stopped: t keeps 30
    /// days and u has no retention; `row-3` holds t's row 3 and `mallory`
    /// her two rows of t. Rows 1-8 of t and 1-3 of u are committed before
    /// `boundary`, rows 9-10 of t and 4-5 of u after it.
    struct Store {
        /// A superuser session on the store.
        let su: Connection
        /// `--source … --slot …`
        let arguments: [String]
        let boundary: String
        /// The seqs of the INSERTs, by table and row id ("t3"), taken
        /// before anything was purged (a purge takes the row key along).
        let inserts: [String: String]

        init(su: Connection, arguments: [String], boundary: String) throws {
            (self.su, self.arguments, self.boundary) = (su, arguments, boundary)
            inserts = Dictionary(uniqueKeysWithValues: try su.execute("""
                SELECT table_name || (row_key->>'id'), seq FROM walaudit.event_log WHERE operation = 'INSERT' AND row_key IS NOT NULL
                """).rows.map { ($0[0]!, $0[1]!) })
        }

        /// The seq of the INSERT of row `id` of `table`.
        func seq(_ table: String, _ id: Int) throws -> String {
            guard let seq = inserts[table + String(id)] else { throw HarnessError("no INSERT of \(table) row \(id) before the purges") }
            return seq
        }

        /// apply_retention at `boundary + age` (a superuser's test clock);
        /// returns (table, purged, held) rows.
        @discardableResult
        func applyRetention(after age: String, dryRun: Bool = false) throws -> [[String?]] {
            let clock = try su.execute("SELECT ($1::timestamptz + $2::interval)::text", [boundary, age]).scalar!
            try su.execute("SELECT set_config('walaudit.test_now', $1, false)", [clock])
            defer { _ = try? su.execute("RESET walaudit.test_now") }
            return try su.execute("SELECT * FROM walaudit.apply_retention($1)", [dryRun ? "t" : "f"]).rows
        }

        /// Purges `seq`'s payload by hand, as a superuser would: what
        /// apply_retention does, behind the guard's back.
        func purgeByHand(_ seq: String) throws {
            try su.execute("""
                ALTER TABLE walaudit.event_log DISABLE TRIGGER walaudit_append_only;
                UPDATE walaudit.event_log SET row_key = NULL, old_row = NULL, new_row = NULL, payload_salt = NULL,
                       purged_at = clock_timestamp() WHERE seq = \(seq);
                ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only;
                """)
        }

        /// Both verifiers: the CLI (one connection and three, which must
        /// agree) and walaudit.verify_chain(), which must name the same seq
        /// and problem. Returns the CLI's exit status and output.
        func verify() throws -> (status: Int32, output: String) {
            let results = try ["1", "3"].map { jobs in
                let result = try WalauditBinary.run(["verify", "--jobs", jobs] + arguments)
                return (status: result.status, output: String(decoding: result.stdout, as: UTF8.self) + result.stderr)
            }
            #expect(results[1] == results[0], "--jobs 3 disagrees with one connection")
            let sql = try su.execute("SELECT ok, first_bad_seq, problem FROM walaudit.verify_chain()").rows[0]
            if results[0].status == 0 {
                #expect(sql[0] == "t", "the CLI says \(results[0].output), SQL says \(sql)")
            } else {
                #expect(sql[0] == "f" && results[0].output.contains("TAMPERED at seq \(sql[1] ?? "?"): \(sql[2] ?? "?")"),
                        "the CLI says \(results[0].output), SQL says \(sql)")
            }
            return results[0]
        }

        /// Expects both verifiers to call the chain intact.
        func expectIntact(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try verify()
            #expect(result.status == 0 && result.output.hasPrefix("intact:"), "\(comment ?? "") \(result.output)", sourceLocation: sourceLocation)
        }

        /// Expects both verifiers to report `seq` as purged outside retention.
        func expectPurgedOutsideRetention(_ seq: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try verify()
            #expect(result.status == 1, "\(result.output)", sourceLocation: sourceLocation)
            #expect(result.output.contains("TAMPERED at seq \(seq): purged outside retention: the payload of seq \(seq) was purged"),
                    "\(result.output)", sourceLocation: sourceLocation)
        }
    }

    static func store(policies: Bool = true) throws -> Store {
        let harness = try WalauditHarness.make()
        let su = harness.database.connection
        try su.execute("CREATE TABLE t (id integer PRIMARY KEY, v text); CREATE TABLE u (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", "t", "u"])
        let worker = try harness.startWorker()
        try su.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 6) i")
        try su.execute("BEGIN; SELECT walaudit.set_actor('mallory'); INSERT INTO t VALUES (7, 'm7'), (8, 'm8'); COMMIT")
        try su.execute("INSERT INTO u SELECT i, 'u' || i FROM generate_series(1, 3) i")
        let boundary = try su.execute("SELECT clock_timestamp()::text").scalar!
        try su.execute("INSERT INTO t VALUES (9, 'late'), (10, 'late'); INSERT INTO u VALUES (4, 'late'), (5, 'late')")
        try harness.waitForEvents(atLeast: 17)  // 2 attach DDLs, 15 inserts
        #expect(worker.stop() == 0)
        if policies {
            try su.execute("SELECT walaudit.set_retention('t', '30 days')")
            try su.execute(#"SELECT walaudit.place_legal_hold('row-3', 'billing dispute', 't', '{"id": 3}')"#)
            try su.execute("SELECT walaudit.place_legal_hold('mallory', 'fraud investigation', actor => 'mallory')")
        }
        return try Store(su: su, arguments: harness.connectionArguments, boundary: boundary)
    }

    /// Issue 16 §2 (1): a superuser's purge by hand — payload and salt
    /// NULL, purged_at set — leaves every hash intact, yet both verifiers
    /// report it, with its seq; CLI exit 1.
    @Test func aPurgeByHandIsPurgedOutsideRetention() throws {
        let store = try Self.store(policies: false)
        let seq = try store.seq("t", 4)
        try store.expectIntact()
        try store.purgeByHand(seq)
        try store.expectPurgedOutsideRetention(seq)
        let json = try WalauditBinary.run(["verify", "--json"] + store.arguments)
        #expect(json.status == 1)
        #expect(String(decoding: json.stdout, as: UTF8.self).contains(#""purged":1,"first_bad_seq":\#(seq),"problem":"purged outside retention"#))
    }

    /// Issue 16 §2 (2) and (4): what real runs purged verifies intact, and
    /// stays so whatever later changes retention and holds: a hold
    /// released, retention lengthened, removed, a new table-wide hold. The
    /// run records what it went by and what it purged.
    @Test func whatRunsPurgedVerifiesAfterLaterPolicyChanges() throws {
        let store = try Self.store()
        let su = store.su
        #expect(try store.applyRetention(after: "30 days", dryRun: true) == [["public.t", "5", "3"]])
        #expect(try store.applyRetention(after: "30 days") == [["public.t", "5", "3"]])
        try store.expectIntact()
        // Its POLICY event: t's cutoff and purges in two ranges (row 3 was
        // held), the retention and the holds it went by.
        let (t1, t2, t4, t6) = (try store.seq("t", 1), try store.seq("t", 2), try store.seq("t", 4), try store.seq("t", 6))
        #expect(try su.execute("""
            SELECT new_row #>> '{purges,0,seqs}', new_row #>> '{retention,0,keep}', jsonb_array_length(new_row->'holds'),
                   (new_row #>> '{purges,0,cutoff_us}')::bigint = extract(epoch FROM $1::timestamptz) * 1000000
            FROM walaudit.event_log WHERE operation = 'POLICY' ORDER BY seq DESC LIMIT 1
            """, [store.boundary]).rows == [["[[\(t1), \(t2)], [\(t4), \(t6)]]", "30 days", "2", "t"]])

        // Later changes do not turn what the runs did into findings.
        try su.execute("SELECT walaudit.release_legal_hold('row-3', 'dispute settled')")
        try store.expectIntact("after a release")
        try su.execute("SELECT walaudit.set_retention('t', '10 years')")
        try su.execute("SELECT walaudit.place_legal_hold('all-of-t', 'new case', 't')")
        try store.expectIntact("after lengthening retention and a table-wide hold")
        try su.execute("SELECT walaudit.release_legal_hold('all-of-t', 'closed')")
        try su.execute("SELECT walaudit.set_retention(NULL, '1 year')")
        // u now falls under the default; t3 is released: both go at this run.
        #expect(try store.applyRetention(after: "11 years") == [["public.t", "3", "2"], ["public.u", "5", "0"]])
        try su.execute("SELECT walaudit.set_retention('t', NULL); SELECT walaudit.set_retention(NULL, NULL)")
        try su.execute("SELECT walaudit.release_legal_hold('mallory', 'closed')")
        try store.expectIntact("after removing every retention and releasing every hold")
        #expect(try su.execute("SELECT count(*) FROM walaudit.event_log WHERE purged_at IS NOT NULL").scalar == "13")
    }

    /// Issue 16 §2 (3): purges by hand that no run made are reported,
    /// after a real run: an event a key hold kept, one an actor hold kept,
    /// one too young at the run's clock, one of a table without retention,
    /// a DDL event (never a row change), and an expired one purged before
    /// the run that would have purged it (the run did not).
    @Test(arguments: ["held by a row key", "held by an actor", "too young", "no retention", "not a row change", "before its run"])
    func purgesByHandNoRunMadeAreReported(_ kind: String) throws {
        let store = try Self.store()
        let seq = switch kind {
        case "held by a row key": try store.seq("t", 3)
        case "held by an actor": try store.seq("t", 7)
        case "too young": try store.seq("t", 9)
        case "no retention": try store.seq("u", 1)
        case "not a row change": try store.su.execute("SELECT min(seq) FROM walaudit.event_log WHERE operation = 'DDL'").scalar!
        default: try store.seq("t", 2)
        }
        if kind == "before its run" { try store.purgeByHand(seq) }
        #expect(try store.applyRetention(after: "30 days") == [["public.t", kind == "before its run" ? "4" : "5", "3"]])
        if kind != "before its run" {
            try store.expectIntact()
            try store.purgeByHand(seq)
        }
        try store.expectPurgedOutsideRetention(seq)
    }

    /// The accounting comes from the chain, not from the tables a superuser
    /// can edit: a run that went by a hold released, a hold's key changed,
    /// a retention shortened or added in the tables, with no POLICY event
    /// saying so, purges what the chain's policy did not allow, and that
    /// is reported.
    @Test(arguments: ["hold released", "hold key changed", "retention shortened", "retention added"])
    func runsGoingByEditedPolicyTablesAreReported(_ edit: String) throws {
        let store = try Self.store()
        let sql = switch edit {
        case "hold released":
            "UPDATE walaudit.legal_hold SET released_at = now(), released_by = 'x', release_reason = 'quietly' WHERE name = 'row-3'"
        case "hold key changed": """
            ALTER TABLE walaudit.legal_hold DISABLE TRIGGER walaudit_hold_rules;
            UPDATE walaudit.legal_hold SET row_key = '{"id": 99}' WHERE name = 'row-3';
            ALTER TABLE walaudit.legal_hold ENABLE ALWAYS TRIGGER walaudit_hold_rules
            """
        case "retention shortened":
            "UPDATE walaudit.retention_policy SET keep = '1 day' WHERE table_name = 't'"
        default:
            "INSERT INTO walaudit.retention_policy (schema_name, table_name, keep, mode, set_by) VALUES ('public', 'u', '1 day', 'governance', 'x')"
        }
        try store.su.execute(sql)
        try store.applyRetention(after: "30 days")
        let first = switch edit {
        // A hold with a row key the run did not go by leaves none of the
        // table's purges accounted for (the keys are gone); a retention
        // the chain did not set, none of the table's.
        case "hold released", "hold key changed", "retention shortened": try store.seq("t", 1)
        default: try store.seq("u", 1)
        }
        try store.expectPurgedOutsideRetention(first)
    }

    /// A store upgraded from the previous main: its apply_retention runs
    /// recorded only their clock and per table counts. Such a run accounts
    /// for the purges before it of the tables it counts purges for, with a
    /// retention then in force, committed before its clock — not for their
    /// exact age nor the holds it honoured (an event a key hold kept, purged
    /// by hand, passes: the documented limit). Runs after the upgrade
    /// record their purges; a purge by hand after every run is reported.
    @Test func runsRecordedBeforePurgeAccountingStillAccount() throws {
        let database = try TestServer.freshDatabase()
        let slot = String(database.name.prefix(60))
        let su = database.connection
        let arguments = ["--source", database.conninfo, "--slot", slot]
        try StoreUpgradeTests.setUpAsPreviousMain(source: su, store: su, slot: slot)
        try su.execute("""
            CREATE TABLE t (id integer PRIMARY KEY, v text); CREATE TABLE u (id integer PRIMARY KEY, v text);
            SELECT walaudit.attach('t'); SELECT walaudit.attach('u');
            """)
        var worker = try WorkerProcess(arguments: ["run"] + arguments)
        try su.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 5) i; INSERT INTO u SELECT i, 'u' || i FROM generate_series(1, 3) i")
        let boundary = try su.execute("SELECT clock_timestamp()::text").scalar!
        try su.execute("INSERT INTO t VALUES (6, 'late'), (7, 'late')")
        try StoreUpgradeTests.waitForEvents(su, atLeast: 12)
        #expect(worker.stop() == 0, "\(worker.log)")
        try su.execute("SELECT walaudit.set_retention('t', '30 days')")
        try su.execute(#"SELECT walaudit.place_legal_hold('row-3', 'billing dispute', 't', '{"id": 3}')"#)
        func applyRetention(after age: String) throws -> [[String?]] {
            try su.execute("SELECT set_config('walaudit.test_now', ($1::timestamptz + $2::interval)::text, false)", [boundary, age])
            defer { _ = try? su.execute("RESET walaudit.test_now") }
            return try su.execute("SELECT * FROM walaudit.apply_retention()").rows
        }
        let store = try Store(su: su, arguments: arguments, boundary: boundary)
        #expect(try applyRetention(after: "30 days") == [["public.t", "4", "1"]])
        #expect(try su.execute("SELECT count(*) FROM walaudit.events WHERE new_row ? 'purges'").scalar == "0", "an old-format run")
        _ = try StoreUpgradeTests.setup(arguments)

        try store.expectIntact("the old run accounts for its purges")
        // A run after the upgrade records its purges: u under a new default, t's late rows.
        try su.execute("SELECT walaudit.set_retention(NULL, '30 days')")
        #expect(try applyRetention(after: "60 days") == [["public.t", "2", "1"], ["public.u", "3", "0"]])
        try store.expectIntact("old and new runs together")

        // The limit: the old run does not say which holds it honoured.
        try store.purgeByHand(try store.seq("t", 3))
        try store.expectIntact("an old run cannot show it kept row 3")
        // After every run, nothing accounts for a purge.
        worker = try WorkerProcess(arguments: ["run"] + arguments)
        try su.execute("INSERT INTO t VALUES (8, 'after the runs')")
        try StoreUpgradeTests.waitForEvents(su, atLeast: Int(try su.execute("SELECT max(seq) FROM walaudit.event_log").scalar!)! + 1)
        #expect(worker.stop() == 0, "\(worker.log)")
        let t8 = try su.execute("SELECT max(seq) FROM walaudit.event_log").scalar!
        try store.purgeByHand(t8)
        try store.expectPurgedOutsideRetention(t8)
    }

    /// What the verifier reads from POLICY events, as PostgreSQL writes
    /// it: timestamps as `to_jsonb` prints them in any time zone (offsets
    /// with seconds, BC, infinities), and table names as `format('%I.%I')`
    /// quotes them (an old run's `tables` keys).
    @Test func timesAndNamesAreReadAsPostgreSQLWritesThem() throws {
        let db = try TestServer.freshDatabase()
        for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"] {
            try db.connection.execute("SELECT set_config('TimeZone', $1, false)", [zone])
            for text in ["2026-12-02 14:40:42.179909+00", "1900-01-01 00:00:00+00", "0044-03-15 12:00:00.5+00 BC", "12345-06-07 08:09:10+00",
                         "1969-12-31 23:59:59.999999+00", "infinity", "-infinity"] {
                let row = try db.connection.execute("""
                    SELECT to_jsonb($1::timestamptz) #>> '{}',
                           CASE WHEN isfinite($1::timestamptz) THEN (extract(epoch FROM $1::timestamptz) * 1000000)::bigint END
                    """, [text]).rows[0]
                let expected = row[1].flatMap { Int64($0) } ?? (text.hasPrefix("-") ? .min : .max)
                #expect(PostgresTimestamp(jsonText: Substring(row[0]!))?.microsecondsSinceEpoch == expected, "\(zone): \(row[0]!)")
            }
        }
        for (schema, table) in [("public", "t"), ("My Schema", "Ta\"ble"), ("café", "select"), ("_x1", "a$b"), ("1abc", "Upper"),
                                ("a.b", "\"\""), ("ünï", "x\u{301}")] {
            let key = try db.connection.execute("SELECT format('%I.%I', $1::text, $2::text)", [schema, table]).scalar!
            let name = PurgeAccounting.qualifiedName(key)
            #expect(name?.schema == Array(schema.utf8) && name?.table == Array(table.utf8), "\(key)")
        }
    }
}
