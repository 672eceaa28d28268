import Ledger
import Decoding
import PostgresClient

/// Reads stored events in seq order with one binary `COPY … TO STDOUT`
/// inside a REPEATABLE READ transaction (a consistent snapshot while the
/// worker keeps appending). Each event is handed over as its columns'
/// bytes, so the verifier re-encodes what is stored without parsing it into
/// an `AuditEvent` first.
public struct EventReader {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Calls `body` for every event with `fromSeq <= seq <= toSeq`, in
    /// order, until it returns false. The event is valid during the call only.
    /// `inOpenTransaction`: read in the connection's current transaction
    /// (e.g. one that adopted another's snapshot) instead of a new one.
    public func forEach(fromSeq: Int64? = nil, toSeq: Int64? = nil, inOpenTransaction: Bool = false,
                        _ body: (StoredEvent) throws -> Bool) throws {
        if !inOpenTransaction { try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") }
        defer { if !inOpenTransaction { _ = try? connection.execute("ROLLBACK") } }
        var reader = BinaryCopyReader()
        try connection.copyOut("""
            COPY (SELECT \(StoredEvent.selectList) FROM walaudit.event_log
                  WHERE seq >= \(fromSeq ?? 1) AND seq <= \(toSeq ?? Int64.max) ORDER BY seq) TO STDOUT (FORMAT binary)
            """) { message in
            guard try reader.read(message) else { return true }
            return try body(try StoredEvent(message: message, fields: reader.fields))
        }
    }
}
