import Ledger

/// What the worker needs to run.
public struct WorkerConfiguration: Sendable {
    /// libpq conninfo of the audited database.
    public var source: String
    /// libpq conninfo of the audit store (often the same database).
    public var target: String
    public var slot: String
    /// Commit the current batch once it holds this many events…
    public var batchEvents = 20_000
    /// …or once it is this old (seconds), or as soon as the writer has caught
    /// up — but not sooner than this many seconds after the last commit:
    /// under load, transactions arriving meanwhile join the batch (one store
    /// commit, with its fsync and round trips, for many source
    /// transactions); when quiet, a lone transaction commits at once.
    public var batchAge = 0.5
    public var commitInterval = 0.02
    /// Standby status updates at least this often (seconds), and this often
    /// while reading is paused because the store is behind.
    public var feedbackInterval = 10.0
    public var pausedFeedbackInterval = 1.0
    /// Bytes of one transaction's changes kept in memory before spilling to disk.
    public var memoryLimit = 8 << 20
    /// Committed transactions waiting for the store beyond this many
    /// changes, or this many bytes, pause reading the stream (feedback goes
    /// on): memory stays bounded when the store is slower than the stream.
    public var handoffChanges = 50_000
    public var handoffBytes = 64 << 20
    /// Where signed checkpoints are appended, and the Ed25519 key that signs
    /// them; both or neither.
    public var checkpointFile: CheckpointFile?
    public var signingKey: [UInt8]?
    /// The origin line of the tree checkpoints (c2sp.org/tlog-checkpoint),
    /// also the note key's name; nil: `walaudit/<source system id>/<slot>`.
    public var origin: String?
    /// A checkpoint after this many new events…
    public var checkpointEvents: Int64 = 10_000
    /// …or this many seconds (also when idle: a heartbeat).
    public var checkpointInterval = 60.0
    /// Rows per chunk of a baseline read (two chunks at most are held in memory).
    public var baselineChunkRows = 10_000
    /// Seconds between two looks for changes escaping capture (a captured
    /// table turned UNLOGGED, a partition added while walaudit's event
    /// triggers were off); each one found becomes a GAP event.
    public var coverageCheckInterval = 10.0

    public init(source: String, target: String, slot: String) {
        self.source = source
        self.target = target
        self.slot = slot
    }
}
