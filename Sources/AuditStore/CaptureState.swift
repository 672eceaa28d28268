import Capture
import Decoding
import Ledger
import PostgresClient

/// Where capture stands, as the audit store records it: the source LSN of
/// the last stored transaction (written in the same store transaction as its
/// events), the source system it belongs to, the attached tables at that
/// point of the stream, and the key that masks columns.
public struct CaptureState: Sendable {
    public var lastLSN: LSN
    public var sourceSystemID: String?
    public var tables: [RelationName: TableCapture]
    public var maskKey: [UInt8]

    /// The mask key's length, as `setup` makes it (SHA-256 output).
    static let maskKeyLength = 32

    /// Reads the state of `slot`; a store that `setup` never finished is an error.
    public static func load(from store: Connection, slot: String) throws -> CaptureState {
        let row = try store.execute("SELECT last_lsn::text, source_system_id FROM walaudit.capture_state WHERE slot = $1",
                                    [slot]).rows.first
        // Through to_jsonb, so a store that `setup` has not upgraded yet
        // (capture_config without the stream names) still loads.
        let tables = try store.execute("""
            SELECT relid, schema_name, table_name, key_columns::text, exclude_columns::text, mask_columns::text,
                   coalesce(to_jsonb(c) ->> 'relation_schema', schema_name), coalesce(to_jsonb(c) ->> 'relation_table', table_name),
                   to_jsonb(c) ->> 'root_relid'
            FROM walaudit.capture_config c WHERE slot = $1
            """, [slot]).rows.map { row in
            TableCapture(relid: UInt32(row[0]!)!, schemaName: row[1]!, tableName: row[2]!,
                         relation: RelationName(schema: row[6]!, table: row[7]!), rootRelid: row[8].flatMap { UInt32($0) },
                         keyColumns: TextArray.parse(row[3]!), excludeColumns: TextArray.parse(row[4]!),
                         maskColumns: TextArray.parse(row[5]!))
        }
        guard let keyHex = try store.execute("SELECT encode(value, 'hex') FROM walaudit.store_secrets WHERE name = 'mask_key'").scalar else {
            throw StoreStateError("the audit store has no mask key: run `walaudit setup`")
        }
        guard let maskKey = Hex.decode(keyHex), maskKey.count == maskKeyLength else {
            throw StoreStateError("the audit store's mask key (walaudit.store_secrets 'mask_key') is \(keyHex.utf8.count / 2) bytes, not \(maskKeyLength): it was altered; masked values would not match earlier ones. Restore it from a backup of the store")
        }
        return CaptureState(lastLSN: row.flatMap { $0[0] }.flatMap(LSN.init) ?? .zero, sourceSystemID: row?[1] ?? nil,
                            tables: Dictionary(uniqueKeysWithValues: tables.map { ($0.relation, $0) }), maskKey: maskKey)
    }

    /// Inside the batch's store transaction: the position its events reach.
    public static func savePosition(_ store: Connection, slot: String, sourceSystemID: String, lsn: LSN,
                                    commitTime: PostgresTimestamp?) throws(PostgresError) {
        try store.execute("""
            INSERT INTO walaudit.capture_state (slot, source_system_id, last_lsn, last_commit_time, updated_at)
            VALUES ($1, $2, $3::pg_lsn, $4, clock_timestamp())
            ON CONFLICT (slot) DO UPDATE SET last_lsn = EXCLUDED.last_lsn, last_commit_time = EXCLUDED.last_commit_time,
                source_system_id = EXCLUDED.source_system_id, updated_at = EXCLUDED.updated_at
            """, [slot, sourceSystemID, lsn.description, commitTime?.iso8601])
    }

    /// Inside the batch's store transaction: the attached tables after a
    /// transaction that changed them (a small set; it changes rarely).
    public static func saveTables(_ store: Connection, slot: String, _ tables: [RelationName: TableCapture]) throws(PostgresError) {
        try store.execute("DELETE FROM walaudit.capture_config WHERE slot = $1", [slot])
        // jsonb_populate_record fills the columns the store has, so a store
        // that `setup` has not upgraded yet keeps working.
        for table in tables.values {
            var row: [JSONValue.Member] = [
                .init("slot", .string(slot)), .init("relid", .number(String(table.relid))),
                .init("schema_name", .string(table.schemaName)), .init("table_name", .string(table.tableName)),
                .init("key_columns", .array(table.keyColumns.map(JSONValue.string))),
                .init("exclude_columns", .array(table.excludeColumns.sorted().map(JSONValue.string))),
                .init("mask_columns", .array(table.maskColumns.sorted().map(JSONValue.string))),
                .init("relation_schema", .string(table.relation.schema)), .init("relation_table", .string(table.relation.table)),
            ]
            if let root = table.rootRelid { row.append(.init("root_relid", .number(String(root)))) }
            try store.execute("""
                INSERT INTO walaudit.capture_config SELECT * FROM jsonb_populate_record(NULL::walaudit.capture_config, $1::jsonb)
                """, [JSONValue.object(row).serialized])
        }
    }
}

/// The audit store is not in a state the worker can use; the message says
/// how to fix it. Retrying does not help.
public struct StoreStateError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The store's record of signed checkpoints (`walaudit.checkpoint_log`).
public enum CheckpointLog {
    /// When the newest checkpoint the store recorded was signed, in µs
    /// since 1970; nil when there is none.
    public static func newestTime(_ store: Connection) throws(PostgresError) -> Int64? {
        try store.execute("SELECT (extract(epoch FROM max(checkpoint_time)) * 1000000)::bigint FROM walaudit.checkpoint_log")
            .scalar.flatMap { Int64($0) }
    }

    /// Records a checkpoint that is already in the external file.
    public static func record(_ checkpoint: Checkpoint, _ store: Connection) throws(PostgresError) {
        // Without a note, no note column: a store not upgraded yet has none.
        try store.execute("""
            INSERT INTO walaudit.checkpoint_log (hash, seq, head, checkpoint_time, previous, signature\(checkpoint.note == nil ? "" : ", note"))
            VALUES (decode($1, 'hex'), $2, decode($3, 'hex'), $4, decode($5, 'hex'), decode($6, 'hex')\(checkpoint.note == nil ? "" : ", $7"))
            """, [Hex.encode(checkpoint.hash), String(checkpoint.seq), Hex.encode(checkpoint.head), checkpoint.time.iso8601,
                  checkpoint.previous.map(Hex.encode), Hex.encode(checkpoint.signature)] + (checkpoint.note.map { [$0] } ?? []))
    }
}
