import Decoding
import Ledger
import PostgresClient

/// `walaudit export`: the events of a time range (and table), as a bundle
/// that `BundleVerifier` checks with no database (jsonl), or as CSV for
/// reading. Everything is read in one REPEATABLE READ transaction.
public enum EventExport {
    public enum Format: String, Sendable { case jsonl, csv }

    /// Why nothing was exported (no match, no covering checkpoint).
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes the export through `write`; returns the number of matching events.
    public static func export(_ store: Connection, since: String, until: String, table: String?, format: Format,
                              write: ([UInt8]) -> Void) throws -> Int {
        try store.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? store.execute("ROLLBACK") }
        try store.execute("""
            SELECT set_config('walaudit.export_since', $1::timestamptz::text, true),
                   set_config('walaudit.export_until', $2::timestamptz::text, true), set_config('walaudit.export_table', $3, true)
            """, [since, until, table ?? ""])
        let range = try store.execute("SELECT min(e.seq), max(e.seq), count(*) FROM walaudit.event_log e WHERE \(matches)").rows[0]
        guard let first = range[0].flatMap({ Int64($0) }), let last = range[1].flatMap({ Int64($0) }),
              let count = Int(range[2] ?? "0") else {
            throw Refusal(description: "no events match (since \(since), until \(until)\(table.map { ", table \($0)" } ?? ""))")
        }
        if format == .csv {
            write(Array((csvColumns.map(\.header).joined(separator: ",") + "\n").utf8))
            try copyLines(store, """
                SELECT concat_ws(',', \(csvColumns.map(\.expression).joined(separator: ", ")))
                FROM walaudit.event_log e WHERE \(matches) ORDER BY e.seq
                """, write)
            return count
        }
        guard let checkpoint = try store.execute("""
            SELECT seq, encode(head, 'hex'), (extract(epoch FROM checkpoint_time) * 1000000)::bigint, encode(previous, 'hex'),
                   encode(signature, 'hex'), (SELECT chain_id::text FROM walaudit.chain), note
            FROM walaudit.checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1
            """, [String(last)]).rows.first, let checkpointSeq = checkpoint[0].flatMap({ Int64($0) }) else {
            throw Refusal(description: "no signed checkpoint covers seq \(last) yet: a bundle ends at one. Run the worker with --checkpoint-dir and --signing-key; it signs the head every --checkpoint-every events or --checkpoint-interval seconds. Then export again.")
        }
        let chainID = checkpoint[5] ?? ""
        let header = JSONValue.object([
            .init("type", .string("header")), .init("format", .string("walaudit-export/1")), .init("chain_id", .string(chainID)),
            .init("since", .string(since)), .init("until", .string(until)), .init("table", table.map(JSONValue.string) ?? .null),
            .init("since_us", try micros(store, since).map(JSONValue.number) ?? .null),
            .init("until_us", try micros(store, until).map(JSONValue.number) ?? .null),
            .init("first_seq", .number(String(first))), .init("last_seq", .number(String(last))), .init("events", .number(String(count))),
        ])
        write(Array(header.serialized.utf8) + [0x0A])
        // The tree before the first record: enough to recompute the tree checkpoint's root offline.
        if checkpoint[6] != nil {
            var tree = MerkleStore(store)
            let before = try tree.frontier(size: first - 1)
            let line = JSONValue.object([
                .init("type", .string("tree")), .init("size", .number(String(before.size))),
                .init("subtrees", .array(before.subtrees.map { .object([.init("level", .number(String($0.level))), .init("hash", .string(Hex.encode($0.hash)))]) })),
            ])
            write(Array(line.serialized.utf8) + [0x0A])
        }
        try copyLines(store, """
            SELECT \(record(full: matches)) FROM walaudit.event_log e
            WHERE e.seq BETWEEN \(first) AND \(checkpointSeq) ORDER BY e.seq
            """, write)
        var signed = Checkpoint(chainID: chainID, seq: checkpointSeq, head: Hex.decode(checkpoint[1] ?? "") ?? [],
                                time: PostgresTimestamp(microsecondsSinceEpoch: checkpoint[2].flatMap { Int64($0) } ?? 0),
                                previous: checkpoint[3].flatMap(Hex.decode))
        signed.signature = Hex.decode(checkpoint[4] ?? "") ?? []
        signed.note = checkpoint[6] ?? nil
        write(Array("{\"type\":\"checkpoint\",\"checkpoint\":\(signed.jsonLine)}\n".utf8))
        return count
    }

    /// One event as a full bundle record (its payload unless purged).
    public static func recordLine(_ store: Connection, seq: Int64) throws -> String {
        guard let line = try store.execute("SELECT \(record(full: "true")) FROM walaudit.event_log e WHERE e.seq = $1", [String(seq)]).scalar else {
            throw Refusal(description: "no event \(seq) in the store")
        }
        return line
    }

    /// Which events match. The range and table are read from settings of
    /// the export's transaction, because COPY takes no parameters and
    /// user input must not be pasted into SQL.
    static let matches = """
        (e.event_time >= current_setting('walaudit.export_since')::timestamptz
         AND e.event_time < current_setting('walaudit.export_until')::timestamptz
         AND (current_setting('walaudit.export_table') = ''
              OR e.schema_name || '.' || e.table_name = current_setting('walaudit.export_table')))
        """

    /// One bundle record as JSON, built by the server: its type, every
    /// field of `EventField` under its `bundleKey` (the payload and its
    /// salt only when `full`), and whether the payload was purged.
    static func record(full: String) -> String {
        var members = ["'type', CASE WHEN \(full) THEN 'event' ELSE 'link' END"]
        for field in EventField.stored {
            let column = "e." + field.name
            var value: String
            switch field.columnType {
            case .timestamptz:
                // ISO 8601 text for reading; the bundle key holds the hashed
                // microseconds, or null for a time with no encoding
                members.append("'\(field.name)', \(readableTime(column))")
                value = "CASE WHEN isfinite(\(column)) AND \(column) <= '294247-01-10 04:00:54.775807+00' THEN (extract(epoch FROM \(column)) * 1000000)::bigint END"
            case .inet: value = "CASE WHEN \(column) IS NOT NULL THEN format('%s', \(column)) END"  // 127.0.0.1, not 127.0.0.1/32
            case .pgLSN: value = column + "::text"
            case .bytea: value = "encode(\(column), 'hex')"
            case .textArray:
                // An array of more dimensions or another lower bound has no
                // encoding (the store check calls it event altered): its text
                // form, a string, tells the bundle check the same.
                value = "CASE WHEN array_ndims(\(column)) > 1 OR array_lower(\(column), 1) <> 1 THEN to_jsonb(\(column)::text) ELSE to_jsonb(\(column)) END"
            case .bigint, .integer, .text, .jsonb: value = column
            }
            if field.role == .payload || field == .payloadSalt { value = "CASE WHEN \(full) THEN \(value) END" }
            members.append("'\(field.bundleKey)', \(value)")
        }
        members.append("'purged', e.purged_at IS NOT NULL")
        // JSON null in a jsonb field prints as null, like SQL NULL: list those fields apart.
        let jsonNulls = EventField.stored.filter { $0.columnType == .jsonb }.map { field in
            "CASE WHEN jsonb_typeof(e.\(field.name)) = 'null'\(field.role == .payload ? " AND \(full)" : "") THEN '\(field.bundleKey)' END"
        }
        members.append("'\(BundleVerifier.jsonNullsKey)', array_remove(ARRAY[\(jsonNulls.joined(separator: ", "))]::text[], NULL)")
        return "json_build_object(" + members.joined(separator: ", ") + ")::text"
    }

    /// A timestamptz column as `PostgresTimestamp.iso8601` prints it, for any
    /// finite value (to_char's YYYY prints 44 BC as 0044, iso8601 -0043),
    /// and as `infinity`/`-infinity` (which have no encoding) otherwise.
    static func readableTime(_ column: String) -> String {
        let utc = "(\(column) AT TIME ZONE 'UTC')"
        return """
            CASE WHEN NOT isfinite(\(column)) THEN \(column)::text
                 WHEN \(column) >= '0001-01-01 00:00:00+00' THEN to_char(\(utc), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                 ELSE CASE WHEN to_char(\(utc), 'YYYY') = '0001' THEN '0000'
                           ELSE '-' || lpad((to_char(\(utc), 'YYYY')::integer - 1)::text, 4, '0') END
                      || to_char(\(utc), '-MM-DD"T"HH24:MI:SS.US"Z"')
            END
            """
    }

    /// The CSV's columns for reading (not for verifying): header and
    /// expression, NULL as empty.
    static let csvColumns: [(header: String, expression: String)] = [
        ("seq", "e.seq"), ("event_time", "e.event_time"), ("operation", "e.operation"),
        ("schema_name", csv("e.schema_name")), ("table_name", csv("e.table_name")),
        ("row_key", csv("e.row_key::text")), ("old_row", csv("e.old_row::text")), ("new_row", csv("e.new_row::text")),
        ("changed_columns", csv("array_to_string(e.changed_columns, ' ')")),
        ("db_user", csv("e.db_user")), ("role_name", csv("e.role_name")), ("app_user", csv("e.app_user")),
        ("application_name", csv("e.application_name")),
        ("client_addr", "format('%s', e.client_addr)"),  // '' for NULL: concat_ws would drop the column
        ("purged", "e.purged_at IS NOT NULL"), ("hash", "encode(e.hash, 'hex')"),
    ]

    /// A text expression quoted for CSV (RFC 4180), NULL as empty.
    static func csv(_ expression: String) -> String {
        "coalesce('\"' || replace(\(expression), '\"', '\"\"') || '\"', '')"
    }

    /// Runs `query` (one text column) as a binary COPY and writes each value as a line.
    private static func copyLines(_ store: Connection, _ query: String, _ write: ([UInt8]) -> Void) throws {
        var reader = BinaryCopyReader()
        try store.copyOut("COPY (\(query)) TO STDOUT (FORMAT binary)") { message in
            guard try reader.read(message), let field = reader.fields.first, let range = field else { return true }
            write(Array(message[range]) + [0x0A])
            return true
        }
    }

    /// Microseconds since 1970 of a bound; nil (no bound) for ±infinity.
    static func micros(_ store: Connection, _ time: String) throws -> String? {
        try store.execute("""
            SELECT CASE WHEN isfinite($1::timestamptz) THEN (extract(epoch FROM $1::timestamptz) * 1000000)::bigint END
            """, [time]).scalar
    }
}
