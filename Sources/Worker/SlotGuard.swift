import AuditStore
import Decoding
import Foundation
import Logging
import PostgresClient

/// Makes sure this worker is the slot's only reader and that the slot can
/// be read, before streaming starts.
///
/// It holds a session advisory lock on the source that dies with its
/// holder. Holding it, any walsender still attached to the slot belongs to
/// a worker that died (the server notices a vanished client only at
/// wal_sender_timeout), so that walsender is ended.
struct SlotGuard {
    /// The connection that holds the lock; the lock lasts as long as it.
    let connection: Connection

    static let replicationApplicationName = "walaudit"

    init(source: String, slot: String, lastLSN: LSN, store: EventStore, logger: Logger) throws {
        connection = try Connection(source, overrides: [("application_name", "walaudit-worker")])
        guard try connection.execute("SELECT pg_try_advisory_lock(hashtext($1))", ["walaudit.slot." + slot]).scalar == "t" else {
            throw FatalWorkerError("another walaudit worker is running on slot \"\(slot)\" (it holds the worker lock on the source database); stop it before starting a new one")
        }
        for attempt in 0..<100 {
            let rows = try connection.execute("""
                SELECT s.active_pid, coalesce(a.application_name, ''), s.wal_status, s.two_phase, s.plugin
                FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1
                """, [slot]).rows
            guard let row = rows.first else {
                throw FatalWorkerError("replication slot \"\(slot)\" does not exist: run `walaudit setup` (it creates the slot)")
            }
            guard row[4] == "test_decoding" else {
                throw FatalWorkerError("replication slot \"\(slot)\" uses the output plugin \(row[4] ?? "none"), not test_decoding: drop it and run `walaudit setup`, or name another slot with --slot")
            }
            guard row[3] == "f" else {
                throw FatalWorkerError("replication slot \"\(slot)\" was created with two_phase, so prepared transactions would be decoded at PREPARE, before they commit or roll back: drop it (SELECT pg_drop_replication_slot('\(slot)')) and run `walaudit setup`, which creates it without two_phase")
            }
            if row[2] == "lost" {
                let detail = try store.recordSlotLoss(slot: slot, lastLSN: lastLSN)
                logger.critical("replication slot invalidated: a GAP event is in the chain", metadata: ["slot": "\(slot)"])
                throw FatalWorkerError("""
                    replication slot "\(slot)" was invalidated (it retained more WAL than max_slot_wal_keep_size allows): \(detail). \
                    A GAP event records this in the chain. To resume capture, recreate the slot: \
                    SELECT pg_drop_replication_slot('\(slot)'); then run `walaudit setup`. \
                    Raise max_slot_wal_keep_size or keep the worker running to avoid a repeat.
                    """)
            }
            guard let pid = row[0] else { return }
            guard row[1] == Self.replicationApplicationName else {
                throw FatalWorkerError("replication slot \"\(slot)\" is in use by another client (\(row[1] ?? "unknown"), pid \(pid)); walaudit needs the slot to itself")
            }
            if attempt == 0 {
                logger.info("ending the walsender of a previous worker that is gone", metadata: ["pid": "\(pid)"])
                try connection.execute("SELECT pg_terminate_backend($1::int)", [pid])
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw FatalWorkerError("replication slot \"\(slot)\" stayed in use after its previous walsender was ended")
    }
}
