import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient
import Testing
import TestSupport

/// The Merkle tree over a real store, its signed tree checkpoints and
/// proofs, against RFC 6962 computed naively from the stored chain hashes.
@Suite struct TransparencyLogTests {
    /// A store of `rows` captured inserts plus POLICY events appended from
    /// SQL meanwhile, signed by a key made here; the worker stopped.
    struct Trail {
        let harness: WalauditHarness
        let directory: String
        var key: String { directory + "/key" }
        var checkpoints: String { directory + "/checkpoints" }
        var store: Connection { harness.database.connection }

        static func make(rows: Int, origin: String = "example.com/walaudit-test") throws -> Trail {
            let harness = try WalauditHarness.make()
            let directory = NSTemporaryDirectory() + "/walaudit-tlog-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let trail = Trail(harness: harness, directory: directory)
            let keygen = try WalauditBinary.run(["keygen", "--out", trail.key, "--origin", origin])
            guard keygen.status == 0 else { throw HarnessError("keygen: \(keygen.stderr)") }
            try trail.store.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
            try harness.expectSuccess(["attach", "t"])
            let worker = try harness.startWorker(["--checkpoint-dir", trail.checkpoints, "--signing-key", trail.key, "--origin", origin,
                                                  "--checkpoint-every", "100", "--checkpoint-interval", "0.2"])
            for start in stride(from: 1, through: rows, by: 50) {
                try trail.store.execute("INSERT INTO t SELECT i, 'v' FROM generate_series($1::int, $2::int) i", [String(start), String(min(start + 49, rows))])
                if start % 200 == 1 { try trail.store.execute("SELECT walaudit.set_retention('t', '10 years', 'governance')") }
            }
            try harness.waitForConfirmationOfCurrentWAL()
            // A POLICY event (appended from SQL) completes the next block of 256.
            let stored = Int(try trail.store.execute("SELECT max(seq) FROM walaudit.event_log").scalar ?? "0")!
            let missing = 255 - stored % 256
            try trail.store.execute("INSERT INTO t SELECT i, 'v' FROM generate_series(100001, 100000 + $1::int) i", [String(missing)])
            try harness.waitForConfirmationOfCurrentWAL()
            let policySeq = Int(try trail.store.execute("SELECT walaudit.append_event('POLICY', NULL, NULL, NULL, NULL, '{\"test\": \"block\"}')").scalar ?? "0")!
            #expect(policySeq % 256 == 0, "seq \(policySeq)")
            try trail.store.execute("INSERT INTO t VALUES (200001, 'after')")
            try harness.waitForConfirmationOfCurrentWAL()
            let head = Int64(try trail.store.execute("SELECT max(seq) FROM walaudit.event_log").scalar ?? "0")!
            let deadline = Date().addingTimeInterval(60)
            while try CheckpointFile(trail.checkpoints).readAll().last?.seq != head {
                guard Date() < deadline else { throw HarnessError("no checkpoint of seq \(head): \(worker.log)") }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(worker.stop() == 0, "\(worker.log)")
            return trail
        }

        /// The leaf hashes, from the stored chain hashes.
        func leaves() throws -> [[UInt8]] {
            try store.execute("SELECT encode(hash, 'hex') FROM walaudit.event_log ORDER BY seq").rows.map { MerkleTree.leafHash(Hex.decode($0[0]!)!) }
        }
    }

    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return MerkleTree.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        let k = Int(MerkleTree.split(Int64(leaves.count)))
        return MerkleTree.nodeHash(mth(leaves.prefix(k)), mth(leaves.dropFirst(k)))
    }

    static func bytes(_ text: String?) -> [UInt8] { Hex.decode(text ?? "") ?? [] }

