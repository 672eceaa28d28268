import Decoding
import PostgresClient

/// One event as a person reads it in a listing: who changed what, when.
public struct EventSummary: Sendable {
    public var seq: Int64
    /// Event time, HH:MM:SS in UTC.
    public var time: String
    public var operation: String
    public var table: String?
    /// The row key as JSON text.
    public var rowKey: String?
    public var dbUser: String?
    public var roleName: String?
    public var appUser: String?
    public var applicationName: String?
    public var changedColumns: [String]?
    /// DDL events: the command tag (e.g. ALTER TABLE).
    public var commandTag: String?
    /// POLICY events: what was done (set_retention, place_legal_hold, apply_retention …).
    public var policyAction: String?
    /// The payload was purged by retention.
    public var purged: Bool
}

/// Reading the audit trail (`walaudit.events`) for people.
public enum EventListing {
    /// How many events the store holds.
    public static func count(_ store: Connection) throws(PostgresError) -> Int {
        Int(try store.execute("SELECT count(*) FROM walaudit.event_log").scalar ?? "0") ?? 0
    }

    /// Every event in seq order; for small stores (a demo, a drill).
    public static func all(_ store: Connection) throws(PostgresError) -> [EventSummary] {
        try store.execute("""
            SELECT seq, to_char(event_time AT TIME ZONE 'UTC', 'HH24:MI:SS'), operation, table_name, row_key::text,
                   db_user, role_name, app_user, application_name, changed_columns::text, new_row->>'command_tag',
                   new_row->>'action', purged
            FROM walaudit.events ORDER BY seq
            """).rows.map { row in
            EventSummary(seq: Int64(row[0] ?? "") ?? 0, time: row[1] ?? "", operation: row[2] ?? "", table: row[3], rowKey: row[4],
                         dbUser: row[5], roleName: row[6], appUser: row[7], applicationName: row[8],
                         changedColumns: row[9].map(TextArray.parse), commandTag: row[10],
                         policyAction: row[2] == "POLICY" ? row[11] : nil, purged: row[12] == "t")
        }
    }
}

/// What an attacker with superuser rights on the store can do, for drills
/// that show `verify` catching it (the demo, Examples/tamper-drill.sh).
public enum TamperDrill {
    /// Sets `path` (a jsonb path such as `{amount}`) of event `seq`'s new
    /// row to `value` (JSON text), with the append-only trigger disabled
    /// for the moment and enabled again, in one transaction. Needs a superuser.
    public static func rewriteNewRow(_ store: Connection, seq: Int64, path: String, value: String) throws {
        try store.execute("BEGIN")
        do {
            try store.execute("ALTER TABLE walaudit.event_log DISABLE TRIGGER walaudit_append_only")
            try store.execute("UPDATE walaudit.event_log SET new_row = jsonb_set(new_row, $1::text[], $2::jsonb) WHERE seq = $3",
                              [path, value, String(seq)])
            try store.execute("ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only")
            try store.execute("COMMIT")
        } catch {
            _ = try? store.execute("ROLLBACK")
            throw error
        }
    }
}
