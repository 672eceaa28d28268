/// A schema-qualified relation name as `test_decoding` prints it, unquoted.
public struct RelationName: Hashable, Sendable, CustomStringConvertible {
    public var schema: String
    public var table: String

    public init(schema: String, table: String) {
        self.schema = schema
        self.table = table
    }

    public var description: String { "\(schema).\(table)" }

    /// Names are compared and hashed as bytes, as PostgreSQL does: String
    /// equality would take two canonically equivalent names ("é" and
    /// "e\u{301}") for one table, and String hashing normalizes first (it
    /// was 4 % of the worker, which looks up a table per change).
    public static func == (a: RelationName, b: RelationName) -> Bool {
        a.schema.hasSameBytes(as: b.schema) && a.table.hasSameBytes(as: b.table)
    }

    public func hash(into hasher: inout Hasher) {
        Self.hashBytes(of: schema, into: &hasher)
        Self.hashBytes(of: table, into: &hasher)
    }

    private static func hashBytes(of name: String, into hasher: inout Hasher) {
        hasher.combine(name.utf8.count)
        if name.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            for byte in name.utf8 { hasher.combine(byte) }
        }
    }
}

/// One column of a decoded tuple: its name, its type as `format_type_be`
/// prints it (e.g. `character varying`, `integer[]`, `myschema.mood`) and its value.
public struct Column: Equatable, Sendable {
    public var name: String
    public var typeName: String
    public var value: Datum

    public init(name: String, typeName: String, value: Datum) {
        (self.name, self.typeName, self.value) = (name, typeName, value)
    }
}

/// A value in one of the literal forms `test_decoding` prints.
public enum Datum: Equatable, Sendable {
    /// SQL NULL.
    case null
    /// A TOASTed value the change did not touch; its content is not in the stream.
    case unchangedToast
    /// A bare number (int2/4/8, oid, float4/8, numeric), exactly as printed,
    /// including `NaN`, `Infinity` and `-Infinity`.
    case number(String)
    /// A boolean, printed as `true`/`false`.
    case boolean(Bool)
    /// A `bit`/`bit varying` value, printed as `B'0101'`; holds the digits.
    case bits(String)
    /// Any other type: a quoted literal, unescaped to PostgreSQL's text output.
    case text(String)

    /// PostgreSQL's text output of the value (`t`/`f` for booleans), or nil
    /// for NULL and unchanged TOAST.
    public var textOutput: String? {
        switch self {
        case .null, .unchangedToast: return nil
        case .number(let s), .bits(let s), .text(let s): return s
        case .boolean(let b): return b ? "t" : "f"
        }
    }
}

/// An INSERT, UPDATE or DELETE of one row.
public struct RowChange: Equatable, Sendable {
    public enum Operation: String, Sendable {
        case insert = "INSERT", update = "UPDATE", delete = "DELETE"
    }

    public var relation: RelationName
    public var operation: Operation
    /// The old image: `old-key:` of an UPDATE or the tuple of a DELETE.
    /// Only present when the replica identity sends one; NULL columns are omitted.
    public var oldTuple: [Column]?
    /// The new image of an INSERT or UPDATE; nil for DELETE and `(no-tuple-data)`.
    public var newTuple: [Column]?

    public init(relation: RelationName, operation: Operation, oldTuple: [Column]?, newTuple: [Column]?) {
        self.relation = relation
        self.operation = operation
        self.oldTuple = oldTuple
        self.newTuple = newTuple
    }

    /// The new tuple with every `unchanged-toast-datum` replaced by the old
    /// image's value of that column, where the old image has it (REPLICA
    /// IDENTITY FULL). Columns the old image cannot fill stay `.unchangedToast`.
    public func completedNewTuple() -> [Column]? {
        guard var tuple = newTuple else { return nil }
        guard let old = oldTuple, tuple.contains(where: { $0.value == .unchangedToast }) else { return tuple }
        for index in tuple.indices where tuple[index].value == .unchangedToast {
            if let previous = old.first(where: { $0.name == tuple[index].name }) {
                tuple[index].value = previous.value
            }
        }
        return tuple
    }
}

/// A TRUNCATE of one or more relations in one statement.
public struct Truncate: Equatable, Sendable {
    public var relations: [RelationName]
    public var restartSeqs: Bool
    public var cascade: Bool

    public init(relations: [RelationName], restartSeqs: Bool, cascade: Bool) {
        self.relations = relations
        self.restartSeqs = restartSeqs
        self.cascade = cascade
    }
}

/// A message emitted by `pg_logical_emit_message`.
public struct LogicalMessage: Equatable, Sendable {
    public var transactional: Bool
    public var prefix: String
    /// Exactly the `sz` bytes the producer emitted; may be binary.
    public var content: [UInt8]

    public init(transactional: Bool, prefix: String, content: [UInt8]) {
        self.transactional = transactional
        self.prefix = prefix
        self.content = content
    }
}

/// A two-phase-commit line: `PREPARE TRANSACTION`, `COMMIT PREPARED` or `ROLLBACK PREPARED`.
public struct PreparedTransaction: Equatable, Sendable {
    public var gid: String
    public var xid: UInt32?
    public var time: PostgresTimestamp?

    public init(gid: String, xid: UInt32?, time: PostgresTimestamp?) {
        self.gid = gid
        self.xid = xid
        self.time = time
    }
}

/// One output record of the `test_decoding` plugin.
public enum DecodedRecord: Equatable, Sendable {
    case begin(xid: UInt32?)
    case commit(xid: UInt32?, time: PostgresTimestamp?)
    case change(RowChange)
    case truncate(Truncate)
    case message(LogicalMessage)
    case prepare(PreparedTransaction)
    case commitPrepared(PreparedTransaction)
    case rollbackPrepared(PreparedTransaction)
}

extension Datum {
    /// A value read with SQL (its type's text output, nil for NULL) in the
    /// form `test_decoding` would print it, by its type's OID as
    /// test_decoding's `print_literal` decides: bare numbers for the
    /// integer, float, numeric and oid types, `true`/`false` for booleans,
    /// `B'…'` for bit strings, a quoted literal for the rest.
    public init(typeOID: UInt32, output: String?) {
        guard let output else {
            self = .null
            return
        }
        switch typeOID {
        case 20, 21, 23, 26, 700, 701, 1700: self = .number(output)  // int8 int2 int4 oid float4 float8 numeric
        case 16: self = .boolean(output == "t")
        case 1560, 1562: self = .bits(output)  // bit, varbit
        default: self = .text(output)
        }
    }
}
