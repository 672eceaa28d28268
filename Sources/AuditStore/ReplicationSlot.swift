import PostgresClient

/// A logical replication slot on the source, as `pg_replication_slots` shows it.
public struct ReplicationSlot: Sendable {
    public var name: String
    /// The walsender streaming from the slot, if a client is connected.
    public var activePID: String?
    /// `reserved`, `extended`, `unreserved` or `lost`.
    public var walStatus: String?
    /// WAL the slot keeps on the source's disk (nil once it is lost).
    public var retainedBytes: Int64?
    /// What the client has confirmed as stored durably.
    public var confirmedLSN: String?
    /// WAL written since `confirmedLSN`.
    public var lagBytes: Int64?
    /// The connected client's application_name ("" if it set none).
    public var clientApplication: String?

    public var isActive: Bool { activePID != nil }

    /// The slot named `slot`, or nil if there is none.
    public static func read(_ source: Connection, slot: String) throws(PostgresError) -> ReplicationSlot? {
        guard let row = try source.execute("""
            SELECT s.active_pid::text, s.wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
                   s.confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
                   a.application_name
            FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            WHERE s.slot_name = $1
            """, [slot]).rows.first else { return nil }
        return ReplicationSlot(name: slot, activePID: row[0], walStatus: row[1], retainedBytes: row[2].flatMap { Int64($0) },
                               confirmedLSN: row[3], lagBytes: row[4].flatMap { Int64($0) }, clientApplication: row[5])
    }
}
