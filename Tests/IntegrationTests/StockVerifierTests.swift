import EmbeddedPostgres
import Foundation
import Ledger
import PostgresClient
import Testing
import TestSupport

/// walaudit's tree checkpoints and proofs, checked by the stock Go packages
/// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (Debian
/// golang-go and golang-golang-x-mod-dev, installed by scripts/bootstrap):
/// Tests/StockVerifier/tlogcheck.go, built here, uses nothing of walaudit.
@Suite struct StockVerifierTests {
    /// The built checker, once per test process.
    static let checker: Result<String, any Error> = Result {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("StockVerifier/tlogcheck.go").path
        let output = NSTemporaryDirectory() + "/tlogcheck-" + UUID().uuidString
        let build = try ChildProcess.run(["/usr/bin/env", "GO111MODULE=off", "GOPATH=/usr/share/gocode", "GOCACHE=" + NSTemporaryDirectory() + "/walaudit-gocache",
                                          "go", "build", "-o", output, source], input: [])
        guard build.status == 0 else {
            throw HarnessError("cannot build the stock verifier (scripts/bootstrap installs golang-go and golang-golang-x-mod-dev): \(String(decoding: build.stderr, as: UTF8.self))")
        }
        return output
    }

    /// Runs the stock checker; true when it accepts.
    static func accepts(_ arguments: [String]) throws -> (Bool, String) {
        let result = try ChildProcess.run([try checker.get()] + arguments, input: [])
        let output = String(decoding: result.stdout, as: UTF8.self)
        return (result.status == 0 && output == "ok\n", output)
    }

    @Test func stockToolsAcceptCheckpointsAndProofsAndRejectForgeries() throws {
        let trail = try TransparencyLogTests.Trail.make(rows: 400)
        let directory = trail.directory
        let verifierKey = trail.checkpoints + "/verifier-key"

        // An inclusion proof, and the same proof for an altered event.
        let proof = directory + "/e.tlog-proof"
        try trail.harness.expectSuccess(["prove", "333", "--out", proof])
        var (ok, output) = try Self.accepts(["inclusion", verifierKey, proof])
        #expect(ok, "\(output)")
        var lines = try String(contentsOfFile: proof, encoding: .utf8).components(separatedBy: "\n")
        var leaf = Data(base64Encoded: String(lines[1].dropFirst("extra ".count)))!
        leaf[0] ^= 1
        lines[1] = "extra " + leaf.base64EncodedString()
        let altered = directory + "/altered.tlog-proof"
        try lines.joined(separator: "\n").write(toFile: altered, atomically: true, encoding: .utf8)
        (ok, output) = try Self.accepts(["inclusion", verifierKey, altered])
        #expect(!ok && output.contains("rejected"), "\(output)")

        // A checkpoint checked against another key of the same name.
        let other = directory + "/other"
        #expect(try WalauditBinary.run(["keygen", "--out", other, "--origin", "example.com/walaudit-test"]).status == 0)
        (ok, output) = try Self.accepts(["inclusion", other + ".vkey", proof])
        #expect(!ok && output.contains("not accepted"), "\(output)")

        // Consistency between the first and the last checkpoint.
        let checkpoints = try CheckpointFile(trail.checkpoints).readAll()
        let first = try #require(checkpoints.first { $0.note != nil }), last = try #require(checkpoints.last)
        #expect(first.seq < last.seq)
        func consistency(_ old: Checkpoint, _ new: Checkpoint) throws -> (Bool, String) {
            try old.note!.write(toFile: directory + "/old.note", atomically: true, encoding: .utf8)
            try new.note!.write(toFile: directory + "/new.note", atomically: true, encoding: .utf8)
            let hashes = try trail.store.execute("SELECT encode(p, 'base64') FROM unnest(walaudit.consistency_proof($1, $2)) p",
                                                 [String(old.seq), String(new.seq)]).rows.map { $0[0]! }
            try hashes.joined(separator: "\n").write(toFile: directory + "/consistency", atomically: true, encoding: .utf8)
            return try Self.accepts(["consistency", verifierKey, directory + "/old.note", directory + "/new.note", directory + "/consistency"])
        }
        (ok, output) = try consistency(first, last)
        #expect(ok, "\(output)")

        // A rewritten history: a superuser cuts the trail back past the last
        // checkpoint and lets it grow again with other events; the worker
        // signs the new tree, which does not extend the one signed before.
        let cut = last.seq - 20
        try trail.harness.tamperAsSuperuser("DELETE FROM walaudit.event_log WHERE seq > \(cut)")
        try trail.store.execute("""
            ALTER TABLE walaudit.merkle_nodes DISABLE TRIGGER ALL;
            DELETE FROM walaudit.merkle_nodes WHERE (idx + 1) * (1::bigint << level) > \(cut);
            ALTER TABLE walaudit.merkle_nodes ENABLE ALWAYS TRIGGER walaudit_append_only;
            """)
        let worker = try trail.harness.startWorker(["--checkpoint-dir", trail.checkpoints, "--signing-key", trail.key,
                                                    "--origin", "example.com/walaudit-test", "--checkpoint-every", "10", "--checkpoint-interval", "0.2"])
        try trail.store.execute("INSERT INTO t SELECT i, 'regrown' FROM generate_series(500001, 500060) i")
        try trail.harness.waitForConfirmationOfCurrentWAL()
        let deadline = Date().addingTimeInterval(60)
        var regrown: Checkpoint?
        while regrown == nil {
            regrown = try CheckpointFile(trail.checkpoints).readAll().last { $0.seq > last.seq && $0.note != nil }
            guard Date() < deadline else { throw HarnessError("no checkpoint after the rewrite: \(worker.log)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(worker.stop() == 0, "\(worker.log)")
        (ok, output) = try consistency(last, regrown!)
        #expect(!ok && output.contains("rejected"), "\(output)")
    }
}
