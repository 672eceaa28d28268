import Capture
import Decoding
import Foundation
import AuditStore
import Ledger
import Logging
import PostgresClient
import Replication

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
    /// Standby status updates at least this often (seconds).
    public var feedbackInterval = 10.0
    /// Bytes of one transaction's changes kept in memory before spilling to disk.
    public var memoryLimit = 8 << 20
    /// Where signed checkpoints are appended, and the Ed25519 key that signs
    /// them; both or neither.
    public var checkpointFile: CheckpointFile?
    public var signingKey: [UInt8]?
    /// A checkpoint after this many new events…
    public var checkpointEvents: Int64 = 10_000
    /// …or this many seconds (also when idle: a heartbeat).
    public var checkpointInterval = 60.0

    public init(source: String, target: String, slot: String) {
        self.source = source
        self.target = target
        self.slot = slot
    }
}

/// An error that retrying will not fix; the message says what to do.
public struct FatalWorkerError: Error, CustomStringConvertible {
    public var description: String
}

/// The capture worker: reads the slot, turns committed transactions into
/// chained events, stores them together with the source LSN they cover in
/// one target transaction, and only then confirms that LSN to the server.
///
/// Exactly once: after any crash the worker resumes from the LSN stored with
/// the events (the server starts no earlier than what was confirmed, which
/// is never beyond what is stored), so a transaction is neither lost nor
/// stored twice. Dropped connections and outages are retried with backoff.
public final class CaptureWorker: Sendable {
    let configuration: WorkerConfiguration
    let logger: Logger
    let shouldStop: @Sendable () -> Bool

    public init(_ configuration: WorkerConfiguration, logger: Logger, shouldStop: @escaping @Sendable () -> Bool) {
        self.configuration = configuration
        self.logger = logger
        self.shouldStop = shouldStop
    }

    /// Runs until `shouldStop` says so (then drains and returns) or a fatal error.
    public func run() throws {
        var backoff = 1.0
        while !shouldStop() {
            do {
                try runSession { backoff = 1.0 }
                return
            } catch let fatal as FatalWorkerError {
                throw fatal
            } catch let error as PostgresError where Self.isFatal(error) {
                throw FatalWorkerError(description: Self.explain(error, slot: configuration.slot))
            } catch {
                logger.warning("capture interrupted; retrying", metadata: ["error": "\(error)", "retry_in_seconds": "\(backoff)"])
                let until = Date().addingTimeInterval(backoff)
                while Date() < until && !shouldStop() { Thread.sleep(forTimeInterval: 0.1) }
                backoff = min(backoff * 2, 30)
            }
        }
    }

    /// One connected session: load state from the store, stream, store, confirm.
    private func runSession(connected: () -> Void) throws {
        let target = try Connection(configuration.target, overrides: [("application_name", "walaudit-worker")])
        try Self.becomeWriter(target)
        let store = EventStore(connection: target)
        let state = try StoredState.load(from: target, slot: configuration.slot)
        let guardConnection = try claimSlot(recordingLossIn: store, lastLSN: state.lastLSN)
        let source = try ReplicationConnection(configuration.source, applicationName: Self.replicationApplicationName)
        let identity = try source.identifySystem()
        if let stored = state.sourceSystemID, stored != identity.systemID {
            throw FatalWorkerError(description: "the audit store belongs to PostgreSQL system \(stored), but the source is system \(identity.systemID); point --source at the database this store audits, or use a new store")
        }
        try source.startReplication(slot: configuration.slot, from: state.lastLSN,
                                    options: [("include-xids", "1"), ("include-timestamp", "1"), ("skip-empty-xacts", "1")])
        connected()
        logger.info("capturing", metadata: ["slot": "\(configuration.slot)", "from_lsn": "\(state.lastLSN)",
                                            "attached_tables": "\(state.tables.count)"])

        var session = try Session(worker: self, source: source, store: store, systemID: identity.systemID, state: state,
                                  chain: try store.loadChain())
        try withExtendedLifetime(guardConnection) { try session.stream() }
    }

    static let replicationApplicationName = "walaudit"

    /// The store is written as walaudit_writer, which may only insert
    /// events, whatever login the worker was given.
    static func becomeWriter(_ target: Connection) throws {
        let member = try target.execute("SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = 'walaudit_writer'")
        guard let isMember = member.scalar else {
            throw FatalWorkerError(description: "the audit store has no walaudit_writer role: run `walaudit setup` first")
        }
        guard isMember == "t" else {
            let login = try target.execute("SELECT session_user").scalar ?? "?"
            throw FatalWorkerError(description: "the worker writes the audit store as walaudit_writer, but its login \(login) is not a member: GRANT walaudit_writer TO \(SQLText.identifier(login))")
        }
        try target.execute("SET ROLE walaudit_writer")
    }

