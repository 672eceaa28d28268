import Decoding
import Ledger
import PostgresClient

extension PurgeAccounting {
    /// The accounting of the store's POLICY events (those whose payload is
    /// intact), read in the connection's open transaction so that it
    /// matches the snapshot the chain is verified in; the chain check
    /// verifies these events with the others.
    public static func read(_ store: Connection) throws(PostgresError) -> PurgeAccounting {
        let rows = try store.execute("""
            SELECT seq, schema_name, table_name, row_key->>'policy', new_row::text FROM walaudit.event_log
            WHERE operation = 'POLICY' AND purged_at IS NULL AND seq >= 1 ORDER BY seq
            """).rows
        return PurgeAccounting(policyEvents: rows.compactMap { row in
            guard let seq = row[0].flatMap({ Int64($0) }) else { return nil }
            let facts = row[4].flatMap { try? JSONValue(parsing: $0) } ?? .null
            return PolicyEvent(seq: seq, schemaName: row[1], tableName: row[2], policy: row[3], facts: facts)
        })
    }
}
