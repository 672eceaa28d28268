import PostgresClient

/// Retention policies and legal holds in the audit store (docs/sql-reference.md).
public enum Retention {
    /// What `walaudit.apply_retention` did (or would do) to one table's events.
    public struct TableResult: Sendable, Equatable {
        /// `schema.table`.
        public var table: String
        /// Payloads purged (or that would be, in a dry run), numeric text.
        public var purged: String
        /// Expired events that legal holds kept, numeric text.
        public var held: String
    }

    /// Runs `walaudit.apply_retention` (recorded as a POLICY event naming
    /// the login and `actor`). `clock`: a superuser may pretend it is
    /// another moment (`walaudit.test_now`, recorded in the chain too).
    /// Needs walaudit_admin (SQLSTATE 42501 otherwise).
    public static func apply(_ store: Connection, dryRun: Bool, actor: String? = nil, clock: String? = nil) throws(PostgresError) -> [TableResult] {
        if let actor { try actAs(store, actor) }
        if let clock { try store.execute("SELECT set_config('walaudit.test_now', $1, false)", [clock]) }
        defer { if clock != nil { _ = try? store.execute("RESET walaudit.test_now") } }
        return try store.execute("SELECT table_name, purged, held FROM walaudit.apply_retention($1)", [dryRun ? "t" : "f"])
            .rows.map { TableResult(table: $0[0] ?? "", purged: $0[1] ?? "0", held: $0[2] ?? "0") }
    }

    /// Names the person behind this session's policy calls from here on
    /// (`walaudit.actor`; their POLICY events record it next to the login).
    public static func actAs(_ store: Connection, _ actor: String) throws(PostgresError) {
        try store.execute("SELECT set_config('walaudit.actor', $1, false)", [actor])
    }

    /// Keeps `table`'s payloads for at least `keep` (an interval, e.g. '30 days').
    public static func setPolicy(_ store: Connection, table: String, keep: String) throws(PostgresError) {
        try store.execute("SELECT walaudit.set_retention($1::regclass, $2::interval)", [table, keep])
    }

    /// Keeps the events of `table` (of one row when `rowKey`, a JSON object,
    /// is given) from retention until the hold is released.
    public static func placeLegalHold(_ store: Connection, name: String, reason: String, table: String, rowKey: String? = nil) throws(PostgresError) {
        try store.execute("SELECT walaudit.place_legal_hold($1, $2, $3::regclass, $4::jsonb)", [name, reason, table, rowKey])
    }
}
