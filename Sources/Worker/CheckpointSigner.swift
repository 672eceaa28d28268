import AuditStore
import Decoding
import Foundation
import Ledger
import PostgresClient

/// Signs the chain head when enough events or time have passed: appended
/// (and fsynced) to the external file first, then recorded in the store.
/// Runs on the writer thread, between batches.
final class CheckpointSigner {
    private let file: CheckpointFile
    private let key: [UInt8]
    private let chainID: String
    private let everyEvents: Int64
    private let interval: Double
    private var last: Checkpoint?
    private var lastAt = -Double.infinity

    /// Nil when the configuration asks for no checkpoints.
    init?(configuration: WorkerConfiguration, store: Connection) throws {
        guard let file = configuration.checkpointFile, let key = configuration.signingKey else { return nil }
        self.file = file
        self.key = key
        everyEvents = configuration.checkpointEvents
        interval = configuration.checkpointInterval
        last = try file.readAll().last
        guard let chainID = try ChainHead.chainID(store) else {
            throw StoreStateError("the audit store has no chain id (walaudit.chain is empty): run `walaudit setup`")
        }
        self.chainID = chainID
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
    }

    /// Signs if due; `headSeq` is the writer's view of the chain (POLICY
    /// events appended from SQL are read from the store when signing).
    func signIfDue(headSeq: Int64, store: EventStore) throws {
        guard headSeq - (last?.seq ?? 0) >= everyEvents || monotonicSeconds() - lastAt >= interval else { return }
        let chain = try store.loadChain()
        guard chain.seq > 0 else { return }
        let now = PostgresTimestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))
        var checkpoint = Checkpoint(chainID: chainID, seq: chain.seq, head: chain.head, time: now, previous: last?.hash)
        try checkpoint.sign(with: key)
        try file.append(checkpoint)
        try CheckpointLog.record(checkpoint, store.connection)
        last = checkpoint
        lastAt = monotonicSeconds()
    }
}
