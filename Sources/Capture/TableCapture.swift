import Decoding

/// How one table is captured, as `walaudit.capture_tables` said at that
/// point of the stream: an attached table, or a partition or inheritance
/// child of one, whose events carry the attached table's names.
public struct TableCapture: Equatable, Sendable {
    public var relid: UInt32
    /// The names its events carry (the attached table's).
    public var schemaName: String
    public var tableName: String
    /// The name its changes carry in the stream (its own).
    public var relation: RelationName
    /// The attached table it is a partition or child of; nil if it is the attached table.
    public var rootRelid: UInt32?
    /// Primary-key columns; they form `row_key`. Empty: no key.
    public var keyColumns: [String]
    /// Never stored. Names are matched by their bytes, as PostgreSQL tells
    /// columns apart (a Set<String> would merge canonically equivalent
    /// names, so listing one would exclude both).
    public var excludeColumns: [String]
    /// Stored as a keyed hash; matched like `excludeColumns`.
    public var maskColumns: [String]

    public init(relid: UInt32, schemaName: String, tableName: String, relation: RelationName? = nil, rootRelid: UInt32? = nil,
                keyColumns: [String], excludeColumns: [String], maskColumns: [String]) {
        self.relid = relid
        self.schemaName = schemaName
        self.tableName = tableName
        self.relation = relation ?? RelationName(schema: schemaName, table: tableName)
        self.rootRelid = rootRelid
        self.keyColumns = keyColumns
        self.excludeColumns = excludeColumns
        self.maskColumns = maskColumns
    }

    /// The attached table whose events these are.
    public var root: UInt32 { rootRelid ?? relid }

    /// Whether `column` is excluded.
    func excludes(_ column: String) -> Bool { excludeColumns.contains { $0.hasSameBytes(as: column) } }

    /// Whether `column` is masked.
    func masks(_ column: String) -> Bool { maskColumns.contains { $0.hasSameBytes(as: column) } }

    /// A row of `walaudit.capture_tables` as the stream shows it.
    init?(row: [Column]) {
        func text(_ name: String) -> String? { row.first { $0.name == name }?.value.textOutput }
        guard let relid = text("relid").flatMap(UInt32.init), let schema = text("schema_name"),
              let table = text("table_name") else { return nil }
        // A row written before capture_tables had its stream names is an attached table's.
        let relation = RelationName(schema: text("relation_schema") ?? schema, table: text("relation_table") ?? table)
        self.init(relid: relid, schemaName: schema, tableName: table, relation: relation,
                  rootRelid: text("root_relid").flatMap(UInt32.init),
                  keyColumns: TextArray.parse(text("key_columns") ?? "{}"),
                  excludeColumns: TextArray.parse(text("exclude_columns") ?? "{}"),
                  maskColumns: TextArray.parse(text("mask_columns") ?? "{}"))
    }
}
