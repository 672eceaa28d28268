import Foundation
import PostgresClient
import Testing
import TestSupport

/// Reports answered from the trail agree with what the source table
/// actually held, and every report call is in the access log.
@Suite struct ReportTests {
    /// Runs a workload of single-row changes (and TRUNCATEs), recording after
    /// every commit the server time and each row's real state; then asks
    /// row_as_of for every recorded moment and row_history for every row.
    @Test func rowAsOfAndRowHistoryMatchTheTablesPastStates() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let su = db.connection
        let reader = "reader_\(db.name)"
        try su.execute("""
            CREATE TABLE items (id integer PRIMARY KEY, name text, qty integer, price numeric(8,2), active boolean, tags jsonb);
            CREATE TABLE sentinel (id integer PRIMARY KEY);
            CREATE ROLE \(reader) LOGIN IN ROLE walaudit_reader;
            """)
        try harness.expectSuccess(["attach", "items", "sentinel"])
        let worker = try harness.startWorker()
        // The table is empty, so its baseline has no rows; until the worker
        // writes the WALAUDIT BASELINE DONE event itself, the test appends
        // it (through the store's own append path, so the chain verifies).
        // Without it, row_as_of could not tell a key first inserted after
        // the TRUNCATE from a row present but unrecorded since the attach.
        let attached = Date().addingTimeInterval(30)
        while try su.execute("""
            SELECT 1 FROM walaudit.event_log WHERE table_name = 'items' AND new_row->>'command_tag' = 'WALAUDIT ATTACH'
            """).rows.isEmpty {
            guard Date() < attached else { throw HarnessError("the worker did not record the attach: \(worker.log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try su.execute("""
            SELECT walaudit.append_event('DDL', 'public', 'items', NULL, NULL, '{"command_tag": "WALAUDIT BASELINE DONE", "rows": 0}')
            WHERE NOT EXISTS (SELECT 1 FROM walaudit.event_log WHERE table_name = 'items' AND new_row->>'command_tag' = 'WALAUDIT BASELINE DONE')
            """)

        let keys = 1...5
        var moments: [(time: String, states: [Int: String?])] = []
        func record() throws {
            let time = try su.execute("SELECT clock_timestamp()::text").scalar!
            var states: [Int: String?] = [:]
            for key in keys {
                states[key] = try su.execute("SELECT to_jsonb(i)::text FROM items i WHERE id = $1", [String(key)]).scalar
            }
            moments.append((time, states))
        }
        try record()
        // A deterministic mix: inserts, updates (several rows per transaction), deletes, re-inserts, TRUNCATE.
        var lcg: UInt64 = 7
        func next(_ n: Int) -> Int { lcg = lcg &* 6364136223846793005 &+ 1442695040888963407; return Int(lcg >> 33) % n }
        for step in 0..<40 {
            if step == 25 {
                try su.execute("TRUNCATE items")
            } else {
                var statements: [String] = []
                let first = next(keys.count)
                for key in (0..<(1 + next(3))).map({ (first + $0) % keys.count + 1 }) {
                    let exists = try su.execute("SELECT 1 FROM items WHERE id = $1", [String(key)]).rows.count == 1
                    switch (exists, next(4)) {
                    case (false, _):
                        statements.append("INSERT INTO items VALUES (\(key), 'item \(key)', \(next(100)), \(next(10000)) / 100.0, true, '{\"step\": \(step)}')")
                    case (true, 0):
                        statements.append("DELETE FROM items WHERE id = \(key)")
                    default:
                        statements.append("UPDATE items SET qty = qty + 1, active = NOT active, tags = tags || '{\"step\": \(step)}' WHERE id = \(key)")
                    }
                }
                try su.execute("BEGIN; " + statements.joined(separator: "; ") + "; COMMIT")
            }
            try record()
        }
        try su.execute("INSERT INTO sentinel VALUES (1)")
        let deadline = Date().addingTimeInterval(30)
        while try su.execute("SELECT 1 FROM walaudit.event_log WHERE table_name = 'sentinel'").rows.isEmpty {
            guard Date() < deadline else { throw HarnessError("the worker did not catch up: \(worker.log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }

        // As a reader: every moment, every row.
        let asReader = try Connection(db.cluster.conninfo(database: db.name, user: reader))
        for moment in moments {
            for key in keys {
                let same = try asReader.execute(
                    "SELECT walaudit.row_as_of('items', $1::jsonb, $2::timestamptz) IS NOT DISTINCT FROM $3::jsonb",
                    ["{\"id\": \(key)}", moment.time, moment.states[key]!]).scalar
                #expect(same == "t", "row \(key) at \(moment.time): expected \(moment.states[key]! ?? "NULL")")
            }
        }
        // The history's successive states are the table's successive states.
        var historyRows = 0
        for key in keys {
            var truth: [String?] = []
            for moment in moments {
                let state = try su.execute("SELECT $1::jsonb::text", [moment.states[key]!]).scalar
                if truth.last != state && !(truth.isEmpty && state == nil) { truth.append(state) }
            }
            var history: [String?] = []
            for row in try asReader.execute("""
                SELECT CASE WHEN operation IN ('INSERT', 'UPDATE') THEN new_row::text END
                FROM walaudit.row_history('items', $1) ORDER BY seq
                """, ["{\"id\": \(key)}"]).rows {
                historyRows += 1
                if history.last != row[0] { history.append(row[0]) }
            }
            #expect(history == truth, "row \(key)")
        }

        // Every call above is in the access log, with the reader's name and the rows it got.
        let logged = try su.execute("""
            SELECT function_name, count(*), min(db_user), min(role_name) FROM walaudit.access_log GROUP BY 1 ORDER BY 1
            """).rows
        #expect(logged == [["row_as_of", String(moments.count * keys.count), reader, reader],
                           ["row_history", String(keys.count), reader, reader]])
        #expect(try su.execute("SELECT sum(rows_returned) FROM walaudit.access_log WHERE function_name = 'row_history'").scalar
                == String(historyRows))

        // The functions reach a row's events through the row index, not by
        // reading the log or the whole index (the index expression must match
        // theirs): the index hands them exactly that row's entries. The log
        // is small here, so sequential scans are ruled out for the test.
        let rowEvents = try su.execute("SELECT count(*) FROM walaudit.event_log WHERE table_name = 'items' AND row_key = '{\"id\": 1}'").scalar
        #expect(rowEvents.flatMap { Int($0) } ?? 0 > 1)
        for call in ["SELECT count(*) FROM walaudit.row_history('items', '{\"id\": 1}')",
                     "SELECT walaudit.row_as_of('items', '{\"id\": 1}', now())"] {
            // Counted from inside one transaction: the counter also holds
            // earlier transactions' reads until the session reports them.
            let returned = "SELECT pg_stat_get_xact_tuples_returned('walaudit.event_log_row_ref'::regclass)"
            try asReader.execute("BEGIN")
            try asReader.execute("SET LOCAL enable_seqscan = off")
            let before = try asReader.execute(returned).scalar.flatMap { Int($0) } ?? -1
            try asReader.execute(call)
            let after = try asReader.execute(returned).scalar.flatMap { Int($0) } ?? -1
            try asReader.execute("COMMIT")
            #expect(String(after - before) == rowEvents, "\(call): \(after - before) entries of event_log_row_ref read for \(rowEvents ?? "?") events of the row")
        }
        #expect(worker.stop() == 0)
    }

    /// Once ANALYZE has run, the planner estimates a row's lookup by
    /// row_ref at the row's few events (event_log_row_ref_stats), not at
    /// PostgreSQL's default 0.5 % of the log: a 10M-event store's default
    /// made every report call compile its plan (JIT).
    @Test func aRowLookupIsEstimatedAtTheRowsEvents() throws {
        let harness = try WalauditHarness.make()
        let su = harness.database.connection
        try su.execute("CREATE TABLE items (id integer PRIMARY KEY, qty integer)")
        try harness.expectSuccess(["attach", "items"])
        let worker = try harness.startWorker()
        let base = try harness.waitForEvents(atLeast: 1)
        // 4,000 rows with one event each, then 1,000 of them once more: the
        // default would estimate 25 events for a row's lookup.
        try su.execute("INSERT INTO items SELECT g, 0 FROM generate_series(1, 4000) g")
        try su.execute("UPDATE items SET qty = 1 WHERE id <= 1000")
        let total = try harness.waitForEvents(atLeast: base + 5000)
        #expect(worker.stop() == 0)
        try su.execute("ANALYZE walaudit.event_log")
        let plan = try su.execute("""
            EXPLAIN (FORMAT JSON) SELECT seq FROM walaudit.event_log
            WHERE walaudit.row_ref(schema_name, table_name, row_key) = walaudit.row_ref('public', 'items', '{"id": 7}')
            """).scalar ?? ""
        // The estimate of the lookup's scan (by the index or not: the log is small).
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])
        let top = try #require(rows.first?["Plan"] as? [String: Any])
        let estimate = try #require(top["Plan Rows"] as? Int)
        #expect(estimate <= 3, "estimated \(estimate) of \(total) events for one row (the row has 2)")
    }
}
