import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient

/// Signs the chain head when enough events or time have passed: appended
/// (and fsynced) to the external file first, then recorded in the store.
/// Each checkpoint also carries the same moment as a C2SP tlog checkpoint
/// (origin, tree size, Merkle root) in a signed note, for stock verifiers.
/// While the chain does not grow, the heartbeat file is replaced each
/// interval and the log gets a line only every `idleAppendInterval`, so an
/// idle year adds ~8,760 lines, not ~525,000 (the store records every one,
/// as before, for `status`). Runs on the writer thread,
/// between batches.
final class CheckpointSigner {
    private let file: CheckpointFile
    private let key: [UInt8]
    private let noteKey: NoteKey
    private let chainID: String
    /// Whether the store keeps the Merkle tree (a store not upgraded yet: no tree checkpoints).
    private let keepsTree: Bool
    private let everyEvents: Int64
    private let interval: Double
    private let metrics: WorkerMetrics
    /// The last line appended to the file.
    private var last: Checkpoint?
    private var lastAt = -Double.infinity
    private var lastAppendedAt = -Double.infinity

    /// An idle chain's checkpoints go to the log this often (seconds).
    static let idleAppendInterval = 3600.0

    /// Nil when the configuration asks for no checkpoints.
    init?(configuration: WorkerConfiguration, store: Connection, metrics: WorkerMetrics, origin: String) throws {
        guard let file = configuration.checkpointFile, let key = configuration.signingKey else { return nil }
        self.file = file
        self.metrics = metrics
        self.key = key
        noteKey = try NoteKey(name: origin, publicKey: Ed25519.publicKey(of: key))
        everyEvents = configuration.checkpointEvents
        interval = configuration.checkpointInterval
        last = try file.readAll().last
        guard let chainID = try ChainHead.chainID(store) else {
            throw StoreStateError("the audit store has no chain id (walaudit.chain is empty): run `walaudit setup`")
        }
        self.chainID = chainID
        keepsTree = try MerkleStore.exists(store)
        // A new chain starts a new file with its own genesis checkpoint;
        // continuing another chain's file would hide the restart.
        if let other = last?.chainID, other != chainID {
            throw StoreStateError("the checkpoint file \(file.path) belongs to chain \(other), but this audit store is chain \(chainID): give a new chain a new --checkpoint-dir, so its first checkpoint is an explicit genesis")
        }
        // Linking to a line this key did not sign would leave a file no one
        // public key verifies (a new key), or continue a forged line.
        if let last, !last.isSigned(by: try Ed25519.publicKey(of: key)) {
            throw StoreStateError("the last checkpoint in \(file.path) (seq \(last.seq)) is not signed by --signing-key: it was signed by another key, or altered. `walaudit verify` checks a file with one public key, so a new key needs a new --checkpoint-dir (its first checkpoint an explicit genesis); if the line was altered, keep the file as evidence")
        }
        // Public: what an auditor gives a stock note verifier (check its key against FILE.pub).
        try file.writeVerifierKey(noteKey.verifierKey)
    }

    /// Signs if due; `headSeq` is the writer's view of the chain (POLICY
    /// events appended from SQL are read from the store when signing).
    func signIfDue(headSeq: Int64, store: EventStore) throws {
        guard headSeq - (last?.seq ?? 0) >= everyEvents || monotonicSeconds() - lastAt >= interval else { return }
        let chain = try store.loadChain()
        guard chain.seq > 0 else { return }
        let now = PostgresTimestamp.now()
        var checkpoint = Checkpoint(chainID: chainID, seq: chain.seq, head: chain.head, time: now, previous: last?.hash)
        try checkpoint.sign(with: key)
        if keepsTree {
            var tree = MerkleStore(store.connection)
            let head = TreeHead(origin: noteKey.name, size: chain.seq, root: try tree.root(size: chain.seq))
            checkpoint.note = try SignedNote.sign(head.text, key: noteKey, privateKey: key).serialized
        }
        let idle = last.map { $0.seq == chain.seq && $0.head == chain.head } ?? false
        if idle && monotonicSeconds() - lastAppendedAt < Self.idleAppendInterval {
            try file.writeHeartbeat(checkpoint)
        } else {
            try file.append(checkpoint)
            last = checkpoint
            lastAppendedAt = monotonicSeconds()
        }
        // The store records heartbeats too: `status` tells the signer's liveness from it.
        try CheckpointLog.record(checkpoint, store.connection)
        lastAt = monotonicSeconds()
        metrics.checkpointSigned(at: now.microsecondsSinceEpoch)
    }
}
