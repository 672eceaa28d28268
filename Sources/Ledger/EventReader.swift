import Decoding
import PostgresClient

/// Reads stored events in seq order through a server-side cursor, in
/// batches, inside one REPEATABLE READ transaction (a consistent snapshot
/// while the worker keeps appending).
public struct EventReader {
    public let connection: Connection
    public var batchSize = 5_000

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Columns in the order `stored(from:)` reads them. Times as exact
    /// microseconds, arrays and JSON as JSON text (structure, not text, is
    /// what the chain hashes), client_addr through inet's output function.
    static let columns = """
        seq, (extract(epoch FROM event_time) * 1000000)::bigint, operation, schema_name, table_name,
        array_to_json(changed_columns)::text, db_user, role_name, app_user, app_context::text, application_name,
        client_addr, client_port, backend_pid, xid, lsn::text, lsn_position, row_key::text, old_row::text,
        new_row::text, encode(payload_salt, 'hex'), encode(payload_digest, 'hex'), encode(prev_hash, 'hex'),
        encode(hash, 'hex'), purged_at IS NOT NULL
        """

    /// Calls `body` for every event with `fromSeq <= seq <= toSeq`, in order.
    public func forEach(fromSeq: Int64? = nil, toSeq: Int64? = nil, _ body: (StoredEvent) throws -> Bool) throws {
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? connection.execute("ROLLBACK") }
        try connection.execute("""
            DECLARE walaudit_verify NO SCROLL CURSOR FOR SELECT \(Self.columns) FROM walaudit.event_log
            WHERE seq >= \(fromSeq ?? 1) AND seq <= \(toSeq ?? Int64.max) ORDER BY seq
            """)
        while true {
            let batch = try connection.execute("FETCH \(batchSize) FROM walaudit_verify")
            for row in batch.rows {
                guard try body(try Self.stored(from: row)) else { return }
            }
            if batch.rows.count < batchSize { return }
        }
    }

    static func stored(from row: [String?]) throws -> StoredEvent {
        func json(_ text: String?) throws -> JSONValue? { try text.map { try JSONValue(parsing: $0) } }
        func int(_ text: String?) -> Int64? { text.flatMap { Int64($0) } }
        func bytes(_ text: String?) -> [UInt8]? { text.flatMap(Hex.decode) }
        var changed: [String]?
        if case .array(let items)? = try json(row[5]) {
            changed = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        }
        let event = AuditEvent(
            eventTime: PostgresTimestamp(microsecondsSinceEpoch: int(row[1]) ?? 0),
            operation: AuditEvent.Operation(rawValue: row[2] ?? "") ?? .gap,
            schemaName: row[3], tableName: row[4], changedColumns: changed,
            actor: Actor(dbUser: row[6], roleName: row[7], appUser: row[8], appContext: try json(row[9]),
                         applicationName: row[10], clientAddr: row[11], clientPort: int(row[12]), backendPID: int(row[13])),
            xid: int(row[14]), lsn: row[15].flatMap(LSN.parse), lsnPosition: int(row[16]),
            rowKey: try json(row[17]), oldRow: try json(row[18]), newRow: try json(row[19]))
        return StoredEvent(seq: int(row[0]) ?? 0, event: event, purged: row[24] == "t", payloadSalt: bytes(row[20]),
                           payloadDigest: bytes(row[21]) ?? [], prevHash: bytes(row[22]) ?? [], hash: bytes(row[23]) ?? [])
    }
}
