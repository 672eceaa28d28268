import Capture
import Decoding
import Ledger
import PostgresClient

/// Where the baselines of one slot stand (`walaudit.baseline_progress`),
/// written in the store transaction of the events they cover.
public enum BaselineProgress {
    /// A baseline not finished yet, and where its reading stands.
    public struct Pending: Sendable {
        public var baselineID: Int64
        /// The table asked for, and the names its events carry.
        public var relid: UInt32
        public var table: RelationName
        public var actor: Actor
        public var requestLSN: LSN
        public var sourceRelid: UInt32?
        public var lastKey: [String]?
        public var chunks: Int64
        public var rowsRecorded: Int64
    }

    /// Records new requests (a replayed one is already there).
    public static func record(_ requests: [BaselineRequest], slot: String, _ store: Connection) throws(PostgresError) {
        for request in requests {
            try store.execute("""
                INSERT INTO walaudit.baseline_progress (slot, baseline_id, relid, schema_name, table_name, request_lsn, requested_by, requested_role)
                VALUES ($1, $2, $8, $3, $4, $5::pg_lsn, $6, $7) ON CONFLICT DO NOTHING
                """, [slot, String(request.baselineID), request.table.schemaName, request.table.tableName, request.requestLSN.description,
                      request.actor.dbUser, request.actor.roleName, String(request.table.relid)])
        }
    }

    /// The baselines of `slot` still to finish, oldest first.
    public static func pending(slot: String, _ store: Connection) throws(PostgresError) -> [Pending] {
        // A store that `setup` has not upgraded yet has none.
        guard try store.execute("SELECT to_regclass('walaudit.baseline_progress') IS NOT NULL").scalar == "t" else { return [] }
        return try store.execute("""
            SELECT baseline_id, request_lsn::text, source_relid, last_key::text, chunks, rows_recorded,
                   schema_name, requested_by, requested_role, relid, table_name
            FROM walaudit.baseline_progress WHERE slot = $1 AND finished_at IS NULL ORDER BY baseline_id
            """, [slot]).rows.map { row in
            Pending(baselineID: Int64(row[0]!)!, relid: UInt32(row[9]!)!, table: RelationName(schema: row[6]!, table: row[10]!), actor: Actor(dbUser: row[7] ?? nil, roleName: row[8] ?? nil), requestLSN: LSN(row[1]!)!, sourceRelid: row[2].flatMap { UInt32($0) },
                    lastKey: row[3].map(TextArray.parse), chunks: Int64(row[4]!)!, rowsRecorded: Int64(row[5]!)!)
        }
    }

    /// Which of `keys` (row keys of the attached table `schema`.`table`)
    /// have an event stored since `lsn` (the request's commit: a change in
    /// the attaching transaction counts): those rows' history shows them,
    /// so they get no SNAPSHOT. Uses the row index, one probe per key.
    public static func keysWithEvents(schema: String, table: String, keys: [JSONValue], since lsn: LSN,
                                      _ store: Connection) throws(PostgresError) -> Set<Int> {
        guard !keys.isEmpty else { return [] }
        // LATERAL … LIMIT 1: one index probe per key. As an EXISTS the
        // planner hashes the whole event log instead (1.2 s per 10,000 keys
        // on a 1M-event store, growing with it; 80 ms this way).
        let found = try store.execute("""
            SELECT k.ordinality - 1 FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY k(key, ordinality)
            CROSS JOIN LATERAL (SELECT 1 FROM walaudit.event_log l
                                WHERE walaudit.row_ref(l.schema_name, l.table_name, l.row_key) = walaudit.row_ref($2, $3, k.key)
                                  AND l.schema_name = $2 AND l.table_name = $3 AND l.row_key = k.key AND l.lsn >= $4::pg_lsn
                                LIMIT 1) found
            """, [JSONValue.array(keys).serialized, schema, table, lsn.description])
        return Set(found.rows.compactMap { $0[0].flatMap { Int($0) } })
    }

    /// After a chunk's events: where the reading stands.
    public static func save(_ chunk: BaselineChunk, slot: String, recorded: Int, skipped: Int, _ store: Connection) throws(PostgresError) {
        try store.execute("""
            UPDATE walaudit.baseline_progress
            SET source_relid = $3, last_key = $4::text[], chunks = $5, rows_recorded = rows_recorded + $6,
                rows_skipped = rows_skipped + $7, finished_at = CASE WHEN $8 THEN clock_timestamp() END
            WHERE slot = $1 AND baseline_id = $2
            """, [slot, String(chunk.request.baselineID), String(chunk.source.relid), TextArray.literal(chunk.lastKey),
                  String(chunk.number), String(recorded), String(skipped), chunk.finishesBaseline ? "true" : "false"])
    }

    /// Rows recorded so far by a baseline.
    public static func rowsRecorded(slot: String, baselineID: Int64, _ store: Connection) throws(PostgresError) -> Int64 {
        Int64(try store.execute("SELECT rows_recorded FROM walaudit.baseline_progress WHERE slot = $1 AND baseline_id = $2",
                                [slot, String(baselineID)]).scalar ?? "0") ?? 0
    }
}

/// How far one baseline is, as `status` and `walaudit baseline` show it.
public struct BaselineState: Sendable {
    public var baselineID: Int64
    /// `schema.table`, quoted where needed.
    public var table: String
    public var rowsRecorded: Int64
    /// Rows read that their own history already showed.
    public var rowsSkipped: Int64
    /// ISO 8601, UTC.
    public var requestedAt: String
    public var finished: Bool

    static let columns = """
        baseline_id, format('%I.%I', schema_name, table_name), rows_recorded, rows_skipped,
        to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), finished_at IS NOT NULL
        """

    init(_ row: [String?]) {
        (baselineID, table) = (Int64(row[0] ?? "") ?? 0, row[1] ?? "?")
        (rowsRecorded, rowsSkipped) = (Int64(row[2] ?? "") ?? 0, Int64(row[3] ?? "") ?? 0)
        (requestedAt, finished) = (row[4] ?? "?", row[5] == "t")
    }

    /// The baselines of `slot` not finished yet.
    public static func unfinished(slot: String, _ store: Connection) throws(PostgresError) -> [BaselineState] {
        try store.execute("SELECT \(columns) FROM walaudit.baseline_progress WHERE slot = $1 AND finished_at IS NULL ORDER BY 1",
                          [slot]).rows.map(BaselineState.init)
    }

    /// One baseline, once the worker has taken up its request; nil before.
    public static func read(slot: String, baselineID: Int64, _ store: Connection) throws(PostgresError) -> BaselineState? {
        try store.execute("SELECT \(columns) FROM walaudit.baseline_progress WHERE slot = $1 AND baseline_id = $2",
                          [slot, String(baselineID)]).rows.first.map(BaselineState.init)
    }
}