    @Test func storedTreeRootsAndProofsAreRFC6962() throws {
        let trail = try Trail.make(rows: 700)
        let leaves = try trail.leaves()
        #expect(leaves.count > 768, "700 inserts and more, POLICY events, DDL")
        let size = leaves.count
        // The stored nodes: every complete aligned subtree of 256 leaves and more, no other.
        let stored = try trail.store.execute("SELECT level, idx, encode(hash, 'hex') FROM walaudit.merkle_nodes ORDER BY level, idx").rows
        var expected: [[String?]] = []
        for level in 8...20 {
            let width = 1 << level
            for index in 0..<(size / width) {
                expected.append([String(level), String(index), Hex.encode(Self.mth(leaves[index * width..<(index + 1) * width]))])
            }
        }
        #expect(stored == expected)
        // Roots: SQL, the Swift reader, and the definition.
        for treeSize in [1, 2, 255, 256, 257, 511, 512, 513, size] {
            let root = Self.mth(leaves.prefix(treeSize)[...])
            #expect(Self.bytes(try trail.store.execute("SELECT encode(walaudit.tree_root($1), 'hex')", [String(treeSize)]).scalar) == root)
            var reader = MerkleStore(trail.store)
            #expect(try reader.root(size: Int64(treeSize)) == root)
        }
        // Inclusion proofs from SQL and Swift agree and verify.
        for (seq, treeSize) in [(1, size), (256, size), (257, 600), (size, size), (300, 300), (5, 7)] {
            let sql = try trail.store.execute("SELECT encode(p, 'hex') FROM unnest(walaudit.inclusion_proof($1, $2)) p", [String(seq), String(treeSize)])
                .rows.map { Self.bytes($0[0]!) }
            var reader = MerkleStore(trail.store)
            #expect(try reader.inclusionProof(seq: Int64(seq), size: Int64(treeSize)) == sql)
            #expect(MerkleTree.verifyInclusion(leaf: leaves[seq - 1], index: Int64(seq - 1), size: Int64(treeSize), proof: sql,
                                               root: Self.mth(leaves.prefix(treeSize)[...])), "seq \(seq) in \(treeSize)")
        }
        // Consistency proofs from SQL verify between the two roots.
        for (old, new) in [(1, size), (255, 256), (256, 700), (300, 513), (size - 1, size), (7, 7)] {
            let proof = try trail.store.execute("SELECT encode(p, 'hex') FROM unnest(walaudit.consistency_proof($1, $2)) p", [String(old), String(new)])
                .rows.map { Self.bytes($0[0]!) }
            #expect(MerkleTree.verifyConsistency(old: Int64(old), new: Int64(new), oldRoot: Self.mth(leaves.prefix(old)[...]),
                                                 newRoot: Self.mth(leaves.prefix(new)[...]), proof: proof), "\(old) → \(new)")
        }
        // Every checkpoint line carries a tree checkpoint signed under the origin with the root of its seq.
        let publicKey = try KeyFile.read(trail.key + ".pub", label: "public")
        for checkpoint in try CheckpointFile(trail.checkpoints).readAll() {
            let head = try #require(try checkpoint.treeHead(publicKey: publicKey))
            #expect(head.origin == "example.com/walaudit-test")
            #expect(head.root == Self.mth(leaves.prefix(Int(checkpoint.seq))[...]))
        }
        let verifierKey = try String(contentsOfFile: trail.checkpoints + "/verifier-key", encoding: .utf8)
        #expect(verifierKey == (try String(contentsOfFile: trail.key + ".vkey", encoding: .utf8)))
    }

    /// `verify --checkpoints` checks the signed roots against the tree the
    /// chain makes, and the stored nodes; an idle worker replaces its
    /// heartbeat instead of growing the checkpoint log.
    @Test func verifyChecksTreeCheckpointsStoredNodesAndTheHeartbeat() throws {
        let trail = try Trail.make(rows: 600)
        func verify() throws -> (Int32, String) {
            let result = try WalauditBinary.run(["verify", "--checkpoints", trail.checkpoints, "--public-key", trail.key + ".pub", "--jobs", "3"]
                                                + trail.harness.connectionArguments)
            return (result.status, String(decoding: result.stdout, as: UTF8.self) + result.stderr)
        }
        var (status, output) = try verify()
        #expect(status == 0, "\(output)")

        // Idle: the log keeps its lines, the heartbeat is replaced, and verify reads it.
        let lines = try CheckpointFile(trail.checkpoints).readAll().count
        let worker = try trail.harness.startWorker(["--checkpoint-dir", trail.checkpoints, "--signing-key", trail.key,
                                                    "--origin", "example.com/walaudit-test", "--checkpoint-interval", "0.2"])
        Thread.sleep(forTimeInterval: 2)
        #expect(worker.stop() == 0, "\(worker.log)")
        let file = CheckpointFile(trail.checkpoints)
        #expect(try file.readAll().count <= lines + 1, "at most one line after a restart")
        let beat = try #require(try file.readHeartbeat())
        #expect(beat.previous == (try file.readAll().last?.hash))
        (status, output) = try verify()
        #expect(status == 0, "\(output)")
        let text = try String(contentsOfFile: file.heartbeatPath, encoding: .utf8)
        let signature = Hex.encode(beat.signature)
        let forged = String(signature.prefix(10)) + (signature.dropFirst(10).first == "0" ? "1" : "0") + signature.dropFirst(11)
        try text.replacingOccurrences(of: signature, with: forged).write(toFile: file.heartbeatPath, atomically: true, encoding: .utf8)
        (status, output) = try verify()
        #expect(status == 1, "a forged heartbeat: \(output)")
        try text.write(toFile: file.heartbeatPath, atomically: true, encoding: .utf8)

        // A stored node altered by a superuser.
        try trail.store.execute("""
            ALTER TABLE walaudit.merkle_nodes DISABLE TRIGGER ALL;
            UPDATE walaudit.merkle_nodes SET hash = sha256(hash) WHERE level = 8 AND idx = 1;
            ALTER TABLE walaudit.merkle_nodes ENABLE ALWAYS TRIGGER walaudit_append_only;
            """)
        (status, output) = try verify()
        #expect(status == 1 && output.contains("TAMPERED at seq 257: tree node altered"), "\(output)")
    }

    /// A bundle carries the tree before its first record, so its signed
    /// tree root is recomputed offline.
    @Test func bundlesCheckTheSignedTreeRootOffline() throws {
        let trail = try Trail.make(rows: 400)
        let (since, until) = try trail.store.execute("""
            SELECT (SELECT event_time FROM walaudit.event_log WHERE seq = 300)::text, (SELECT event_time FROM walaudit.event_log WHERE seq = 350)::text
            """).rows.map { ($0[0]!, $0[1]!) }[0]
        let bundle = trail.directory + "/b.jsonl"
        try trail.harness.expectSuccess(["export", "--since", since, "--until", until, "--out", bundle])
        func verify() throws -> (Int32, String) {
            let result = try WalauditBinary.run(["verify", "--bundle", bundle, "--public-key", trail.key + ".pub"])
            return (result.status, String(decoding: result.stdout, as: UTF8.self) + result.stderr)
        }
        var (status, output) = try verify()
        #expect(status == 0 && output.contains("signed tree root (example.com/walaudit-test)"), "\(output)")
        var lines = try String(contentsOfFile: bundle, encoding: .utf8).components(separatedBy: "\n")
        let index = try #require(lines.firstIndex { $0.contains("\"type\":\"tree\"") || $0.contains("\"type\": \"tree\"") })
        let original = lines[index]
        let hash = try #require(original.range(of: #"[0-9a-f]{64}"#, options: .regularExpression))
        lines[index] = original.replacingCharacters(in: hash, with: String(repeating: "0", count: 64))
        try lines.joined(separator: "\n").write(toFile: bundle, atomically: true, encoding: .utf8)
        (status, output) = try verify()
        #expect(status == 1 && output.contains("checkpoint mismatch"), "\(output)")
    }

    @Test func proveWritesAProofThatVerifiesOfflineAndCatchesAlteredEvents() throws {
        let trail = try Trail.make(rows: 300)
        let proofPath = trail.directory + "/e.tlog-proof", eventPath = trail.directory + "/e.json"
        try trail.harness.expectSuccess(["prove", "270", "--out", proofPath, "--event", eventPath])
        func verify(_ extra: [String] = [], key: String? = nil) throws -> (Int32, String) {
            let result = try WalauditBinary.run(["verify", "--proof", proofPath, "--public-key", key ?? trail.key + ".pub"] + extra)
            return (result.status, String(decoding: result.stdout, as: UTF8.self) + result.stderr)
        }
        var (status, output) = try verify(["--event", eventPath])
        #expect(status == 0 && output.contains("included: seq 270"), "\(output)")
        // The same against the checkpoint directory's newest tree checkpoint instead of the store's.
        let fromFile = trail.directory + "/file.tlog-proof"
        try trail.harness.expectSuccess(["prove", "270", "--checkpoint", trail.checkpoints, "--out", fromFile])
        let newest = try #require(try CheckpointFile(trail.checkpoints).readAll().last?.note)
        #expect(try String(contentsOfFile: fromFile, encoding: .utf8).hasSuffix(newest))
        #expect(try WalauditBinary.run(["verify", "--proof", fromFile, "--public-key", trail.key + ".pub"]).status == 0)
        // An altered value in the event's record.
        let record = try String(contentsOfFile: eventPath, encoding: .utf8)
        try record.replacingOccurrences(of: "\"v\": \"v\"", with: "\"v\": \"w\"").write(toFile: eventPath, atomically: true, encoding: .utf8)
        #expect(record.contains("\"v\": \"v\""), "\(record)")
        (status, output) = try verify(["--event", eventPath])
        #expect(status == 1 && output.contains("altered"), "\(output)")
        // An altered hash of the proof.
        var lines = try String(contentsOfFile: proofPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let original = lines[3]
        lines[3] = Data(repeating: 7, count: 32).base64EncodedString()
        try lines.joined(separator: "\n").write(toFile: proofPath, atomically: true, encoding: .utf8)
        (status, output) = try verify()
        #expect(status == 1 && output.contains("does not lead"), "\(output)")
        lines[3] = original
        try lines.joined(separator: "\n").write(toFile: proofPath, atomically: true, encoding: .utf8)
        #expect(try verify().0 == 0)
        // Another key.
        let other = trail.directory + "/other"
        #expect(try WalauditBinary.run(["keygen", "--out", other]).status == 0)
        (status, output) = try verify(key: other + ".pub")
        #expect(status == 1 && output.contains("not signed"), "\(output)")
        // A seq beyond the newest checkpoint.
        let beyond = try WalauditBinary.run(["prove", "100000"] + trail.harness.connectionArguments)
        #expect(beyond.status != 0 && beyond.stderr.contains("covers"), "\(beyond.stderr)")
    }
}
