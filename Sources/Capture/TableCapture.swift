import Decoding

/// How one attached table is captured, as `walaudit.capture_tables` said at
/// that point of the stream.
public struct TableCapture: Equatable, Sendable {
    public var relid: UInt32
    public var schemaName: String
    public var tableName: String
    /// Primary-key columns; they form `row_key`. Empty: no key.
    public var keyColumns: [String]
    /// Never stored. Names are matched by their bytes, as PostgreSQL tells
    /// columns apart (a Set<String> would merge canonically equivalent
    /// names, so listing one would exclude both).
    public var excludeColumns: [String]
    /// Stored as a keyed hash; matched like `excludeColumns`.
    public var maskColumns: [String]

    public init(relid: UInt32, schemaName: String, tableName: String, keyColumns: [String],
                excludeColumns: [String], maskColumns: [String]) {
        self.relid = relid
        self.schemaName = schemaName
        self.tableName = tableName
        self.keyColumns = keyColumns
        self.excludeColumns = excludeColumns
        self.maskColumns = maskColumns
    }

    public var relation: RelationName { RelationName(schema: schemaName, table: tableName) }

    /// Whether `column` is excluded.
    func excludes(_ column: String) -> Bool { excludeColumns.contains { $0.hasSameBytes(as: column) } }

    /// Whether `column` is masked.
    func masks(_ column: String) -> Bool { maskColumns.contains { $0.hasSameBytes(as: column) } }

    /// A row of `walaudit.capture_tables` as the stream shows it.
    init?(row: [Column]) {
        func text(_ name: String) -> String? { row.first { $0.name == name }?.value.textOutput }
        guard let relid = text("relid").flatMap(UInt32.init), let schema = text("schema_name"),
              let table = text("table_name") else { return nil }
        self.init(relid: relid, schemaName: schema, tableName: table,
                  keyColumns: TextArray.parse(text("key_columns") ?? "{}"),
                  excludeColumns: TextArray.parse(text("exclude_columns") ?? "{}"),
                  maskColumns: TextArray.parse(text("mask_columns") ?? "{}"))
    }
}
