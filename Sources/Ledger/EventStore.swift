import Decoding
import PostgresClient

/// Writes chained events into `walaudit.event_log` with COPY, inside a
/// transaction the caller controls, and reads the chain head back.
public final class EventStore {
    public let connection: Connection
    private var buffer = COPYWriter()
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
            try connection.copyBegin("COPY walaudit.event_log (\(Self.columns)) FROM STDIN")
            copying = true
        }
        appendRow(event)
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
        guard buffer.count > 0 else { return }
        try connection.copyData(buffer.out)
        buffer.removeAll()
    }

    /// The last commit time and LSN as text: every event of a transaction
    /// shares them, so each is formatted once.
    private var timeText: (PostgresTimestamp, String)?
    private var lsnText: (UInt64, String)?

    /// One COPY text-format line, written straight into the buffer.
    private func appendRow(_ c: ChainedEvent) {
        let e = c.event
        if timeText?.0 != e.eventTime { timeText = (e.eventTime, e.eventTime.iso8601) }
        if let lsn = e.lsn, lsnText?.0 != lsn { lsnText = (lsn, LSN.text(lsn)) }
        buffer.integer(c.seq)
        buffer.text(timeText?.1)
        buffer.text(e.operation.rawValue)
        buffer.text(e.schemaName)
        buffer.text(e.tableName)
        buffer.text(e.changedColumns.map(SQLText.array))
        buffer.text(e.actor.dbUser)
        buffer.text(e.actor.roleName)
        buffer.text(e.actor.appUser)
        buffer.json(e.actor.appContext)
        buffer.text(e.actor.applicationName)
        buffer.text(e.actor.clientAddr)
        buffer.integer(e.actor.clientPort)
        buffer.integer(e.actor.backendPID)
        buffer.integer(e.xid)
        buffer.text(e.lsn == nil ? nil : lsnText?.1)
        buffer.integer(e.lsnPosition)
        buffer.json(e.rowKey)
        buffer.json(e.oldRow)
        buffer.json(e.newRow)
        buffer.bytea(c.payloadSalt)
        buffer.bytea(c.payloadDigest)
        buffer.bytea(c.prevHash)
        buffer.bytea(c.hash)
        buffer.endRow()
    }
}

/// COPY text-format rows built byte by byte: fields tab-separated, `\N`
/// for NULL, backslash, newline, carriage return and tab escaped.
struct COPYWriter {
    private(set) var out: [UInt8] = []
    private var first = true
    private var scratch: [UInt8] = []
    private static let hexDigits = Array("0123456789abcdef".utf8)

    var count: Int { out.count }

    mutating func endRow() {
        out.append(0x0A)
        first = true
    }

    mutating func removeAll() { out.removeAll(keepingCapacity: true) }

    private mutating func separate() {
        if !first { out.append(0x09) }
        first = false
    }

    private mutating func escaped(_ bytes: some Sequence<UInt8>) {
        for b in bytes {
            switch b {
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            default: out.append(b)
            }
        }
    }

    mutating func null() {
        separate()
        out.append(0x5C)
        out.append(UInt8(ascii: "N"))
    }

    mutating func text(_ value: String?) {
        guard let value else { return null() }
        separate()
        escaped(value.utf8)
    }

    mutating func integer(_ value: Int64?) {
        guard let value else { return null() }
        separate()
        out.append(contentsOf: String(value).utf8)
    }

    mutating func json(_ value: JSONValue?) {
        guard let value else { return null() }
        separate()
        scratch.removeAll(keepingCapacity: true)
        value.write(to: &scratch)
        escaped(scratch)
    }

    /// bytea in hex input form; its backslash is escaped for COPY.
    mutating func bytea(_ bytes: [UInt8]) {
        separate()
        out.append(contentsOf: [0x5C, 0x5C, UInt8(ascii: "x")])
        for b in bytes {
            out.append(Self.hexDigits[Int(b >> 4)])
            out.append(Self.hexDigits[Int(b & 0xF)])
        }
    }
}
