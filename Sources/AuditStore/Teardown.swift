import PostgresClient

/// `walaudit teardown`: stop capture on the source and keep the trail.
public enum Teardown {
    /// A worker is still streaming from the slot.
    public struct WorkerConnected: Error, CustomStringConvertible {
        public var slot: String
        public var pid: String
        public var description: String { "a worker is connected to slot \(slot) (pid \(pid)): stop it first (SIGTERM drains and exits)" }
    }

    public enum SlotOutcome: Sendable {
        /// There was no slot of that name.
        case absent
        /// The slot stays; it keeps the source's WAL from `confirmedLSN` on.
        case kept(confirmedLSN: String?)
        /// The slot was dropped and a GAP event in the chain says where capture ended.
        case dropped
    }

    /// Detaches every table (returned by name), then keeps or drops the
    /// slot. Refuses (`WorkerConnected`) while a worker streams from it.
    /// Nothing in the audit store is deleted.
    public static func run(source: Connection, store: Connection, slot: String, dropSlot: Bool) throws -> (detached: [String], slot: SlotOutcome) {
        let found = try ReplicationSlot.read(source, slot: slot)
        if let pid = found?.activePID { throw WorkerConnected(slot: slot, pid: pid) }
        let detached = try Attachment.detachAll(source)
        guard let found else { return (detached, .absent) }
        guard dropSlot else { return (detached, .kept(confirmedLSN: found.confirmedLSN)) }
        let stored = try store.execute("SELECT last_lsn::text FROM walaudit.capture_state WHERE slot = $1", [slot]).scalar
        let current = try source.execute("SELECT pg_current_wal_lsn()::text").scalar
        try store.execute("""
            SELECT walaudit.append_event('GAP', NULL, NULL, NULL, NULL, jsonb_build_object(
                'reason', 'capture torn down', 'slot', $1::text, 'last_stored_lsn', $2::text, 'source_lsn', $3::text,
                'detail', 'the slot was dropped: changes committed after the last stored LSN are not in the trail'))
            """, [slot, stored, current])
        try source.execute("SELECT pg_drop_replication_slot($1)", [slot])
        return (detached, .dropped)
    }
}
