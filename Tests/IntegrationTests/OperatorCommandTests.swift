import Decoding
import Foundation
import PostgresClient
import Testing
import TestSupport

/// status, retention apply, export + verify --bundle, teardown: through the
/// real binary, with their failure modes.
@Suite struct OperatorCommandTests {
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try WalauditBinary.run(arguments)
        return (result.status, String(decoding: result.stdout, as: UTF8.self), result.stderr)
    }

    /// A fresh store with table t attached and a key pair for checkpoints.
    private func setUp() throws -> (harness: WalauditHarness, key: String, checkpoints: String) {
        let harness = try WalauditHarness.make()
        let directory = NSTemporaryDirectory() + "/walaudit-ops-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(try run(["keygen", "--out", directory + "/key"]).status == 0)
        try harness.database.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, v text); CREATE TABLE u (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t", "u"])
        return (harness, directory + "/key", directory + "/checkpoints")
    }

    private func startWorker(_ harness: WalauditHarness, key: String, checkpoints: String) throws -> WorkerProcess {
        try harness.startWorker(["--checkpoint-dir", checkpoints, "--signing-key", key, "--checkpoint-every", "1000",
                                 "--checkpoint-interval", "0.2"])
    }

    /// Waits until a signed checkpoint covers the store's head.
    private func waitForCheckpoint(_ harness: WalauditHarness, events: Int) throws {
        try harness.waitForEvents(atLeast: events)
        let deadline = Date().addingTimeInterval(30)
        while try harness.database.connection.execute("""
            SELECT coalesce(max(c.seq), 0) < (SELECT max(seq) FROM walaudit.event_log) FROM walaudit.checkpoints c
            """).scalar == "t" {
            guard Date() < deadline else { throw HarnessError("no checkpoint covers the head") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func statusJSON(_ harness: WalauditHarness) throws -> [String: Any] {
        let result = try run(["status", "--json"] + harness.connectionArguments)
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }

    @Test func statusShowsHealthAndWarnsWithTheFix() throws {
        let (harness, key, checkpoints) = try setUp()
        var status = try statusJSON(harness)
        #expect(status["slot_active"] as? Bool == false)
        let idle = status["warnings"] as? [String] ?? []
        #expect(idle.contains { $0.contains("no worker is connected") && $0.contains("walaudit run") }, "\(idle)")
        #expect(idle.contains { $0.contains("no signed checkpoint yet") }, "\(idle)")
        #expect(status["attached_tables"] as? [String] == ["public.t", "public.u"])

        let worker = try startWorker(harness, key: key, checkpoints: checkpoints)
        try harness.database.connection.execute("INSERT INTO t SELECT i, 'v' FROM generate_series(1, 10) i")
        // A POLICY event appended from SQL is signed too, by the idle worker's heartbeat.
        try harness.database.connection.execute("SELECT walaudit.set_retention('t', '1 year')")
        try waitForCheckpoint(harness, events: 13)
        status = try statusJSON(harness)
        let head = try harness.database.connection.execute("SELECT max(seq)::int FROM walaudit.event_log").scalar
        #expect(status["slot_active"] as? Bool == true)
        #expect((status["chain_head_seq"] as? Int).map(String.init) == head)
        #expect(status["last_checkpoint_seq"] as? Int != nil)
        #expect(status["wal_status"] as? String == "reserved")
        #expect(status["warnings"] as? [String] == [], "\(status)")
        let text = try run(["status"] + harness.connectionArguments)
        #expect(text.stdout.contains("chain head seq: \(head ?? "?")"), "\(text.stdout)")
        #expect(worker.stop() == 0)

        // Unreachable, and a password that must not be echoed.
        let down = try run(["status", "--source", "postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere"])
        #expect(down.status == 2)
        #expect(down.stderr.contains("cannot connect to the source"), "\(down.stderr)")
        #expect(!down.stderr.contains("s3cret-pw") && !down.stdout.contains("s3cret-pw"))
    }

    @Test func retentionApplyRunsThePolicyAndNeedsAdmin() throws {
        let (harness, key, checkpoints) = try setUp()
        let db = harness.database
        let worker = try startWorker(harness, key: key, checkpoints: checkpoints)
        try db.connection.execute("INSERT INTO t SELECT i, 'v' FROM generate_series(1, 20) i")
        try harness.waitForEvents(atLeast: 22)
        #expect(worker.stop() == 0)
        try db.connection.execute("SELECT walaudit.set_retention('t', '1 day')")

        let dry = try run(["retention", "apply", "--dry-run"] + harness.connectionArguments)
        #expect(dry.status == 0 && dry.stdout.contains("nothing would be purged"), "\(dry)")
        // A superuser session may move the retention clock (options in the conninfo).
        let later = db.conninfo + " options='-c walaudit.test_now=2100-01-01'"
        let applied = try run(["retention", "apply", "--json", "--actor", "retention-cron", "--source", db.conninfo, "--target", later,
                               "--slot", harness.slot])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout == #"{"dry_run":false,"tables":[{"table":"public.t","purged":"20","held":"0"}]}"# + "\n"
                || applied.stdout == #"{"dry_run":false,"tables":[{"table":"public.t","purged":20,"held":0}]}"# + "\n", "\(applied.stdout)")
        #expect(try db.connection.execute("""
            SELECT app_user FROM walaudit.events WHERE operation = 'POLICY' AND new_row->>'action' = 'apply_retention' ORDER BY seq DESC LIMIT 1
            """).scalar == "retention-cron")
        #expect(try run(["verify"] + harness.connectionArguments).stdout.contains("(20 with purged payloads)"))

        let reader = "reader_\(db.name)"
        try db.connection.execute("CREATE ROLE \(reader) LOGIN IN ROLE walaudit_reader")
        let denied = try run(["retention", "apply", "--source", db.conninfo, "--target", db.cluster.conninfo(database: db.name, user: reader)])
        #expect(denied.status == 2)
        #expect(denied.stderr.contains("GRANT walaudit_admin TO"), "\(denied.stderr)")
    }

    /// Issue 16 §1: a bundle from the chain's first event, holding a POLICY
    /// event whose app_context is JSON null (not SQL NULL), verifies; a
    /// wrong prev_hash at seq 1 is *link broken* at seq 1, as in the store.
    @Test func bundleFromTheFirstEventKeepsJSONNullAndChecksTheFirstLink() throws {
        let (harness, key, checkpoints) = try setUp()
        let db = harness.database
        let worker = try startWorker(harness, key: key, checkpoints: checkpoints)
        try db.connection.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        try db.connection.execute("SET walaudit.context = 'null'; SELECT walaudit.set_retention(NULL, interval '30 days'); RESET walaudit.context")
        #expect(try db.connection.execute("SELECT count(*) FROM walaudit.event_log WHERE jsonb_typeof(app_context) = 'null'").scalar == "1")
        try waitForCheckpoint(harness, events: 5)
        #expect(worker.stop() == 0)
        let bundle = NSTemporaryDirectory() + "/walaudit-bundle-\(UUID().uuidString).jsonl"
        let exported = try run(["export", "--since", "2000-01-01", "--until", "2100-01-01", "--out", bundle] + harness.connectionArguments)
        #expect(exported.status == 0, "\(exported.stderr)")
        let intact = try run(["verify", "--bundle", bundle, "--public-key", key + ".pub"])
        #expect(intact.status == 0, "\(intact.stdout)\(intact.stderr)")
        var lines = try String(contentsOfFile: bundle, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[1] == #"{"type":"tree","size":0,"subtrees":[]}"#, "the tree before seq 1 is empty: \(lines[1])")
        #expect(lines[2].contains("\"seq\" : 1,"), "\(lines[2])")
        lines[2] = lines[2].replacingOccurrences(of: "\"prev_hash\" : \"00", with: "\"prev_hash\" : \"01")
        try lines.joined(separator: "\n").write(toFile: bundle, atomically: true, encoding: .utf8)
        let altered = try run(["verify", "--bundle", bundle, "--public-key", key + ".pub"])
        #expect(altered.status == 1 && altered.stdout.contains("(seq 1): link broken"), "\(altered.stdout)")
    }

    @Test func exportOfTenThousandEventsVerifiesOfflineAndAlteringALineFails() throws {
        let (harness, key, checkpoints) = try setUp()
        let db = harness.database
        // Without a covering checkpoint there is no bundle.
        try db.connection.execute("INSERT INTO u VALUES (0)")
        let plainWorker = try harness.startWorker()
        try harness.waitForEvents(atLeast: 3)
        #expect(plainWorker.stop() == 0)
        let early = try run(["export", "--since", "2000-01-01", "--until", "2100-01-01"] + harness.connectionArguments)
        #expect(early.status == 2 && early.stderr.contains("no signed checkpoint covers"), "\(early.stderr)")

        let worker = try startWorker(harness, key: key, checkpoints: checkpoints)
        try db.connection.execute("""
            INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 5000) i;
            INSERT INTO u SELECT i FROM generate_series(1, 100) i;
            INSERT INTO t SELECT i, 'w' || i FROM generate_series(5001, 10000) i;
            """)
        try waitForCheckpoint(harness, events: 10_103)
        #expect(worker.stop() == 0)

        // As an auditor: a login in walaudit_reader, which can change nothing.
        let auditor = "auditor_\(db.name)"
        try db.connection.execute("CREATE ROLE \(auditor) LOGIN IN ROLE walaudit_reader")
        let bundle = NSTemporaryDirectory() + "/walaudit-bundle-\(UUID().uuidString).jsonl"
        let exported = try run(["export", "--since", "2000-01-01", "--until", "2100-01-01", "--table", "public.t", "--out", bundle,
                                "--source", db.cluster.conninfo(database: db.name, user: auditor), "--slot", harness.slot])
        #expect(exported.status == 0, "\(exported.stderr)")
        func verifyBundle(_ path: String) throws -> (status: Int32, stdout: String, stderr: String) {
            try run(["verify", "--bundle", path, "--public-key", key + ".pub"])
        }
        let intact = try verifyBundle(bundle)
        #expect(intact.status == 0, "\(intact.stdout)\(intact.stderr)")
        // Ground truth: t's events (its 10,000 inserts and attach's DDL) in full, u's between them as links.
        let counts = try db.connection.execute("""
            SELECT count(*) FILTER (WHERE table_name = 't'), count(*) FILTER (WHERE table_name IS DISTINCT FROM 't')
            FROM walaudit.event_log WHERE seq >= (SELECT min(seq) FROM walaudit.event_log WHERE table_name = 't')
            """).rows[0]
        #expect(counts[0] == "10001")
        #expect(intact.stdout.contains("intact: \(counts[0]!) exported events (0 purged) and \(counts[1]!) links"), "\(intact.stdout)")

        // Each alteration is caught, naming its line.
        let lines = try String(contentsOfFile: bundle, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let valueLine = try #require(lines.firstIndex { $0.contains("\"v\": \"v42\"") })
        let linkLine = try #require(lines.firstIndex { $0.contains("\"type\" : \"link\"") || $0.contains("\"type\":\"link\"") })
        let valueSeq = try #require(try JSONValue(parsing: lines[valueLine])["seq"].flatMap { if case .number(let n) = $0 { n } else { nil } })
        #expect(lines[lines.count - 2].contains("\"time\":\"2"), "\(lines[lines.count - 2])")
        let alterations: [(String, [String], String)] = [
            ("a value", lines.enumerated().map { $0.offset == valueLine ? $0.element.replacingOccurrences(of: "\"v42\"", with: "\"v43\"") : $0.element },
             "TAMPERED on line \(valueLine + 1)"),
            ("a link's who", lines.enumerated().map { $0.offset == linkLine ? $0.element.replacingOccurrences(of: "\"db_user\" : \"", with: "\"db_user\" : \"x") : $0.element },
             "TAMPERED on line \(linkLine + 1)"),
            ("a deleted event", lines.enumerated().filter { $0.offset != valueLine }.map(\.element), "events missing: seq \(valueSeq) "),
            ("a readable time that disagrees", lines.enumerated().map { $0.offset == valueLine ? $0.element.replacingOccurrences(of: "\"event_time\" : \"2", with: "\"event_time\" : \"1") : $0.element },
             "event_time of seq \(valueSeq)"),
            ("a checkpoint time that disagrees", lines.enumerated().map { $0.offset == lines.count - 2 ? $0.element.replacingOccurrences(of: "\"time\":\"2", with: "\"time\":\"1") : $0.element },
             "is not its signed time_us"),
            ("a cut tail", Array(lines.prefix(lines.count - 3)), "without its signed checkpoint"),
            // Issue 16 §1: the same rules as the store check.
            ("a purge mark on a full payload", lines.enumerated().map { $0.offset == valueLine ? $0.element.replacingOccurrences(of: "\"purged\" : false", with: "\"purged\" : true") : $0.element },
             "is marked purged but still holds a payload"),
            ("a payload on a link", lines.enumerated().map { $0.offset == linkLine ? $0.element.replacingOccurrences(of: "\"new_row\" : null", with: "\"new_row\" : {\"id\" : 1}") : $0.element },
             "is a link record (outside the export's range) but carries a payload"),
            ("a header promising more", lines.enumerated().map { $0.offset == 0 ? $0.element.replacingOccurrences(of: "\"events\":\(counts[0]!)", with: "\"events\":\(Int(counts[0]!)! + 1)") : $0.element },
             "the header promises \(Int(counts[0]!)! + 1) events"),
        ]
        for (what, altered, expected) in alterations {
            let path = bundle + ".altered"
            try altered.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let result = try verifyBundle(path)
            #expect(result.status == 1, "\(what): \(result.stdout)")
            #expect(result.stdout.contains(expected), "\(what): \(result.stdout)")
        }
        // Another key does not vouch for it.
        #expect(try run(["keygen", "--out", bundle + ".other"]).status == 0)
        let forged = try run(["verify", "--bundle", bundle, "--public-key", bundle + ".other.pub"])
        #expect(forged.status == 1 && forged.stdout.contains("not signed by this public key"), "\(forged.stdout)")

        // Bad arguments are refused before anything runs.
        #expect(try run(["export", "--until", "2100-01-01"] + harness.connectionArguments).status == 64)
        #expect(try run(["verify", "--bundle", bundle]).status == 64)
        #expect(try run(["export", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "xml"]).status == 64)
    }

    @Test func teardownDetachesKeepsTheTrailAndDropsTheSlotOnRequest() throws {
        let (harness, key, checkpoints) = try setUp()
        let db = harness.database
        let worker = try startWorker(harness, key: key, checkpoints: checkpoints)
        try db.connection.execute("INSERT INTO t VALUES (1, 'a')")
        try harness.waitForEvents(atLeast: 3)
        let busy = try run(["teardown"] + harness.connectionArguments)
        #expect(busy.status == 2 && busy.stderr.contains("a worker is connected"), "\(busy.stderr)")
        #expect(worker.stop() == 0)

        let kept = try run(["teardown"] + harness.connectionArguments)
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(kept.stdout.contains("detached public.t") && kept.stdout.contains("WARNING: replication slot"), "\(kept.stdout)")
        #expect(try db.connection.execute("SELECT count(*) FROM walaudit.attached_tables").scalar == "0")
        #expect(try db.connection.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar == "1")

        let dropped = try run(["teardown", "--drop-slot"] + harness.connectionArguments)
        #expect(dropped.status == 0 && dropped.stdout.contains("dropped replication slot"), "\(dropped)")
        #expect(try db.connection.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar == "0")
        #expect(try db.connection.execute("""
            SELECT new_row->>'reason' FROM walaudit.events WHERE operation = 'GAP' ORDER BY seq DESC LIMIT 1
            """).scalar == "capture torn down")
        #expect(try run(["verify"] + harness.connectionArguments).status == 0)
        let warnings = try statusJSON(harness)["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("does not exist: run walaudit setup") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("capture torn down") }, "\(warnings)")
    }
}
