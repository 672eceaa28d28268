import Decoding
import Ledger
import PostgresClient

/// Writes chained events into `walaudit.event_log` with COPY, inside a
/// transaction the caller controls, and reads the chain head back.
public final class EventStore {
    public let connection: Connection
    private var buffer = BinaryCopyWriter()
    private var copying = false

    /// Columns in the order `appendRow` writes them: the chain's, as
    /// `EventField` orders them, then `recorded_at`. The worker gives
    /// `recorded_at` (its clock as it writes the row) instead of leaving it
    /// to the column's default: a volatile default (`clock_timestamp()`)
    /// makes COPY insert one row at a time, where it otherwise writes whole
    /// pages of rows per WAL record (0.7 of 7.2 µs per event, bench/store.sh).
    static let columns = EventField.stored.map(\.name).joined(separator: ", ") + ", recorded_at"

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

    /// One row in COPY's binary format, written straight into the buffer:
    /// each field of `EventField` as its column's type.
    private func appendRow(_ c: ChainedEvent) throws(PostgresError) {
        // The buffer is moved out for the row and back: each write to the
        // class's property was a runtime exclusivity check (3 % of the writer).
        var buffer = BinaryCopyWriter()
        swap(&buffer, &self.buffer)
        defer { swap(&buffer, &self.buffer) }
        buffer.row(fields: EventField.stored.count + 1)
        for field in EventField.stored {
            let value = field.value(of: c)
            switch (field.columnType, value) {
            case (_, .null): buffer.null()
            case (.bigint, .integer(let v)), (.pgLSN, .integer(let v)): buffer.int8(v)
            case (.integer, .integer(let v)):
                guard let small = Int32(exactly: v) else {
                    throw PostgresError(message: "event \(c.seq): \(field.name) \(v) does not fit an integer column")
                }
                buffer.int4(small)
            case (.timestamptz, .timestamp(let t)): buffer.timestamp(microsecondsSinceUnixEpoch: t.microsecondsSinceEpoch)
            case (.text, .text(let s)): buffer.text(s)
            case (.inet, .text(let s)):
                guard buffer.inet(s) else { throw PostgresError(message: "event \(c.seq): \(field.name) \(s) is not an IP address") }
            case (.textArray, .textArray(let items)): buffer.textArray(items)
            case (.jsonb, .json(let v)): buffer.jsonb { v.write(to: &$0) }
            case (.bytea, .bytes(let d)): buffer.bytea(d)
            default: throw PostgresError(message: "event \(c.seq): \(field.name) is not a \(field.columnType) value")
            }
        }
        buffer.timestamp(microsecondsSinceUnixEpoch: PostgresTimestamp.now().microsecondsSinceEpoch)
    }
}
