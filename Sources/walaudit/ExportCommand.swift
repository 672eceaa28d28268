import ArgumentParser
import Decoding
import Foundation
import Ledger
import PostgresClient

/// `walaudit export`: events of a time range, verifiable offline.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export events of a time range (and table) with what is needed to verify them offline.",
        discussion: """
            jsonl (the default) writes a bundle: a header, every event from the first match to \
            the first signed checkpoint at or after the last match — matches in full, the \
            others as links (their metadata and payload digest, no payload) — and that \
            checkpoint. `walaudit verify --bundle FILE --public-key KEY` checks it with no \
            database. csv writes the matching events only, for reading; it cannot be verified.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Start of the range (commit time, inclusive), e.g. 2026-11-01 or 2026-11-01T12:00Z.", valueName: "time"))
    var since: String

    @Option(help: ArgumentHelp("End of the range (exclusive).", valueName: "time"))
    var until: String

    @Option(help: ArgumentHelp("Only events of this table, as schema.table (names unquoted).", valueName: "table"))
    var table: String?

    @Option(help: "jsonl (verifiable bundle) or csv (matching events only).")
    var format: Format = .jsonl

    @Option(help: ArgumentHelp("Write here instead of stdout.", valueName: "file"))
    var out: String?

    enum Format: String, ExpressibleByArgument { case jsonl, csv }

    func run() throws {
        let output: FileHandle
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw CLIError("cannot write \(out)")
            }
            output = handle
        } else {
            output = .standardOutput
        }
        let store = try connection.connectTarget()
        do {
            let count = try Self.export(store, since: since, until: until, table: table, format: format) { output.write(Data($0)) }
            if out != nil || isatty(STDERR_FILENO) == 1 {
                FileHandle.standardError.write(Data("exported \(count) events\(out.map { " to \($0)" } ?? "")\n".utf8))
            }
        } catch let error as PostgresError {
            throw CLIError("export failed: \(error)")
        }
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

    /// One record as JSON, built by the server; payload fields only when `full`.
    static func record(full: String) -> String {
        """
        json_build_object('type', CASE WHEN \(full) THEN 'event' ELSE 'link' END, 'seq', e.seq,
            'event_time', to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'event_time_us', (extract(epoch FROM e.event_time) * 1000000)::bigint, 'operation', e.operation,
            'schema_name', e.schema_name, 'table_name', e.table_name, 'changed_columns', e.changed_columns,
            'db_user', e.db_user, 'role_name', e.role_name, 'app_user', e.app_user, 'app_context', e.app_context,
            'application_name', e.application_name,
            'client_addr', CASE WHEN e.client_addr IS NOT NULL THEN format('%s', e.client_addr) END,
            'client_port', e.client_port, 'backend_pid', e.backend_pid, 'xid', e.xid, 'lsn', e.lsn::text,
            'lsn_position', e.lsn_position,
            'row_key', CASE WHEN \(full) THEN e.row_key END, 'old_row', CASE WHEN \(full) THEN e.old_row END,
            'new_row', CASE WHEN \(full) THEN e.new_row END,
            'payload_salt', CASE WHEN \(full) THEN encode(e.payload_salt, 'hex') END,
            'purged', e.purged_at IS NOT NULL, 'payload_digest', encode(e.payload_digest, 'hex'),
            'prev_hash', encode(e.prev_hash, 'hex'), 'hash', encode(e.hash, 'hex'))::text
        """
    }

    /// Writes the export through `write`; returns the number of matching events.
    static func export(_ store: Connection, since: String, until: String, table: String?, format: Format,
                       write: ([UInt8]) -> Void) throws -> Int {
        try store.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? store.execute("ROLLBACK") }
        try store.execute("""
            SELECT set_config('walaudit.export_since', $1::timestamptz::text, true),
                   set_config('walaudit.export_until', $2::timestamptz::text, true), set_config('walaudit.export_table', $3, true)
            """, [since, until, table ?? ""])
        let range = try store.execute("SELECT min(e.seq), max(e.seq), count(*) FROM walaudit.event_log e WHERE \(matches)").rows[0]
        guard let first = range[0], let last = range[1], let count = Int(range[2] ?? "0") else {
            throw CLIError("no events match (since \(since), until \(until)\(table.map { ", table \($0)" } ?? ""))")
        }
        var reader = BinaryCopyReader()
        func copy(_ sql: String) throws {
            try store.copyOut("COPY (\(sql)) TO STDOUT (FORMAT binary)") { message in
                guard try reader.read(message), let field = reader.fields.first, let range = field else { return true }
                write(Array(message[range]) + [0x0A])
                return true
            }
            reader = BinaryCopyReader()
        }
        if format == .csv {
            write(Array("seq,event_time,operation,schema_name,table_name,row_key,old_row,new_row,changed_columns,db_user,role_name,app_user,application_name,client_addr,purged,hash\n".utf8))
            try copy("""
                SELECT concat_ws(',', e.seq, e.event_time, e.operation, \(csv("e.schema_name")), \(csv("e.table_name")),
                    \(csv("e.row_key::text")), \(csv("e.old_row::text")), \(csv("e.new_row::text")), \(csv("array_to_string(e.changed_columns, ' ')")),
                    \(csv("e.db_user")), \(csv("e.role_name")), \(csv("e.app_user")), \(csv("e.application_name")), e.client_addr,
                    e.purged_at IS NOT NULL, encode(e.hash, 'hex'))
                FROM walaudit.event_log e WHERE \(matches) ORDER BY e.seq
                """)
            return count
        }
        guard let checkpoint = try store.execute("""
            SELECT seq, encode(head, 'hex'), (extract(epoch FROM checkpoint_time) * 1000000)::bigint, encode(previous, 'hex'),
                   encode(signature, 'hex'), (SELECT chain_id::text FROM walaudit.chain)
            FROM walaudit.checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1
            """, [last]).rows.first else {
            throw CLIError("no signed checkpoint covers seq \(last) yet: a bundle ends at one. Run the worker with --checkpoint-dir and --signing-key; it signs the head every --checkpoint-every events or --checkpoint-interval seconds. Then export again.")
        }
        let chainID = checkpoint[5] ?? ""
        let header = JSONValue.object([
            .init("type", .string("header")), .init("format", .string("walaudit-export/1")), .init("chain_id", .string(chainID)),
            .init("since", .string(since)), .init("until", .string(until)), .init("table", table.map(JSONValue.string) ?? .null),
            .init("since_us", .number(try micros(store, since))), .init("until_us", .number(try micros(store, until))),
            .init("first_seq", .number(first)), .init("last_seq", .number(last)), .init("events", .number(String(count))),
        ])
        write(Array(header.serialized.utf8) + [0x0A])
        try copy("""
            SELECT \(record(full: matches)) FROM walaudit.event_log e
            WHERE e.seq BETWEEN \(Int64(first)!) AND \(Int64(checkpoint[0]!)!) ORDER BY e.seq
            """)
        var signed = Checkpoint(chainID: chainID, seq: Int64(checkpoint[0]!)!, head: Hex.decode(checkpoint[1]!) ?? [],
                                time: PostgresTimestamp(microsecondsSinceEpoch: Int64(checkpoint[2]!)!),
                                previous: checkpoint[3].flatMap(Hex.decode))
        signed.signature = Hex.decode(checkpoint[4] ?? "") ?? []
        write(Array("{\"type\":\"checkpoint\",\"checkpoint\":\(signed.jsonLine)}\n".utf8))
        return count
    }

    /// A text expression quoted for CSV (RFC 4180), NULL as empty.
    static func csv(_ expression: String) -> String {
        "coalesce('\"' || replace(\(expression), '\"', '\"\"') || '\"', '')"
    }

    static func micros(_ store: Connection, _ time: String) throws -> String {
        try store.execute("SELECT (extract(epoch FROM $1::timestamptz) * 1000000)::bigint", [time]).scalar ?? "0"
    }
}
