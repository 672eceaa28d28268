import Decoding
import EmbeddedPostgres
import Foundation
import PostgresClient
import Testing
import TestSupport

/// Attaching real tables whole (issue 15): existing rows as a baseline,
/// partitions and inheritance children present and future, all under the
/// attached table's name. Each drill rebuilds the table from its events and
/// compares it with the server's own rows.
@Suite struct WholeTableTests {
    /// The table as its events since its last attach leave it: SNAPSHOT and
    /// INSERT add a row, UPDATE replaces it (under its new key when the key
    /// changed, e.g. a row moved between partitions), DELETE removes it.
    static func rebuilt(_ store: Connection, schema: String = "public", table: String, key: [String]) throws -> [String: [String: JSONValue]] {
        func object(_ text: String?) throws -> [String: JSONValue]? {
            guard let text, case .object(let members) = try JSONValue(parsing: text) else { return nil }
            return Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        let rows = try store.execute("""
            SELECT operation, old_row::text, new_row::text FROM walaudit.event_log
            WHERE schema_name = $1 AND table_name = $2
              AND seq > (SELECT max(seq) FROM walaudit.event_log WHERE schema_name = $1 AND table_name = $2
                                                                  AND new_row->>'command_tag' = 'WALAUDIT ATTACH')
            ORDER BY seq
            """, [schema, table]).rows
        var image: [String: [String: JSONValue]] = [:]
        func keyOf(_ row: [String: JSONValue]) -> String { key.map { row[$0]?.serialized ?? "?" }.joined(separator: "|") }
        for row in rows {
            let old = try object(row[1]), new = try object(row[2])
            switch row[0] {
            case "SNAPSHOT", "INSERT": if let new { image[keyOf(new)] = new }
            case "UPDATE":
                if let old { image[keyOf(old)] = nil }
                if let new { image[keyOf(new)] = new }
            case "DELETE": if let old { image[keyOf(old)] = nil }
            case "TRUNCATE": image = [:]
            default: break
            }
        }
        return image
    }

    /// The server's rows of `query` (which selects `to_jsonb(...)`), keyed like `rebuilt`.
    static func actual(_ connection: Connection, _ query: String, key: [String]) throws -> [String: [String: JSONValue]] {
        var rows: [String: [String: JSONValue]] = [:]
        for row in try connection.execute(query).rows {
            guard case .object(let members) = try JSONValue(parsing: row[0]!) else { continue }
            let object = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            rows[key.map { object[$0]?.serialized ?? "?" }.joined(separator: "|")] = object
        }
        return rows
    }

    /// Writers that keep changing a table on their own connections until stopped.
    final class Writers: @unchecked Sendable {
        private let lock = NSLock()
        private var running = true
        private(set) var errors: [String] = []

        init(count: Int, conninfo: String, statement: @escaping @Sendable (Int, inout UInt64) -> String) {
            for index in 0..<count {
                let thread = Thread { [self] in
                    guard let connection = try? Connection(conninfo) else { return }
                    var state = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
                    while isRunning {
                        // Paced (~400 statements/s each), as an application
                        // would be: the drill is about consistency, not about
                        // outrunning the worker on two shared cores.
                        Thread.sleep(forTimeInterval: 0.0025)
                        do { try connection.execute(statement(index, &state)) } catch {
                            let message = "\(error)"
                            if !message.contains("duplicate key") && !message.contains("no partition") {
                                lock.withLock { errors.append(message) }
                            }
                        }
                    }
                }
                thread.start()
            }
        }

        private var isRunning: Bool { lock.withLock { running } }

        func stop() {
            lock.withLock { running = false }
            Thread.sleep(forTimeInterval: 0.3)
        }
    }

    static func next(_ state: inout UInt64, _ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }

    static func waitFor(_ what: String, timeout: Double = 120, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw HarnessError("timed out waiting for \(what)")
    }

    /// A table with rows attached while writers change it, the worker
    /// SIGKILLed mid-baseline and restarted: every row is recorded exactly
    /// once (a SNAPSHOT, or its own history that started earlier), and the
    /// rebuilt table equals the real one.
    @Test func baselineUnderWritersSurvivesAKillExactlyOnce() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL, note text);
            INSERT INTO accounts SELECT i, i % 1000, 'row ' || i FROM generate_series(1, 20000) i;
            """)
        var worker = try harness.startWorker(["--baseline-chunk-rows", "2000"])
        let writers = Writers(count: 2, conninfo: harness.database.conninfo) { _, state in
            let id = WholeTableTests.next(&state, 22000) + 1
            switch WholeTableTests.next(&state, 4) {
            case 0: return "INSERT INTO accounts VALUES (\(id), 1, 'new') ON CONFLICT (id) DO NOTHING"
            case 1: return "DELETE FROM accounts WHERE id = \(id)"
            default: return "UPDATE accounts SET balance = balance + 1 WHERE id = \(id)"
            }
        }
        let attach = try harness.expectSuccess(["attach", "accounts"])
        #expect(attach.contains("SNAPSHOT"), "\(attach)")
        let store = try harness.storeConnection()
        try Self.waitFor("the first baseline chunks") {
            Int(try store.execute("SELECT coalesce(max(chunks), 0) FROM walaudit.baseline_progress").scalar ?? "0") ?? 0 >= 3
        }
        worker.kill()
        worker = try harness.startWorker(["--baseline-chunk-rows", "2000"])
        do {
            try Self.waitFor("the baseline to finish") {
                try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
            }
        } catch {
            let progress = try store.execute("SELECT chunks, rows_recorded, rows_skipped, last_key::text FROM walaudit.baseline_progress").rows
            Issue.record("\(error); progress \(progress); worker log:\n\(worker.log)")
            return
        }
        writers.stop()
        #expect(writers.errors.isEmpty, "\(writers.errors.prefix(3))")
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")

        let rebuilt = try Self.rebuilt(store, table: "accounts", key: ["id"])
        let real = try Self.actual(connection, "SELECT to_jsonb(a)::text FROM accounts a", key: ["id"])
        #expect(rebuilt.count == real.count)
        #expect(rebuilt == real, "\(rebuilt.filter { real[$0.key] != $0.value }.prefix(3))")
        // Exactly once: no key has two SNAPSHOTs, and none has a SNAPSHOT after an event of its own.
        let doubled = try store.execute("""
            SELECT count(*) FROM (
                SELECT row_key FROM walaudit.event_log WHERE table_name = 'accounts'
                GROUP BY row_key
                HAVING count(*) FILTER (WHERE operation = 'SNAPSHOT') > 1
                    OR min(seq) FILTER (WHERE operation = 'SNAPSHOT') > min(seq) FILTER (WHERE operation <> 'SNAPSHOT')) d
            """).scalar
        #expect(doubled == "0")
        let snapshots = Int(try store.execute("SELECT count(*) FROM walaudit.event_log WHERE operation = 'SNAPSHOT'").scalar ?? "0") ?? 0
        #expect(snapshots > 10000 && snapshots <= 20000, "\(snapshots)")
        let done = try store.execute("SELECT (new_row->>'rows')::int FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar
        #expect(done == String(snapshots))
        #expect(try WalauditBinary.run(["verify"] + harness.connectionArguments).status == 0)
    }

    /// A three-level partition tree attached at its root while writers move
    /// rows between partitions; a partition created, one attached with rows
    /// and one detached meanwhile. Every event names the root; the rebuilt
    /// table equals the real one (plus the detached partition's rows, which
    /// left by DDL, not row by row).
    @Test func partitionTreeIsAuditedWholeUnderItsRootName() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE orders (id integer, region text, bucket integer, v integer, PRIMARY KEY (id, region, bucket)) PARTITION BY LIST (region);
            CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu') PARTITION BY RANGE (bucket);
            CREATE TABLE orders_eu_low PARTITION OF orders_eu FOR VALUES FROM (0) TO (5);
            CREATE TABLE orders_eu_high PARTITION OF orders_eu FOR VALUES FROM (5) TO (10);
            CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
            CREATE TABLE orders_old PARTITION OF orders FOR VALUES IN ('old');
            INSERT INTO orders SELECT i, (ARRAY['eu', 'us', 'old'])[i % 3 + 1], i % 10, 0 FROM generate_series(1, 3000) i;
            """)
        let worker = try harness.startWorker(["--baseline-chunk-rows", "500"])
        try harness.expectSuccess(["attach", "orders"])
        let writers = Writers(count: 2, conninfo: harness.database.conninfo) { _, state in
            let id = WholeTableTests.next(&state, 3000) + 1
            let region = ["eu", "us", "asia"][WholeTableTests.next(&state, 3)]
            switch WholeTableTests.next(&state, 5) {
            case 0: return "INSERT INTO orders VALUES (\(id + 10000), '\(region)', \(id % 10), 1) ON CONFLICT DO NOTHING"
            case 1: return "UPDATE orders SET region = '\(region)' WHERE id = \(id) AND region <> 'old'"  // moves rows
            case 2: return "UPDATE orders SET bucket = (bucket + 5) % 10 WHERE id = \(id) AND region = 'eu'"  // moves a level down
            case 3: return "DELETE FROM orders WHERE id = \(id + 10000)"
            default: return "UPDATE orders SET v = v + 1 WHERE id = \(id)"
            }
        }
        Thread.sleep(forTimeInterval: 1)
        try connection.execute("""
            CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
            CREATE TABLE orders_latam (id integer NOT NULL, region text NOT NULL, bucket integer NOT NULL, v integer);
            INSERT INTO orders_latam SELECT i, 'latam', 1, 7 FROM generate_series(20001, 20050) i;
            ALTER TABLE orders_latam ADD PRIMARY KEY (id, region, bucket);
            ALTER TABLE orders ATTACH PARTITION orders_latam FOR VALUES IN ('latam');
            """)
        Thread.sleep(forTimeInterval: 1)
        try connection.execute("ALTER TABLE orders DETACH PARTITION orders_old")
        Thread.sleep(forTimeInterval: 1)
        writers.stop()
        #expect(writers.errors.isEmpty, "\(writers.errors.prefix(3))")
        let store = try harness.storeConnection()
        try Self.waitFor("both baselines to finish") {
            try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "2"
        }
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")

        let names = try store.execute("""
            SELECT string_agg(DISTINCT schema_name || '.' || table_name, ',') FROM walaudit.event_log WHERE table_name IS NOT NULL
            """).scalar
        #expect(names == "public.orders")
        let moves = Int(try store.execute("""
            SELECT count(*) FROM walaudit.event_log WHERE operation = 'UPDATE' AND old_row->>'region' <> new_row->>'region'
            """).scalar ?? "0") ?? 0
        #expect(moves > 0)
        let key = ["id", "region", "bucket"]
        let rebuilt = try Self.rebuilt(store, table: "orders", key: key)
        let real = try Self.actual(connection, """
            SELECT to_jsonb(o)::text FROM orders o UNION ALL SELECT to_jsonb(o)::text FROM orders_old o
            """, key: key)
        let extra = rebuilt.keys.filter { rebuilt[$0] != real[$0] }.sorted(), missing = real.keys.filter { rebuilt[$0] == nil }.sorted()
        if rebuilt != real {
            let progress = try store.execute("SELECT row_to_json(p)::text FROM walaudit.baseline_progress p ORDER BY baseline_id").rows.map { $0[0] ?? "" }
            let latam = try store.execute("""
                SELECT seq, operation, lsn::text, new_row::text FROM walaudit.event_log
                WHERE new_row->>'region' = 'latam' OR old_row->>'region' = 'latam' OR new_row->>'command_tag' LIKE 'WALAUDIT%' ORDER BY seq LIMIT 40
                """).rows
            Issue.record("rebuilt differs at \(extra.prefix(5)); missing \(missing.prefix(5)); progress \(progress); events \(latam); log \(worker.log.suffix(3000))")
        }
        let ddl = try store.execute("""
            SELECT string_agg(new_row->>'command_tag' || ' ' || coalesce(new_row->>'object_identity', ''), '; ' ORDER BY seq)
            FROM walaudit.event_log WHERE operation = 'DDL' AND new_row->>'command_tag' LIKE 'WALAUDIT %'
            """).scalar ?? ""
        for expected in ["WALAUDIT CAPTURE public.orders_asia", "WALAUDIT CAPTURE public.orders_latam", "WALAUDIT RELEASE public.orders_old"] {
            #expect(ddl.contains(expected), "\(ddl)")
        }
    }

    /// An inheritance parent's children, the one created after attach too,
    /// are captured under the parent's name.
    @Test func inheritanceChildrenAreCapturedUnderTheParent() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE parent (id integer PRIMARY KEY, note text);
            CREATE TABLE early (extra text) INHERITS (parent);
            INSERT INTO early VALUES (1, 'before attach', 'x');
            """)
        let worker = try harness.startWorker()
        try harness.expectSuccess(["attach", "parent"])
        try Self.waitFor("the baseline") {
            try harness.storeConnection().execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
        }
        try connection.execute("""
            CREATE TABLE late () INHERITS (parent);
            INSERT INTO late VALUES (2, 'after attach');
            UPDATE early SET note = 'changed' WHERE id = 1;
            """)
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")
        let events = try harness.storeConnection().execute("""
            SELECT operation, table_name, row_key::text FROM walaudit.event_log WHERE operation IN ('SNAPSHOT', 'INSERT', 'UPDATE') ORDER BY seq
            """).rows
        #expect(events == [["SNAPSHOT", "parent", #"{"id": 1}"#], ["INSERT", "parent", #"{"id": 2}"#], ["UPDATE", "parent", #"{"id": 1}"#]])
    }
}

/// `row_as_of` answers from a real baseline: refused before the attach
/// (WA001), and after it equal to the table's rows as they were.
@Suite struct BaselineReportTests {
    @Test func rowAsOfAnswersFromTheBaselineAndRefusesBeforeIt() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE stock (id integer PRIMARY KEY, qty integer NOT NULL);
            INSERT INTO stock SELECT i, i * 10 FROM generate_series(1, 50) i;
            """)
        let before = try connection.execute("SELECT clock_timestamp()::text").scalar!
        Thread.sleep(forTimeInterval: 0.05)
        let worker = try harness.startWorker()
        try harness.expectSuccess(["attach", "stock"])
        try WholeTableTests.waitFor("the baseline") {
            try connection.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
        }
        // The table's rows at a moment after the baseline, then changes.
        let moment = try connection.execute("SELECT clock_timestamp()::text").scalar!
        let truth = try connection.execute("SELECT id, to_jsonb(s)::text FROM stock s ORDER BY id").rows
        Thread.sleep(forTimeInterval: 0.05)
        try connection.execute("UPDATE stock SET qty = qty + 1 WHERE id % 3 = 0; DELETE FROM stock WHERE id % 7 = 0; INSERT INTO stock VALUES (51, 1)")
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")
        for row in truth {
            let answer = try connection.execute("SELECT walaudit.row_as_of('stock', jsonb_build_object('id', $1::int), $2::timestamptz)::text",
                                                [row[0], moment]).scalar
            #expect(answer == row[1], "row \(row[0]!)")
        }
        #expect(try connection.execute("SELECT walaudit.row_as_of('stock', '{\"id\": 51}', $1::timestamptz)", [moment]).scalar == nil)
        do {
            _ = try connection.execute("SELECT walaudit.row_as_of('stock', '{\"id\": 1}', $1::timestamptz)", [before])
            Issue.record("row_as_of answered for a moment before the attach")
        } catch {
            #expect(error.sqlState == "WA001", "\(error)")
        }
    }
}

