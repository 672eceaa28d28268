import Decoding
import PostgresClient

/// Writes chained events into `walaudit.event_log` with COPY, inside a
/// transaction the caller controls, and reads the chain head back.
public final class EventStore {
    public let connection: Connection
    private var buffer: [UInt8] = []
    private var copying = false

    /// Columns in the order `row(for:)` writes them.
    static let columns = """
        seq, event_time, operation, schema_name, table_name, changed_columns, db_user, role_name, app_user, \
        app_context, application_name, client_addr, client_port, backend_pid, xid, lsn, lsn_position, row_key, \
        old_row, new_row, payload_salt, payload_digest, prev_hash, hash
        """

    public init(connection: Connection) {
        self.connection = connection
    }

    /// The chain as stored: the last event's seq and hash.
    public func loadChain() throws(PostgresError) -> Chain {
        let result = try connection.execute("SELECT seq, encode(hash, 'hex') FROM walaudit.event_log ORDER BY seq DESC LIMIT 1")
        guard let row = result.rows.first else { return Chain() }
        return Chain(seq: Int64(row[0]!)!, head: Hex.decode(row[1]!) ?? [])
    }

    /// Queues one event for the current COPY, starting it if needed.
    public func write(_ event: ChainedEvent) throws(PostgresError) {
        if !copying {
            try connection.copyBegin("COPY walaudit.event_log (\(Self.columns)) FROM STDIN")
            copying = true
        }
        Self.appendRow(event, to: &buffer)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Ends the COPY so other statements can run in the transaction.
    public func finishCopy() throws(PostgresError) {
        guard copying else { return }
        try flush()
        copying = false
        try connection.copyEnd()
    }

    /// Abandons a COPY after an error (the caller rolls back).
    public func abandon() {
        buffer.removeAll()
        if copying {
            copying = false
            try? connection.copyEnd(failure: "walaudit worker abandoned the batch")
        }
    }

    private func flush() throws(PostgresError) {
        guard !buffer.isEmpty else { return }
        try connection.copyData(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// One COPY text-format line.
    static func appendRow(_ c: ChainedEvent, to out: inout [UInt8]) {
        let e = c.event
        var first = true
        func field(_ text: String?) {
            if !first { out.append(0x09) }
            first = false
            guard let text else { out.append(contentsOf: [0x5C, UInt8(ascii: "N")]); return }
            for b in text.utf8 {
                switch b {
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default: out.append(b)
                }
            }
        }
        func bytea(_ bytes: [UInt8]) -> String { "\\x" + Hex.encode(bytes) }
        field(String(c.seq))
        field(e.eventTime.iso8601)
        field(e.operation.rawValue)
        field(e.schemaName)
        field(e.tableName)
        field(e.changedColumns.map(SQLText.array))
        field(e.actor.dbUser)
        field(e.actor.roleName)
        field(e.actor.appUser)
        field(e.actor.appContext?.serialized)
        field(e.actor.applicationName)
        field(e.actor.clientAddr)
        field(e.actor.clientPort.map { String($0) })
        field(e.actor.backendPID.map { String($0) })
        field(e.xid.map { String($0) })
        field(e.lsn.map(LSN.text))
        field(e.lsnPosition.map { String($0) })
        field(e.rowKey?.serialized)
        field(e.oldRow?.serialized)
        field(e.newRow?.serialized)
        field(bytea(c.payloadSalt))
        field(bytea(c.payloadDigest))
        field(bytea(c.prevHash))
        field(bytea(c.hash))
        out.append(0x0A)
    }
}
