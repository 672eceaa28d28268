import Decoding
import Foundation
import PostgresClient
import TestSupport

/// Reads a logical slot with SQL and parses every record, as the worker will
/// parse the replication stream: the ground truth for the parser tests.
struct SlotReader {
    let connection: Connection
    let slot: String

    /// Creates a `test_decoding` slot named after the database (slot names
    /// are cluster-wide).
    static func create(on database: TestDatabase, twoPhase: Bool = false, suffix: String = "") throws -> SlotReader {
        let slot = String((database.name + suffix).prefix(63))
        try database.connection.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding', false, $2)",
                                        [slot, twoPhase ? "true" : "false"])
        return SlotReader(connection: database.connection, slot: slot)
    }

    /// The raw records (exact bytes) and their parses; consumes them unless `peek`.
    func records(peek: Bool = false) throws -> [(raw: [UInt8], record: DecodedRecord)] {
        let function = peek ? "pg_logical_slot_peek_binary_changes" : "pg_logical_slot_get_binary_changes"
        let result = try connection.execute(
            "SELECT encode(data, 'hex') FROM \(function)($1, NULL, NULL, 'include-xids', '1', "
                + "'include-timestamp', '1', 'skip-empty-xacts', '1')", [slot])
        return try result.rows.map { row in
            let raw = Hex.decode(row[0]!) ?? []
            let record: DecodedRecord
            do throws(DecodeError) {
                record = try TestDecoding.parseRecord(raw)
            } catch {
                throw ParseFailure(record: String(decoding: raw, as: UTF8.self), error: error)
            }
            // The worker passes over records of unaudited tables by their
            // first words alone: it must be asked about exactly the table the
            // whole parse finds, and only for one-table records.
            let table: RelationName? = switch record {
            case .change(let change): change.relation
            case .truncate(let truncate) where truncate.relations.count == 1: truncate.relations[0]
            default: nil
            }
            var asked: [RelationName] = []
            let skipped = try TestDecoding.parseRecord(raw, skipping: { asked.append($0); return true })
            guard asked == (table.map { [$0] } ?? []), (skipped == nil) == (table != nil) else {
                throw SkipMismatch(record: String(decoding: raw, as: UTF8.self), parsed: table, asked: asked)
            }
            return (raw, record)
        }
    }

    func changes(peek: Bool = false) throws -> [RowChange] {
        try records(peek: peek).compactMap { if case .change(let c) = $0.record { c } else { nil } }
    }
}

struct ParseFailure: Error, CustomStringConvertible {
    let record: String
    let error: DecodeError
    var description: String { "could not parse real server output \(record.debugDescription): \(error)" }
}

/// Compares a decoded tuple with the row the server holds, column by column:
/// the parsed text must equal the column's text output as libpq returns it
/// (the type's output function, not a `::text` cast, which differs for
/// bool, char(n) and inet), and the JSON conversion must equal PostgreSQL's
/// own `to_jsonb` for numbers, booleans and json — or be that text output as
/// a JSON string for every other type.
struct RowComparator {
    let connection: Connection

    /// Types whose values PRODUCT.md stores as native JSON, and how the
    /// server itself turns each into JSON (an oid is an unsigned integer,
    /// which `to_jsonb` would make a string).
    static let nativeJSON = """
        CASE WHEN a.atttypid = 'oid'::regtype THEN 'to_jsonb(%I::text::numeric)'
             WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                 'float8'::regtype, 'numeric'::regtype, 'bool'::regtype, 'json'::regtype,
                                 'jsonb'::regtype) THEN 'to_jsonb(%I)' END
        """

    /// Mismatches between `tuple` and the row of `table` (quoted, qualified)
    /// whose `keyColumn` has the text output `key`. Columns in `skip` (e.g.
    /// unchanged TOAST) are not compared. Empty means equal.
    func differences(_ tuple: [Column], table: String, keyColumn: String, key: String, skip: Set<String> = []) throws -> [String] {
        let columns = tuple.filter { !skip.contains($0.name) }
        guard !columns.isEmpty else { return [] }
        // How the server makes JSON of each native column, by name.
        let native = try connection.execute(
            "SELECT a.attname, format(\(Self.nativeJSON), a.attname) FROM pg_attribute a "
                + "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped", [table])
        var serverJSON: [String: String] = [:]
        for row in native.rows { if let expression = row[1] { serverJSON[row[0]!] = expression } }

        var parameters: [String?] = [key]
        var nativePairs: [String] = []
        var ours: [JSONValue.Member] = []
        var problems: [String] = []
        for column in columns {
            let json = try ValueConversion.json(column) ?? .null
            if let expression = serverJSON[column.name] {
                parameters.append(column.name)
                nativePairs.append("$\(parameters.count)::text, \(expression)")
                ours.append(.init(column.name, json))
            } else if json != column.value.textOutput.map(JSONValue.string) ?? .null {
                problems.append("\(column.name): JSON \(json.serialized) is not the text output as a string")
            }
        }
        parameters.append(JSONValue.object(ours).serialized)
        let nativeObject = nativePairs.isEmpty ? "'{}'::jsonb" : "jsonb_build_object(\(nativePairs.joined(separator: ", ")))"
        let selected = columns.map { SQLText.identifier($0.name) }.joined(separator: ", ")
        let sql = """
            SELECT \(selected), \(nativeObject) = $\(parameters.count)::jsonb, \(nativeObject)::text
            FROM \(table) WHERE \(SQLText.identifier(keyColumn))::text = $1
            """
        let result = try connection.execute(sql, parameters)
        guard let row = result.rows.first else { return ["no row with \(keyColumn) = \(key) in \(table)"] }
        for (index, column) in columns.enumerated() where row[index] != column.value.textOutput {
            problems.append("\(column.name): parsed \(String(describing: column.value.textOutput)), server \(String(describing: row[index]))")
        }
        if row[columns.count] != "t" {
            problems.append("native JSON differs:\n  server: \(row[columns.count + 1]!)\n  parsed: \(JSONValue.object(ours).serialized)")
        }
        return problems
    }
}

struct SkipMismatch: Error, CustomStringConvertible {
    let record: String
    let parsed: RelationName?
    let asked: [RelationName]
    var description: String { "skipping \(record.debugDescription) asked about \(asked); the whole parse found \(String(describing: parsed))" }
}