/// A TRUNCATE of a partitioned table is one event of it, naming what it
/// emptied; `walaudit baseline` takes a new baseline and waits for it.
@Suite struct PartitionTruncateAndRebaselineTests {
    @Test func truncatingPartitionsIsOneEventOfTheAttachedTable() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE m (id integer, k integer, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
            CREATE TABLE m_1 PARTITION OF m FOR VALUES IN (1);
            CREATE TABLE m_2 PARTITION OF m FOR VALUES IN (2);
            """)
        let worker = try harness.startWorker()
        try harness.expectSuccess(["attach", "m"])
        try connection.execute("INSERT INTO m VALUES (1, 1), (2, 2); TRUNCATE m_1; TRUNCATE m")
        try harness.waitForConfirmationOfCurrentWAL()
        #expect(worker.stop() == 0, "\(worker.log)")
        let truncates = try harness.storeConnection().execute("""
            SELECT table_name, new_row->>'truncated' FROM walaudit.event_log WHERE operation = 'TRUNCATE' ORDER BY seq
            """).rows
        #expect(truncates == [["m", #"["public.m_1"]"#], ["m", #"["public.m", "public.m_1", "public.m_2"]"#]])
    }

    @Test func baselineCommandRecordsTheRowsAgainAndWaits() throws {
        let harness = try WalauditHarness.make()
        let connection = harness.database.connection
        try connection.execute("CREATE TABLE r (id integer PRIMARY KEY); INSERT INTO r SELECT generate_series(1, 30)")
        let worker = try harness.startWorker(["--baseline-chunk-rows", "7"])
        try harness.expectSuccess(["attach", "r"])
        try connection.execute("UPDATE r SET id = id + 100 WHERE id = 30")
        // The attach's baseline first: a SNAPSHOT it stores after the new
        // request would rightly count as the row's history there.
        try WholeTableTests.waitFor("the attach's baseline") {
            try connection.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
        }
        let output = try harness.expectSuccess(["baseline", "r", "--wait"])
        #expect(output.contains("r: 30 rows recorded, 0 shown by their own history") && output.contains("done"), "\(output)")
        #expect(worker.stop() == 0, "\(worker.log)")
        let store = try harness.storeConnection()
        let done = try store.execute("""
            SELECT string_agg(new_row->>'rows', ',' ORDER BY seq) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'
            """).scalar
        #expect(done?.hasSuffix(",30") == true, "\(done ?? "none")")
        #expect(try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE'").scalar == "1")
        let refused = try WalauditBinary.run(["baseline", "nowhere"] + harness.connectionArguments)
        #expect(refused.status == 2, "\(refused.stderr)")
    }
}

/// PostgreSQL writes a transaction's commit record, and a walsender may
/// stream it, before other sessions' snapshots see the transaction; a
/// synchronous standby that never answers holds that moment open for as
/// long as the test likes. A partition filled and attached in one such
/// transaction brings rows only a read can record: its baseline must wait
/// until they are visible, not read none and call itself done.
@Suite struct BaselineVisibilityTests {
    @Test func aBaselineWaitsUntilItsRequestIsVisible() throws {
        let cluster = try ThrowawayCluster(settings: ["synchronous_standby_names": "'walaudit_never_connects'",
                                                      "synchronous_commit": "local"])
        defer { cluster.shutdown() }
        let harness = try WalauditHarness.make(cluster: cluster)
        let connection = harness.database.connection
        try connection.execute("""
            CREATE TABLE t (id integer, k integer, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
            CREATE TABLE t_1 PARTITION OF t FOR VALUES IN (1);
            """)
        let worker = try harness.startWorker()
        try harness.expectSuccess(["attach", "t"])
        try harness.waitForConfirmationOfCurrentWAL()

        let opened = try Connection(harness.database.conninfo)
        let pid = try opened.execute("SELECT pg_backend_pid()").scalar!
        nonisolated(unsafe) let attaching = opened  // the thread below uses it alone from here on
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        Thread {
            do {
                try attaching.execute("SET synchronous_commit = on")
                try attaching.execute("BEGIN")
                try attaching.execute("""
                    CREATE TABLE t_2 (id integer NOT NULL, k integer NOT NULL, PRIMARY KEY (id, k));
                    INSERT INTO t_2 SELECT i, 2 FROM generate_series(1, 40) i;
                    ALTER TABLE t ATTACH PARTITION t_2 FOR VALUES IN (2);
                    """)
                try attaching.execute("COMMIT")  // waits for the standby until cancelled
            } catch {
                failure = error
            }
            done.signal()
        }.start()
        let store = try harness.storeConnection()
        // The stream has delivered the commit: the worker stored its DDL events.
        try WholeTableTests.waitFor("the attaching transaction in the trail") {
            try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT CAPTURE'").scalar == "2"
        }
        #expect(try connection.execute("SELECT count(*) FROM pg_class WHERE relname = 't_2'").scalar == "0", "the transaction is not visible yet")
        Thread.sleep(forTimeInterval: 1)
        #expect(try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "0",
                "a baseline ended before its rows were visible")
        try connection.execute("SELECT pg_cancel_backend($1::int)", [pid])  // the commit stands; the wait ends
        done.wait()
        #expect(failure == nil, "\(failure.map { "\($0)" } ?? "")")
        try WholeTableTests.waitFor("the partition's baseline") {
            try store.execute("SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'").scalar == "1"
        }
        #expect(worker.stop() == 0, "\(worker.log)")
        let recorded = try store.execute("""
            SELECT (SELECT count(*) FROM walaudit.event_log WHERE operation = 'SNAPSHOT' AND table_name = 't'),
                   (SELECT new_row->>'rows' FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'),
                   (SELECT new_row->'member'->>'table' FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE')
            """).rows.first
        #expect(recorded == ["40", "40", "t_2"])
    }
}
