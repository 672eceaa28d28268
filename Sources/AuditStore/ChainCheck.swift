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
        if let anchors {
            verifier.anchor(to: anchors.checkpoints, publicKey: anchors.publicKey, chainID: try ChainHead.chainID(store) ?? "")
        }
        return try verify(store, jobs: jobs, connect: connect, verifier: verifier, progress: progress)
    }
}
