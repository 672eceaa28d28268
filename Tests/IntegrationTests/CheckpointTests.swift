import Foundation
import Ledger
import PostgresClient
import Testing
import TestSupport

/// Signed checkpoints outside the database catch what the chain alone
/// cannot: a cut tail, a consistent rewrite by a superuser, an older copy.
@Suite struct CheckpointTests {
    struct Store {
        let harness: WalauditHarness
        let directory: String
        var key: String { directory + "/key" }
        var checkpoints: String { directory + "/checkpoints" }
        var connection: Connection { harness.database.connection }

        /// `walaudit verify`, which must say the same with one connection and
        /// with the seqs split over three (the ranges are joined in order).
        func verify(withCheckpoints: Bool = true) throws -> (status: Int32, output: String) {
            let extra = withCheckpoints ? ["--checkpoints", checkpoints, "--public-key", key + ".pub"] : []
            let results = try ["1", "3"].map { jobs in
                let result = try WalauditBinary.run(["verify", "--jobs", jobs] + extra + harness.connectionArguments)
                return (status: result.status, output: String(decoding: result.stdout, as: UTF8.self) + result.stderr)
            }
            #expect(results[0] == results[1], "one connection and three disagree")
            return results[0]
        }

        /// Writes `rows` more rows and waits until they are stored and a
        /// checkpoint covers the new head.
        func write(_ rows: ClosedRange<Int>, worker: WorkerProcess) throws {
            for id in rows { try connection.execute("INSERT INTO t VALUES ($1, 'v')", [String(id)]) }
            let total = try harness.waitForEvents(atLeast: rows.upperBound + 1)
            let deadline = Date().addingTimeInterval(30)
            while (try CheckpointFile(checkpoints).readAll().last?.seq ?? 0) < Int64(total) {
                guard Date() < deadline else { throw HarnessError("no checkpoint for seq \(total): \(worker.log)") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// A store with 30 captured rows and checkpoints; the worker stopped.
    private func store(during: ((Store, WorkerProcess) throws -> Void)? = nil) throws -> Store {
        let harness = try WalauditHarness.make()
        let directory = NSTemporaryDirectory() + "/walaudit-checkpoints-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = Store(harness: harness, directory: directory)
        try WalauditBinary.run(["keygen", "--out", store.key]).status == 0 ? () : { throw HarnessError("keygen failed") }()
        try store.connection.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        try harness.expectSuccess(["attach", "t"])
        let worker = try harness.startWorker(["--checkpoint-dir", store.checkpoints, "--signing-key", store.key,
                                              "--checkpoint-every", "5", "--checkpoint-interval", "0.2"])
        try store.write(1...15, worker: worker)
        try during?(store, worker)
        try store.write(16...30, worker: worker)
        #expect(worker.stop() == 0, "\(worker.log)")
        return store
    }

    @Test func intactStoreMatchesItsCheckpoints() throws {
        let store = try store()
        let result = try store.verify()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("intact: 31 events"))
        let recorded = try store.connection.execute("SELECT count(*) > 0, max(seq) FROM walaudit.checkpoints").rows.first
        #expect(recorded == ["t", "31"])
    }

    @Test func cutTailIsCaught() throws {
        let store = try store()
        try store.harness.tamperAsSuperuser("DELETE FROM walaudit.event_log WHERE seq > 21")
        #expect(try store.verify(withCheckpoints: false).status == 0, "the chain alone cannot see a cut tail")
        let result = try store.verify()
        #expect(result.status == 1)
        #expect(result.output.contains("TAMPERED at seq 22: events missing at the tail"), "\(result.output)")
    }

    @Test func consistentRewriteBySuperuserIsCaught() throws {
        let store = try store()
        try store.harness.tamperAsSuperuser("""
            UPDATE walaudit.event_log SET new_row = jsonb_set(new_row, '{v}', '"forged"') WHERE seq = 10;
            DO $$
            DECLARE
                e walaudit.event_log;
                previous bytea := (SELECT hash FROM walaudit.event_log WHERE seq = 9);
            BEGIN
                FOR e IN SELECT * FROM walaudit.event_log WHERE seq >= 10 ORDER BY seq LOOP
                    e.prev_hash := previous;
                    e.payload_digest := walaudit.chain_payload_digest(e);
                    e.hash := walaudit.chain_hash(e);
                    UPDATE walaudit.event_log SET prev_hash = e.prev_hash, payload_digest = e.payload_digest, hash = e.hash
                    WHERE seq = e.seq;
                    previous := e.hash;
                END LOOP;
            END
            $$
            """)
        #expect(try store.connection.execute("SELECT ok FROM walaudit.verify_chain()").scalar == "t", "the rewrite is self-consistent")
        #expect(try store.verify(withCheckpoints: false).status == 0)
        let result = try store.verify()
        #expect(result.status == 1)
        #expect(result.output.contains("differs from its signed checkpoint"), "\(result.output)")
    }

    @Test func restoredOlderCopyIsCaught() throws {
        let store = try store(during: { store, _ in
            try store.connection.execute("CREATE TABLE older_copy AS SELECT * FROM walaudit.event_log")
        })
        try store.harness.tamperAsSuperuser("DELETE FROM walaudit.event_log; INSERT INTO walaudit.event_log SELECT * FROM older_copy")
        #expect(try store.verify(withCheckpoints: false).status == 0)
        let result = try store.verify()
        #expect(result.status == 1)
        #expect(result.output.contains("events missing at the tail"), "\(result.output)")
    }

    @Test func forgedCheckpointFileIsCaught() throws {
        let store = try store()
        let path = CheckpointFile(store.checkpoints).path
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: #""seq":"#, with: #""seq":1"#)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let result = try store.verify()
        #expect(result.status == 1)
        #expect(result.output.contains("is not signed by this public key"), "\(result.output)")
    }
}
