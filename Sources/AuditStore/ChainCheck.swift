import Decoding
import Ledger
import PostgresClient

/// Signed checkpoints and the key that signed them, to check a store's chain against.
public struct CheckpointAnchors {
    public var checkpoints: [Checkpoint]
    public var publicKey: [UInt8]

    public init(checkpoints: [Checkpoint], publicKey: [UInt8]) {
        self.checkpoints = checkpoints
        self.publicKey = publicKey
    }

    /// The checkpoints of `path` (a checkpoint directory or file), with the
    /// heartbeat an idle worker keeps replacing if it follows the last
    /// line, and the public key in `publicKeyFile`.
    public static func read(checkpoints path: String, publicKeyFile: String) throws -> CheckpointAnchors {
        let file = CheckpointFile(path)
        var checkpoints = try file.readAll()
        if let beat = try file.readHeartbeat(), let last = checkpoints.last, beat.previous == last.hash { checkpoints.append(beat) }
        return CheckpointAnchors(checkpoints: checkpoints, publicKey: try KeyFile.read(publicKeyFile, label: "public"))
    }
}

extension StoreVerification {
    /// Checks the whole chain of `store` (`verify(_:jobs:connect:verifier:progress:)`),
    /// against `anchors` when given: their chain id must be this store's.
    /// `connect` opens the extra connections for `jobs > 1`.
    public static func verify(_ store: Connection, jobs: Int = 1,
                              connect: () throws -> Connection = { throw PostgresError(message: "one connection only") },
                              anchors: CheckpointAnchors? = nil,
                              progress: (@Sendable (Int) -> Void)? = nil) throws -> VerificationReport {
        var verifier = ChainVerifier()
        var tree: TreeCheck?
        if let anchors {
            verifier.anchor(to: anchors.checkpoints, publicKey: anchors.publicKey, chainID: try ChainHead.chainID(store) ?? "")
            var heads: [(seq: Int64, head: TreeHead)] = []
            // The lines' own signatures first (a forged line is reported as such).
            for checkpoint in anchors.checkpoints where verifier.report.ok {
                do {
                    if let head = try checkpoint.treeHead(publicKey: anchors.publicKey) { heads.append((checkpoint.seq, head)) }
                } catch {
                    var report = VerificationReport()
                    report.firstBadSeq = checkpoint.seq
                    report.problem = "checkpoint mismatch: \(error)"
                    return report
                }
            }
            if !heads.isEmpty { tree = TreeCheck(heads: heads) }
        }
        var report = try verify(store, jobs: jobs, connect: connect, verifier: verifier, tree: tree, progress: progress)
        // The tree: what the chain just read makes, against the signed roots and the stored nodes.
        if let tree, report.ok {
            let stored = try store.execute("""
                SELECT level, idx, encode(hash, 'hex') FROM walaudit.merkle_nodes WHERE (idx + 1) * (1::bigint << level) <= $1
                """, [String(tree.size)]).rows
            var nodes: [Int64: [UInt8]] = [:]
            for row in stored { nodes[TreeCheck.key(Int(row[0]!)!, Int64(row[1]!)!)] = Hex.decode(row[2] ?? "") ?? [] }
            if let (seq, problem) = tree.problem(stored: nodes) {
                report.firstBadSeq = seq
                report.problem = problem
            }
        }
        return report
    }
}
