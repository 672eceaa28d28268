import Decoding
import PostgresClient

/// Attaching and detaching tables on the source (walaudit.attach/detach),
/// and the application actor a session's changes are recorded under.
public enum Attachment {
    /// Starts auditing `table` (a name as `regclass` reads it, e.g.
    /// `public.orders` or `"Odd ""name"""`), with its partitions or
    /// inheritance children. Each element of `exclude` and `mask` is one
    /// column name, taken as is: `a,b` is the column named "a,b". With
    /// `baseline`, the worker records its existing rows as SNAPSHOT events;
    /// returns whether a baseline was asked for (a table without a primary
    /// key gets none).
    @discardableResult
    public static func attach(_ source: Connection, table: String, exclude: [String] = [], mask: [String] = [],
                              baseline: Bool = true) throws(PostgresError) -> Bool {
        try source.execute("SELECT walaudit.attach($1::regclass, $2::text[], $3::text[], $4::boolean)",
                           [table, TextArray.literal(exclude), TextArray.literal(mask), baseline ? "true" : "false"])
        return try source.execute("SELECT baseline_id IS NOT NULL FROM walaudit.capture_tables WHERE relid = $1::regclass",
                                  [table]).scalar == "t"
    }

    /// One table that `attachSchema` attached on its own (its partitions
    /// and children with it), and what was done: `attached`, `attached
    /// without a baseline …`, or `attached already; keeps its own settings`.
    public struct SchemaTable: Sendable, Equatable {
        public let table: String
        public let outcome: String
    }

    /// Makes the schema rule for `schema` (walaudit.attach_schema): every
    /// table in it, now and created later, is attached, except those named
    /// in `excludeTables`. `exclude` and `mask` apply to each table as far
    /// as it has those columns. Names are taken as the catalog spells them.
    public static func attachSchema(_ source: Connection, schema: String, excludeTables: [String] = [], exclude: [String] = [],
                                    mask: [String] = [], baseline: Bool = true) throws(PostgresError) -> [SchemaTable] {
        try source.execute("""
            SELECT attached_table::text, outcome FROM walaudit.attach_schema($1::name, $2::text[], $3::text[], $4::text[], $5::boolean)
            """, [schema, TextArray.literal(excludeTables), TextArray.literal(exclude), TextArray.literal(mask), baseline ? "true" : "false"])
            .rows.map { SchemaTable(table: $0[0] ?? "", outcome: $0[1] ?? "") }
    }

    /// Ends the schema rule for `schema` (walaudit.detach_schema); with
    /// `detachTables`, also detaches the tables it covered. Returns the
    /// tables detached.
    public static func detachSchema(_ source: Connection, schema: String, detachTables: Bool = false) throws(PostgresError) -> [String] {
        try source.execute("SELECT t::text FROM walaudit.detach_schema($1::name, $2::boolean) AS t",
                           [schema, detachTables ? "true" : "false"]).rows.compactMap { $0[0] }
    }

    /// Asks the worker for a new baseline of an attached `table`: its rows
    /// are recorded again as SNAPSHOT events (e.g. after a GAP). Returns the
    /// request's id and the planner's estimate of the rows to read.
    public static func requestBaseline(_ source: Connection, table: String) throws(PostgresError) -> (id: Int64, estimatedRows: Int64) {
        try source.execute("SELECT walaudit.baseline($1::regclass)", [table])
        let row = try source.execute("""
            SELECT t.baseline_id, (SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c
                                   WHERE c.oid = t.relid OR c.oid IN (SELECT m.relid FROM walaudit.capture_tables m WHERE m.root_relid = t.relid))
            FROM walaudit.capture_tables t WHERE t.relid = $1::regclass
            """, [table]).rows.first
        return (Int64(row?[0] ?? "") ?? 0, Int64(row?[1] ?? "") ?? 0)
    }

    /// Stops auditing `table`; the chain records it.
    public static func detach(_ source: Connection, table: String) throws(PostgresError) {
        try source.execute("SELECT walaudit.detach($1::regclass)", [table])
    }

    /// The attached tables as `schema.table` with their names as attached
    /// (`walaudit.attached_tables`, readable by walaudit_reader).
    public static func attachedTables(_ source: Connection) throws(PostgresError) -> [String] {
        try source.execute("SELECT format('%I.%I', schema_name, table_name) FROM walaudit.attached_tables ORDER BY 1")
            .rows.compactMap { $0[0] }
    }

    /// Detaches every attached table, by its current name; returns the names.
    public static func detachAll(_ source: Connection) throws(PostgresError) -> [String] {
        let tables = try source.execute("""
            SELECT format('%I.%I', n.nspname, c.relname) FROM walaudit.capture_tables t
            JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.root_relid IS NULL ORDER BY 1
            """).rows.compactMap { $0[0] }
        for table in tables { try detach(source, table: table) }
        return tables
    }

    /// Names the application user (and context, a JSON object) that the
    /// session's next changes are recorded under (`walaudit.set_actor`);
    /// call it inside the transaction that makes them.
    public static func setActor(_ connection: Connection, _ actor: String, context: String = "{}") throws(PostgresError) {
        try connection.execute("SELECT walaudit.set_actor($1, $2::jsonb)", [actor, context])
    }
}
