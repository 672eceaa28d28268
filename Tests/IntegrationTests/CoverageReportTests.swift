import Foundation
import PostgresClient
import Testing
import TestSupport

/// row_as_of answers only for moments the trail covers: before a table's
/// history starts, inside a GAP, or for a row the trail cannot know (no
/// baseline, baseline in progress) it raises WA001 or WA002 instead of a
/// NULL that would say "absent" (docs/sql-reference.md). Answers it does
/// give match what the table held (captured with clock_timestamp()).
@Suite struct CoverageReportTests {
    /// A table with rows, its captured state at a moment, and a reader.
    struct Fixture {
        let harness: WalauditHarness
        let su: Connection
        let reader: Connection
        let worker: WorkerProcess

        static func make(rows: Int) throws -> Fixture {
            let harness = try WalauditHarness.make()
            let db = harness.database
            let su = db.connection
            let reader = "reader_\(db.name)"
            try su.execute("""
                CREATE TABLE items (id integer PRIMARY KEY, name text, qty integer);
                INSERT INTO items SELECT g, 'item ' || g, g * 10 FROM generate_series(1, \(rows)) g;
                CREATE TABLE sentinel (id integer PRIMARY KEY);
                CREATE ROLE \(reader) LOGIN IN ROLE walaudit_reader;
                """)
            try harness.expectSuccess(["attach", "items", "sentinel", "--no-baseline"])
            let worker = try harness.startWorker()
            let fixture = try Fixture(harness: harness, su: su,
                                      reader: Connection(db.cluster.conninfo(database: db.name, user: reader)), worker: worker)
            try fixture.catchUp()
            return fixture
        }

        /// The server's clock now and every row of items as JSON, by id.
        func moment() throws -> (time: String, rows: [Int: String]) {
            let time = try su.execute("SELECT clock_timestamp()::text").scalar!
            var rows: [Int: String] = [:]
            for row in try su.execute("SELECT id, to_jsonb(i)::text FROM items i").rows {
                rows[Int(row[0]!)!] = row[1]!
            }
            // Later commits get later times than this moment.
            Thread.sleep(forTimeInterval: 0.01)
            return (time, rows)
        }