    /// Makes sure this is the only worker on the slot, using a session
    /// advisory lock on the source that dies with its holder. Holding it, any
    /// walsender still attached to the slot belongs to a worker that died
    /// (the server notices a vanished client only at wal_sender_timeout), so
    /// it is ended. Returns the connection that holds the lock.
    private func claimSlot(recordingLossIn store: EventStore, lastLSN: LSN) throws -> Connection {
        let slot = configuration.slot
        let control = try Connection(configuration.source, overrides: [("application_name", "walaudit-worker")])
        guard try control.execute("SELECT pg_try_advisory_lock(hashtext($1))", ["walaudit.slot." + slot]).scalar == "t" else {
            throw FatalWorkerError(description: "another walaudit worker is running on slot \"\(slot)\" (it holds the worker lock on the source database); stop it before starting a new one")
        }
        for attempt in 0..<100 {
            let rows = try control.execute("""
                SELECT s.active_pid, coalesce(a.application_name, ''), s.wal_status FROM pg_replication_slots s
                LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1
                """, [slot]).rows
            guard let row = rows.first else {
                throw FatalWorkerError(description: "replication slot \"\(slot)\" does not exist: run `walaudit setup` (it creates the slot)")
            }
            if row[2] == "lost" { try recordSlotLoss(in: store, lastLSN: lastLSN) }
            guard let pid = row[0] else { return control }
            guard row[1] == Self.replicationApplicationName else {
                throw FatalWorkerError(description: "replication slot \"\(slot)\" is in use by another client (\(row[1] ?? "unknown"), pid \(pid)); walaudit needs the slot to itself")
            }
            if attempt == 0 {
                logger.info("ending the walsender of a previous worker that is gone", metadata: ["pid": "\(pid)"])
                try control.execute("SELECT pg_terminate_backend($1::int)", [pid])
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw FatalWorkerError(description: "replication slot \"\(slot)\" stayed in use after its previous walsender was ended")
    }

    /// The slot was invalidated (it retained more WAL than
    /// max_slot_wal_keep_size allows): changes after `lastLSN` are gone.
    /// That is a fact for the chain: a GAP event is written once, and the
    /// worker stops loudly instead of pretending nothing happened.
    private func recordSlotLoss(in store: EventStore, lastLSN: LSN) throws -> Never {
        let slot = configuration.slot
        let connection = store.connection
        let detail = "changes committed after \(lastLSN) until the slot was recreated are not in the trail"
        try connection.execute("BEGIN")
        do {
            var chain = try store.lockChain()
            let last = try connection.execute("""
                SELECT 1 FROM walaudit.event_log WHERE seq = $1 AND operation = 'GAP'
                  AND new_row->>'reason' = 'slot invalidated' AND new_row->>'slot' = $2 AND new_row->>'last_stored_lsn' = $3
                """, [String(chain.seq), slot, lastLSN.description])
            if last.rows.isEmpty {
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                let event = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: now), operation: .gap,
                                       newRow: .object([.init("reason", .string("slot invalidated")), .init("slot", .string(slot)),
                                                        .init("last_stored_lsn", .string(lastLSN.description)),
                                                        .init("detail", .string(detail))]))
                try store.write(chain.append(event))
                try store.finishCopy()
            }
            try connection.execute("COMMIT")
        } catch {
            store.abandon()
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
        logger.critical("replication slot invalidated: a GAP event is in the chain", metadata: ["slot": "\(slot)"])
        throw FatalWorkerError(description: """
            replication slot "\(slot)" was invalidated (it retained more WAL than max_slot_wal_keep_size allows): \(detail). \
            A GAP event records this in the chain. To resume capture, recreate the slot: \
            SELECT pg_drop_replication_slot('\(slot)'); then run `walaudit setup`. \
            Raise max_slot_wal_keep_size or keep the worker running to avoid a repeat.
            """)
    }

    static func isFatal(_ error: PostgresError) -> Bool {
        guard let state = error.sqlState else { return false }
        return ["42704", "55006", "42501", "28000", "28P01", "3D000", "55000", "0A000", "42P01", "42883"].contains(state)
    }

    /// The error with the fix a DBA needs.
    static func explain(_ error: PostgresError, slot: String) -> String {
        switch error.sqlState {
        case "42704": return "replication slot \"\(slot)\" does not exist: run `walaudit setup` (it creates the slot) (\(error.message))"
        case "55006": return "replication slot \"\(slot)\" is in use by another process: is another `walaudit run` active? Two workers must not share a slot (\(error.message))"
        case "42501": return "permission denied: the source role needs REPLICATION (or superuser) and the store role must own walaudit's tables (\(error.message))"
        case "55000" where error.message.contains("wal_level"):
            return "the source server runs without wal_level=logical: set it in postgresql.conf and restart the server (\(error.message))"
        case "55000": return "the replication slot cannot be used: \(error.message). If it was invalidated, changes were lost: see docs/operations.md"
        case "42P01", "3D000": return "walaudit's schema is missing: run `walaudit setup` (\(error.message))"
        default: return error.description
        }
    }
}

/// What the store says about where capture stands.
struct StoredState {
    var lastLSN: LSN
    var sourceSystemID: String?
    var tables: [RelationName: TableCapture]
    var maskKey: [UInt8]

    static func load(from target: Connection, slot: String) throws -> StoredState {
        let row = try target.execute("SELECT last_lsn::text, source_system_id FROM walaudit.capture_state WHERE slot = $1", [slot]).rows.first
        let tables = try target.execute("""
            SELECT relid, schema_name, table_name, key_columns::text, exclude_columns::text, mask_columns::text
            FROM walaudit.capture_config WHERE slot = $1
            """, [slot]).rows.map { row in
            TableCapture(relid: UInt32(row[0]!)!, schemaName: row[1]!, tableName: row[2]!,
                         keyColumns: TextArray.parse(row[3]!), excludeColumns: TextArray.parse(row[4]!),
                         maskColumns: TextArray.parse(row[5]!))
        }
        guard let keyHex = try target.execute("SELECT encode(value, 'hex') FROM walaudit.store_secrets WHERE name = 'mask_key'").scalar else {
            throw FatalWorkerError(description: "the audit store has no mask key: run `walaudit setup`")
        }
        return StoredState(lastLSN: row.flatMap { $0[0] }.flatMap(LSN.init) ?? .zero, sourceSystemID: row?[1] ?? nil,
                           tables: Dictionary(uniqueKeysWithValues: tables.map { ($0.relation, $0) }),
                           maskKey: Hex.decode(keyHex) ?? [])
    }
}
