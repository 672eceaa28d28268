import Ledger
import Decoding
import PostgresClient

/// Writes chained events into `walaudit.event_log` with COPY, inside a
/// transaction the caller controls, and reads the chain head back.
public final class EventStore {
    public let connection: Connection
    private var buffer = BinaryCopyWriter()
    private var copying = false

    /// Columns in the order `appendRow` writes them.
    static let columns = """
        seq, event_time, operation, schema_name, table_name, changed_columns, db_user, role_name, app_user, \
        app_context, application_name, client_addr, client_port, backend_pid, xid, lsn, lsn_position, row_key, \
        old_row, new_row, payload_salt, payload_digest, prev_hash, hash
        """

    public init(connection: Connection) {
        self.connection = connection
    }

    static let headQuery = "SELECT seq, encode(hash, 'hex') FROM walaudit.event_log ORDER BY seq DESC LIMIT 1"

    /// The chain as stored: the last event's seq and hash.
    public func loadChain() throws(PostgresError) -> Chain {
        Self.chain(from: try connection.execute(Self.headQuery))
    }

    /// Inside a transaction: takes the chain's append lock (the row of
    /// walaudit.chain, which SQL functions appending POLICY events take
    /// too), then reads the head, so events go after whatever they added.
    /// One round trip; the second statement gets a snapshot taken after
    /// the lock was granted.
    public func lockChain() throws(PostgresError) -> Chain {
        Self.chain(from: try connection.execute("SELECT 1 FROM walaudit.chain FOR UPDATE; " + Self.headQuery))
    }

    private static func chain(from result: QueryResult) -> Chain {
        guard let row = result.rows.first else { return Chain() }
        return Chain(seq: Int64(row[0]!)!, head: Hex.decode(row[1]!) ?? [])
    }

    /// Queues one event for the current COPY, starting it if needed.
    public func write(_ event: ChainedEvent) throws(PostgresError) {
        if !copying {
            try connection.copyBegin("COPY walaudit.event_log (\(Self.columns)) FROM STDIN (FORMAT binary)")
            copying = true
            buffer.header()
        }
        try appendRow(event)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Ends the COPY so other statements can run in the transaction.
    public func finishCopy() throws(PostgresError) {
        guard copying else { return }
        buffer.trailer()
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
        guard buffer.count > 0 else { return }
        try connection.copyData(buffer.out)
        buffer.removeAll()
    }

    /// One row in COPY's binary format, written straight into the buffer.
    private func appendRow(_ c: ChainedEvent) throws(PostgresError) {
        let e = c.event
        buffer.row(fields: 24)
        buffer.int8(c.seq)
        buffer.timestamp(microsecondsSinceUnixEpoch: e.eventTime.microsecondsSinceEpoch)
        buffer.text(e.operation.rawValue)
        buffer.text(e.schemaName)
        buffer.text(e.tableName)
        buffer.textArray(e.changedColumns)
        buffer.text(e.actor.dbUser)
        buffer.text(e.actor.roleName)
        buffer.text(e.actor.appUser)
        jsonb(e.actor.appContext)
        buffer.text(e.actor.applicationName)
        guard buffer.inet(e.actor.clientAddr) else {
            throw PostgresError(message: "event \(c.seq): client address \(e.actor.clientAddr ?? "") is not an IP address")
        }
        buffer.int4(try Self.int4(e.actor.clientPort, "client port", c.seq))
        buffer.int4(try Self.int4(e.actor.backendPID, "backend pid", c.seq))
        buffer.int8(e.xid)
        buffer.lsn(e.lsn)
        buffer.int4(try Self.int4(e.lsnPosition, "position in its transaction", c.seq))
        jsonb(e.rowKey)
        jsonb(e.oldRow)
        jsonb(e.newRow)
        buffer.bytea(c.payloadSalt)
        buffer.bytea(c.payloadDigest)
        buffer.bytea(c.prevHash)
        buffer.bytea(c.hash)
    }

    private func jsonb(_ value: JSONValue?) {
        guard let value else { return buffer.null() }
        buffer.jsonb { value.write(to: &$0) }
    }

    private static func int4(_ value: Int64?, _ what: String, _ seq: Int64) throws(PostgresError) -> Int32? {
        guard let value else { return nil }
        guard let small = Int32(exactly: value) else { throw PostgresError(message: "event \(seq): \(what) \(value) does not fit an integer column") }
        return small
    }
}