        /// Waits until everything committed so far is in the store.
        func catchUp() throws {
            try su.execute("INSERT INTO sentinel SELECT coalesce(max(id), 0) + 1 FROM sentinel")
            let count = try su.execute("SELECT count(*) FROM sentinel").scalar!
            let deadline = Date().addingTimeInterval(30)
            while try su.execute("SELECT count(*) FROM walaudit.event_log WHERE table_name = 'sentinel' AND operation = 'INSERT'").scalar != count {
                guard Date() < deadline else { throw HarnessError("the worker did not catch up: \(worker.log)") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        /// row_as_of as the reader: the answer as text (nil: NULL), or the error.
        func asOf(_ id: Int, _ at: String) -> Result<String?, PostgresError> {
            Result { () throws(PostgresError) in
                try reader.execute("SELECT walaudit.row_as_of('items', $1::jsonb, $2::timestamptz)::text",
                                   ["{\"id\": \(id)}", at]).scalar
            }
        }

        /// The answer must be the row as it was (nil: absent).
        func expectAnswer(_ id: Int, _ moment: (time: String, rows: [Int: String]), sourceLocation: SourceLocation = #_sourceLocation) throws {
            switch asOf(id, moment.time) {
            case .success(let answer):
                let same = try su.execute("SELECT $1::jsonb IS NOT DISTINCT FROM $2::jsonb", [answer, moment.rows[id]]).scalar
                #expect(same == "t", "row \(id) at \(moment.time): got \(answer ?? "NULL"), expected \(moment.rows[id] ?? "NULL")",
                        sourceLocation: sourceLocation)
            case .failure(let error):
                Issue.record("row \(id) at \(moment.time): \(error)", sourceLocation: sourceLocation)
            }
        }

        /// The call must fail with `sqlState` and a message containing each of `mentions`.
        func expectRefusal(_ id: Int, _ at: String, _ sqlState: String, mentioning mentions: [String],
                           sourceLocation: SourceLocation = #_sourceLocation) {
            switch asOf(id, at) {
            case .success(let answer):
                Issue.record("row \(id) at \(at): answered \(answer ?? "NULL"), expected \(sqlState)", sourceLocation: sourceLocation)
            case .failure(let error):
                #expect(error.sqlState == sqlState, "\(error)", sourceLocation: sourceLocation)
                for mention in mentions {
                    #expect(error.message.contains(mention), "\(error.message) does not mention \(mention)", sourceLocation: sourceLocation)
                }
            }
        }

        /// seq and event_time of the last event of items matching `condition`.
        func event(_ condition: String) throws -> (seq: String, time: String) {
            let row = try su.execute("""
                SELECT seq::text, event_time::text FROM walaudit.event_log
                WHERE table_name = 'items' AND \(condition) ORDER BY seq DESC LIMIT 1
                """).rows.first
            guard let row else { throw HarnessError("no event of items with \(condition)") }
            return (row[0]!, row[1]!)
        }
    }

    /// Attached without a baseline: before the attach, rows never changed,
    /// changed rows before and after their change, inserted rows, then a
    /// detach and a new attach: the moment between is a gap.
    @Test func noBaselineAttachGapAndReattach() throws {
        let f = try Fixture.make(rows: 4)
        let attach = try f.event("operation = 'DDL' AND new_row->>'command_tag' = 'WALAUDIT ATTACH'")
        let beforeAttach = try f.su.execute("SELECT ($1::timestamptz - interval '1 second')::text", [attach.time]).scalar!

        let m1 = try f.moment()
        try f.su.execute("UPDATE items SET qty = qty + 1 WHERE id = 2")
        try f.su.execute("INSERT INTO items VALUES (5, 'item 5', 50)")
        try f.su.execute("DELETE FROM items WHERE id = 3")
        let m2 = try f.moment()
        try f.su.execute("UPDATE items SET name = 'renamed' WHERE id = 2")
        let m3 = try f.moment()
        try f.catchUp()

        // Before the table's history: refused, naming where it starts.
        for id in [1, 2, 5, 99] {
            f.expectRefusal(id, beforeAttach, "WA001", mentioning: ["starts at \(attach.time)", "seq \(attach.seq)"])
        }
        // Never changed since an attach without a baseline: not known.
        for moment in [m1, m2, m3] {
            for id in [1, 4, 99] {
                f.expectRefusal(id, moment.time, "WA001", mentioning: ["without a baseline at \(attach.time)"])
            }
        }
        // Changed rows: before the change the old image, after it the new.
        for moment in [m1, m2, m3] {
            for id in [2, 3, 5] {
                try f.expectAnswer(id, moment)
            }
        }
        #expect(m1.rows[3] != nil && m2.rows[3] == nil && m1.rows[5] == nil && m2.rows[5] != nil)

        // Detached: a change then is not in the trail; attached again.
        try f.harness.expectSuccess(["detach", "items"])
        try f.su.execute("UPDATE items SET qty = 0 WHERE id = 2")
        let m4 = try f.moment()
        try f.harness.expectSuccess(["attach", "items", "--no-baseline"])
        let m5 = try f.moment()
        try f.su.execute("UPDATE items SET qty = -1 WHERE id = 5")
        let m6 = try f.moment()
        try f.catchUp()
        let gap = try f.event("operation = 'GAP'")
        let reattach = try f.event("operation = 'DDL' AND new_row->>'command_tag' = 'WALAUDIT ATTACH'")
        #expect(reattach.seq != attach.seq)

        for id in [1, 2, 5, 99] {
            f.expectRefusal(id, m4.time, "WA001", mentioning: ["gap from \(gap.time)", "GAP event seq \(gap.seq)", "detached",
                                                               "until \(reattach.time)", "seq \(reattach.seq)"])
        }
        // The new history knows row 5 from its change; row 2's lost change shows in its image.
        try f.expectAnswer(5, m5)
        try f.expectAnswer(5, m6)
        f.expectRefusal(2, m5.time, "WA001", mentioning: ["without a baseline at \(reattach.time)"])
        // The first span still answers.
        try f.expectAnswer(2, m3)
        try f.expectAnswer(5, m3)

        // Only answered calls are logged: a refused one rolled back with its error.
        let logged = try f.su.execute("SELECT count(*) FROM walaudit.access_log WHERE function_name = 'row_as_of'").scalar
        #expect(logged == "13")
        #expect(f.worker.stop() == 0)
    }

    /// A baseline taken later (its events crafted through the store's own
    /// append path until the worker writes them: WALAUDIT BASELINE, the
    /// rows' SNAPSHOTs, WALAUDIT BASELINE DONE) starts a new span of history
    /// in which unchanged rows are known from their SNAPSHOT, and a row
    /// without one is absent once the baseline is done.
    @Test func baselineSnapshotsAnswerForUnchangedRows() throws {
        let f = try Fixture.make(rows: 3)
        let m0 = try f.moment()
        func append(_ operation: String, key: String?, row: String) throws -> String {
            try f.su.execute("SELECT walaudit.append_event($1, 'public', 'items', $2::jsonb, NULL, $3::jsonb)::text",
                             [operation, key, row]).scalar!
        }
        let baselineSeq = try append("DDL", key: nil, row: "{\"command_tag\": \"WALAUDIT BASELINE\"}")
        let m1 = try f.moment()

        // Requested, nothing recorded yet: in progress.
        for id in [1, 3, 99] {
            f.expectRefusal(id, m1.time, "WA002", mentioning: ["in progress", "seq \(baselineSeq)"])
        }
        // Rows 1 and 2 read by the baseline; row 3 changes first, so it gets no SNAPSHOT.
        for id in [1, 2] {
            _ = try append("SNAPSHOT", key: "{\"id\": \(id)}", row: m1.rows[id]!)
        }
        try f.su.execute("UPDATE items SET qty = 7 WHERE id = 3")
        let m2 = try f.moment()
        try f.catchUp()
        try f.expectAnswer(1, m1)
        try f.expectAnswer(3, m1)
        f.expectRefusal(99, m1.time, "WA002", mentioning: ["in progress"])
        // A partition's own baseline ending (it joined with rows) does not end the table's.
        _ = try append("DDL", key: nil, row: #"{"command_tag": "WALAUDIT BASELINE DONE", "baseline_id": 9, "rows": 0, "member": {"schema": "public", "table": "items_p"}}"#)
        f.expectRefusal(99, m1.time, "WA002", mentioning: ["in progress"])
        _ = try append("DDL", key: nil, row: "{\"command_tag\": \"WALAUDIT BASELINE DONE\", \"rows\": 2}")
        let m3 = try f.moment()

        for moment in [m1, m2, m3] {
            for id in [1, 2, 3, 99] {
                try f.expectAnswer(id, moment)
            }
        }
        // Before the baseline, in the history begun by the attach without
        // one: row 1 had no event between the attach and its SNAPSHOT and
        // there was no gap, so its SNAPSHOT tells that moment too; a key
        // without any event is still not known there.
        try f.expectAnswer(1, m0)
        f.expectRefusal(99, m0.time, "WA001", mentioning: ["without a baseline"])

        // The row's history starts with its SNAPSHOT.
        let history = try f.reader.execute("SELECT operation FROM walaudit.row_history('items', '{\"id\": 1}') ORDER BY seq").rows
        #expect(history == [["SNAPSHOT"]])
        #expect(try f.su.execute("SELECT ok FROM walaudit.verify_chain()").scalar == "t")
        #expect(f.worker.stop() == 0)
    }
}
