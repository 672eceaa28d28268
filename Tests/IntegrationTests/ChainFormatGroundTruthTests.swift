import Foundation
import PostgresClient
import Testing
import TestSupport

/// The rules of docs/chain-format.md on real rows (issue 16 §3): values at
/// the edges of the format, captured by the worker from PostgreSQL, verify
/// the same way in the store (`walaudit.verify_chain` and `walaudit verify`)
/// and as an export bundle (`walaudit verify --bundle`); and a stored value
/// the format has no encoding for is *event altered* in all three.
@Suite struct ChainFormatGroundTruthTests {
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try WalauditBinary.run(arguments)
        return (result.status, String(decoding: result.stdout, as: UTF8.self), result.stderr)
    }

    /// A fresh store, `table` created and attached, a key pair.
    private func setUp(_ table: String) throws -> (harness: WalauditHarness, key: String, checkpoints: String) {
        let harness = try WalauditHarness.make()
        let directory = NSTemporaryDirectory() + "/walaudit-format-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(try run(["keygen", "--out", directory + "/key"]).status == 0)
        try harness.database.connection.execute(table)
        try harness.expectSuccess(["attach", "t"])
        return (harness, directory + "/key", directory + "/checkpoints")
    }

    /// Runs the worker with checkpoints until the store holds `events` (if
    /// given) and a checkpoint covers its head.
    private func signHead(_ harness: WalauditHarness, key: String, checkpoints: String, events: Int? = nil) throws {
        let worker = try harness.startWorker(["--checkpoint-dir", checkpoints, "--signing-key", key, "--checkpoint-every", "1000",
                                              "--checkpoint-interval", "0.2"])
        if let events { try harness.waitForEvents(atLeast: events) }
        let deadline = Date().addingTimeInterval(60)
        while try harness.database.connection.execute("""
            SELECT coalesce(max(c.seq), 0) < coalesce((SELECT max(seq) FROM walaudit.event_log), 1)
                   OR (SELECT head FROM walaudit.checkpoints ORDER BY recorded_at DESC LIMIT 1)
                      IS DISTINCT FROM (SELECT hash FROM walaudit.event_log ORDER BY seq DESC LIMIT 1)
            FROM walaudit.checkpoints c
            """).scalar == "t" {
            guard Date() < deadline else { throw HarnessError("no checkpoint covers the head: \(worker.log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(worker.stop() == 0, "\(worker.log)")
    }

    /// What the three checks say: (ok, first bad seq, problem) of
    /// walaudit.verify_chain, then `walaudit verify`, then the bundle of
    /// everything (exported now) checked by `walaudit verify --bundle`.
    private func verdicts(_ harness: WalauditHarness, key: String, checkpoints: String, range: [String] = ["2000-01-01", "2100-01-01"])
        throws -> (sql: [String?], store: (status: Int32, stdout: String), bundle: (status: Int32, stdout: String)) {
        let sql = try harness.database.connection.execute("SELECT ok, first_bad_seq, problem FROM walaudit.verify_chain()").rows[0]
        let store = try run(["verify", "--checkpoints", checkpoints, "--public-key", key + ".pub"] + harness.connectionArguments)
        let path = NSTemporaryDirectory() + "/walaudit-format-bundle-\(UUID().uuidString).jsonl"
        let exported = try run(["export", "--since=\(range[0])", "--until=\(range[1])", "--out", path] + harness.connectionArguments)
        #expect(exported.status == 0, "\(exported.stderr)")
        let bundle = try run(["verify", "--bundle", path, "--public-key", key + ".pub"])
        return (sql, (store.status, store.stdout + store.stderr), (bundle.status, bundle.stdout + bundle.stderr))
    }

    /// Recomputes every digest and hash from `seq` on, as a superuser who
    /// rewrites the chain consistently would (with walaudit's own SQL).
    private func rehash(_ harness: WalauditHarness, from seq: Int) throws {
        try harness.tamperAsSuperuser("""
            DO $$
            DECLARE
                e walaudit.event_log;
                previous bytea := coalesce((SELECT hash FROM walaudit.event_log WHERE seq = \(seq - 1)), decode(repeat('00', 32), 'hex'));
            BEGIN
                FOR e IN SELECT * FROM walaudit.event_log WHERE seq >= \(seq) ORDER BY seq LOOP
                    e.prev_hash := previous;
                    IF e.purged_at IS NULL THEN e.payload_digest := walaudit.chain_payload_digest(e); END IF;
                    e.hash := walaudit.chain_hash(e);
                    UPDATE walaudit.event_log SET prev_hash = e.prev_hash, payload_digest = e.payload_digest, hash = e.hash
                    WHERE seq = e.seq;
                    previous := e.hash;
                END LOOP;
            END
            $$
            """)
    }

    /// Arrays: a text[] value with NULL elements, an empty one, {NULL}
    /// against {"NULL"}, an int[] and a two-dimensional text[] are stored
    /// as PostgreSQL prints them; a NULL element in changed_columns (which
    /// the store admits) verifies alike in the store and in a bundle; an
    /// array of another shape in changed_columns has no encoding.
    @Test func arraysWithNullElementsRoundTrip() throws {
        let (harness, key, checkpoints) = try setUp("""
            CREATE TABLE t (id integer PRIMARY KEY, tags text[], empty text[], null_only text[], null_text text[],
                            ints integer[], grid text[])
            """)
        let db = harness.database.connection
        let worker = try harness.startWorker()
        try db.execute("""
            INSERT INTO t VALUES (1, '{a,NULL,"b c"}', '{}', '{NULL}', '{"NULL"}', '{1,NULL,3}', '{{a,NULL},{"c d",e}}')
            """)
        try db.execute("UPDATE t SET tags = tags WHERE id = 1")  // changes nothing: changed_columns is empty
        try harness.waitForEvents(atLeast: 3)
        #expect(worker.stop() == 0, "\(worker.log)")

        // Ground truth: each value is the JSON string of the column's text output.
        let columns = ["tags", "empty", "null_only", "null_text", "ints", "grid"]
        let stored = try db.execute("""
            SELECT \(columns.map { "new_row->>'\($0)', jsonb_typeof(new_row->'\($0)')" }.joined(separator: ", "))
            FROM walaudit.event_log WHERE operation = 'INSERT'
            """).rows[0]
        let truth = try db.execute("SELECT \(columns.map { "\($0)::text" }.joined(separator: ", ")) FROM t").rows[0]
        for (index, column) in columns.enumerated() {
            #expect(stored[2 * index] == truth[index], "\(column)")
            #expect(stored[2 * index + 1] == "string", "\(column)")
        }
        #expect(truth == [#"{a,NULL,"b c"}"#, "{}", "{NULL}", #"{"NULL"}"#, "{1,NULL,3}", #"{{a,NULL},{"c d",e}}"#])
        let update = try db.execute("SELECT seq, changed_columns::text FROM walaudit.event_log WHERE operation = 'UPDATE'").rows[0]
        #expect(update[1] == "{}")

        // A NULL element in changed_columns, the chain rewritten around it.
        let insertSeq = try #require(try db.execute("SELECT seq FROM walaudit.event_log WHERE operation = 'INSERT'").scalar.flatMap { Int($0) })
        try harness.tamperAsSuperuser("UPDATE walaudit.event_log SET changed_columns = '{id,NULL,tags}' WHERE seq = \(insertSeq)")
        try rehash(harness, from: insertSeq)
        try signHead(harness, key: key, checkpoints: checkpoints)
        var verdict = try verdicts(harness, key: key, checkpoints: checkpoints)
        #expect(verdict.sql[0] == "t", "\(verdict.sql)")
        #expect(verdict.store.status == 0, "\(verdict.store.stdout)")
        #expect(verdict.bundle.status == 0, "\(verdict.bundle.stdout)")

        // Another shape with the same elements has no encoding: event altered, everywhere.
        for shape in ["{{id,NULL,tags}}", "[0:2]={id,NULL,tags}"] {
            try harness.tamperAsSuperuser("UPDATE walaudit.event_log SET changed_columns = '\(shape)' WHERE seq = \(insertSeq)")
            verdict = try verdicts(harness, key: key, checkpoints: checkpoints)
            #expect(verdict.sql[0] == "f" && verdict.sql[1] == String(insertSeq), "\(shape): \(verdict.sql)")
            #expect(verdict.sql[2]?.hasPrefix("event altered") == true, "\(shape): \(verdict.sql)")
            #expect(verdict.store.status == 1 && verdict.store.stdout.contains("TAMPERED at seq \(insertSeq): event altered"),
                    "\(shape): \(verdict.store.stdout)")
            #expect(verdict.bundle.status == 1 && verdict.bundle.stdout.contains("(seq \(insertSeq)): event altered"),
                    "\(shape): \(verdict.bundle.stdout)")
        }
    }

    /// Timestamps: 'infinity' and '-infinity' in a row are strings of the
    /// text output and verify; event times before year 1 and after 9999
    /// verify alike in the store and in a bundle (whose readable time is
    /// then -0043-… or 20000-…); an event_time of ±infinity, or past the
    /// last encodable instant, has no encoding: event altered, everywhere.
    @Test func infiniteAndFarTimesRoundTrip() throws {
        let (harness, key, checkpoints) = try setUp("""
            CREATE TABLE t (id integer PRIMARY KEY, valid_from timestamptz, valid_until timestamptz, day date,
                            score double precision, amount numeric)
            """)
        let db = harness.database.connection
        let worker = try harness.startWorker()
        for id in 1...4 {
            try db.execute("INSERT INTO t VALUES ($1, '-infinity', 'infinity', 'infinity', '-Infinity', 'NaN')", [String(id)])
        }
        try harness.waitForEvents(atLeast: 5)
        #expect(worker.stop() == 0, "\(worker.log)")

        // Ground truth: each value is the JSON string of the column's text output.
        let columns = ["valid_from", "valid_until", "day", "score", "amount"]
        let stored = try db.execute("""
            SELECT \(columns.map { "new_row->>'\($0)', jsonb_typeof(new_row->'\($0)')" }.joined(separator: ", "))
            FROM walaudit.event_log WHERE operation = 'INSERT' ORDER BY seq LIMIT 1
            """).rows[0]
        let truth = try db.execute("SELECT \(columns.map { "\($0)::text" }.joined(separator: ", ")) FROM t WHERE id = 1").rows[0]
        #expect(truth == ["-infinity", "infinity", "infinity", "-Infinity", "NaN"])
        for (index, column) in columns.enumerated() {
            #expect(stored[2 * index] == truth[index], "\(column)")
            #expect(stored[2 * index + 1] == "string", "\(column)")
        }

        // Far event times, the chain rewritten around them, then signed.
        let seqs = try db.execute("SELECT seq FROM walaudit.event_log WHERE operation = 'INSERT' ORDER BY seq").rows.compactMap { $0[0].flatMap { Int($0) } }
        #expect(seqs.count == 4)
        try harness.tamperAsSuperuser("""
            UPDATE walaudit.event_log SET event_time = '0044-03-15 12:00:00+00 BC' WHERE seq = \(seqs[1]);
            UPDATE walaudit.event_log SET event_time = '20000-01-01 00:00:00.000001+00' WHERE seq = \(seqs[2])
            """)
        try rehash(harness, from: seqs[1])
        try signHead(harness, key: key, checkpoints: checkpoints)
        for range in [["2000-01-01", "2100-01-01"], ["-infinity", "infinity"]] {
            let verdict = try verdicts(harness, key: key, checkpoints: checkpoints, range: range)
            #expect(verdict.sql[0] == "t", "\(range): \(verdict.sql)")
            #expect(verdict.store.status == 0, "\(range): \(verdict.store.stdout)")
            #expect(verdict.bundle.status == 0, "\(range): \(verdict.bundle.stdout)")
        }
        // The bundle's readable times, and its unbounded range.
        let path = NSTemporaryDirectory() + "/walaudit-format-bundle-\(UUID().uuidString).jsonl"
        #expect(try run(["export", "--since=-infinity", "--until", "infinity", "--out", path] + harness.connectionArguments).status == 0)
        let bundle = try String(contentsOfFile: path, encoding: .utf8)
        #expect(bundle.contains(#""event_time" : "-0043-03-15T12:00:00.000000Z""#), "\(bundle)")
        #expect(bundle.contains(#""event_time" : "20000-01-01T00:00:00.000001Z""#), "\(bundle)")
        #expect(bundle.hasPrefix("{") && bundle.split(separator: "\n")[0].contains(#""since_us":null,"until_us":null"#), "\(bundle.prefix(400))")

        // No encoding: event altered in the SQL, store and bundle checks.
        for time in ["infinity", "-infinity", "294250-01-01 00:00:00+00"] {
            try harness.tamperAsSuperuser("UPDATE walaudit.event_log SET event_time = '\(time)' WHERE seq = \(seqs[3])")
            let verdict = try verdicts(harness, key: key, checkpoints: checkpoints, range: ["-infinity", "infinity"])
            #expect(verdict.sql[0] == "f" && verdict.sql[1] == String(seqs[3]), "\(time): \(verdict.sql)")
            #expect(verdict.sql[2]?.hasPrefix("event altered: event_time") == true, "\(time): \(verdict.sql)")
            #expect(verdict.store.status == 1 && verdict.store.stdout.contains("TAMPERED at seq \(seqs[3]): event altered: event_time"),
                    "\(time): \(verdict.store.stdout)")
            #expect(verdict.bundle.status == 1 && verdict.bundle.stdout.contains("(seq \(seqs[3])): event altered: event_time"),
                    "\(time): \(verdict.bundle.stdout)")
        }
    }

    /// The bundle's lines mean one thing: a key twice in a record or in its
    /// checkpoint (read here as the first, by jq and Python as the last) is
    /// altered, and a record needs its readable event_time. A purge mark on
    /// an event whose payload is JSON null (listed in json_nulls) is
    /// *payload altered* in the bundle as in the store.
    @Test func bundleLinesHaveOneMeaningAndPurgeMarksAgreeWithTheStore() throws {
        let (harness, key, checkpoints) = try setUp("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        let db = harness.database.connection
        let worker = try harness.startWorker()
        try db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 5) i")
        try harness.waitForEvents(atLeast: 6)
        #expect(worker.stop() == 0, "\(worker.log)")
        try signHead(harness, key: key, checkpoints: checkpoints)
        let path = NSTemporaryDirectory() + "/walaudit-format-bundle-\(UUID().uuidString).jsonl"
        #expect(try run(["export", "--since", "2000-01-01", "--until", "2100-01-01", "--out", path] + harness.connectionArguments).status == 0)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        func verify(_ lines: [String]) throws -> (status: Int32, stdout: String) {
            let altered = path + ".altered"
            try (lines.joined(separator: "\n") + "\n").write(toFile: altered, atomically: true, encoding: .utf8)
            let result = try run(["verify", "--bundle", altered, "--public-key", key + ".pub"])
            return (result.status, result.stdout + result.stderr)
        }
        #expect(try verify(lines).status == 0)
        let recordLine = try #require(lines.firstIndex { $0.contains(#""v" : "v3""#) || $0.contains(#""v": "v3""#) })
        let checkpointLine = lines.count - 1
        #expect(lines[checkpointLine].hasPrefix(#"{"type":"checkpoint""#))
        func altering(_ index: Int, _ change: (String) -> String) -> [String] {
            lines.enumerated().map { $0.offset == index ? change($0.element) : $0.element }
        }
        let alterations: [(String, [String], String)] = [
            ("a second new_row after the hashed one",
             altering(recordLine) { String($0.dropLast()) + #", "new_row" : {"id" : 3, "v" : "forged"}}"# },
             #"has the key "new_row" twice"#),
            ("a second seq in the checkpoint after the signed one",
             altering(checkpointLine) { $0.replacingOccurrences(of: #""signature":"#, with: #""seq":99999,"signature":"#) },
             #"has the key "seq" twice"#),
            ("a record without its readable event_time",
             altering(recordLine) { $0.replacingOccurrences(of: #""event_time" : "#, with: #""event_time_text" : "#) },
             "event altered: event_time of seq"),
        ]
        for (what, altered, expected) in alterations {
            let result = try verify(altered)
            #expect(result.status == 1 && result.stdout.contains(expected), "\(what): \(result.stdout)")
        }

        // A purge mark on a payload that is JSON null: payload altered, in all three checks.
        let seq = try #require(try db.execute("SELECT seq FROM walaudit.event_log WHERE new_row->>'v' = 'v4'").scalar)
        try harness.tamperAsSuperuser("""
            UPDATE walaudit.event_log SET purged_at = now(), payload_salt = NULL, row_key = NULL, old_row = NULL, new_row = 'null'
            WHERE seq = \(seq)
            """)
        let verdict = try verdicts(harness, key: key, checkpoints: checkpoints)
        #expect(verdict.sql[0] == "f" && verdict.sql[1] == seq && verdict.sql[2]?.hasPrefix("payload altered") == true, "\(verdict.sql)")
        #expect(verdict.store.status == 1 && verdict.store.stdout.contains("TAMPERED at seq \(seq): payload altered"), "\(verdict.store.stdout)")
        #expect(verdict.bundle.status == 1 && verdict.bundle.stdout.contains("(seq \(seq)): payload altered: seq \(seq) is marked purged"),
                "\(verdict.bundle.stdout)")
    }

    /// A checkpoint directory whose file another chain wrote, or whose
    /// last line another key signed, is refused: the worker does not start,
    /// and the file stays as it was (chain-format.md, "Checkpoints").
    @Test func aCheckpointFileOfAnotherChainOrKeyIsRefused() throws {
        let (harness, key, checkpoints) = try setUp("CREATE TABLE t (id integer PRIMARY KEY)")
        let worker = try harness.startWorker()
        try harness.database.connection.execute("INSERT INTO t VALUES (1)")
        try harness.waitForEvents(atLeast: 2)
        #expect(worker.stop() == 0, "\(worker.log)")
        try signHead(harness, key: key, checkpoints: checkpoints)
        let file = checkpoints + "/checkpoints.jsonl"
        let before = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!before.isEmpty)
        let otherKey = key + ".other"
        #expect(try run(["keygen", "--out", otherKey]).status == 0)

        let otherChain = try WalauditHarness.make()
        let cases: [(String, WalauditHarness, String, String)] = [
            ("another chain's file", otherChain, key, "belongs to chain"),
            ("another chain's file, the other key", otherChain, otherKey, "belongs to chain"),
            ("this chain's file, another key", harness, otherKey, "is not signed by --signing-key"),
        ]
        for (what, store, signingKey, expected) in cases {
            let refused = try store.startWorker(["--checkpoint-dir", checkpoints, "--signing-key", signingKey,
                                                 "--checkpoint-interval", "0.2"])
            // It stops by itself, saying why; a worker that does not (it signs on) is stopped after a while.
            let deadline = Date().addingTimeInterval(20)
            while !refused.log.contains(expected) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(refused.stop() != 0, "\(what): \(refused.log)")
            #expect(refused.log.contains(expected) && refused.log.contains("new --checkpoint-dir"), "\(what): \(refused.log)")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == before, "\(what): the file changed")
        }
        // The same chain and key continue the file.
        try harness.database.connection.execute("INSERT INTO t VALUES (2)")
        try signHead(harness, key: key, checkpoints: checkpoints, events: 3)
        let after = try String(contentsOfFile: file, encoding: .utf8)
        #expect(after.hasPrefix(before) && after.count > before.count)
        let verified = try run(["verify", "--checkpoints", checkpoints, "--public-key", key + ".pub"] + harness.connectionArguments)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }
}
