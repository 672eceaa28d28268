extension DecodedRecord {
    /// The record as one JSON object, the line format of `walaudit decode`.
    ///
    /// Changes carry `old_row`/`new_row` converted by `ValueConversion`, with
    /// unchanged TOAST values filled from the old image where it has them;
    /// columns still unknown are listed in `unchanged_toast`. Column types are
    /// in `types`. Message content is a string when it is UTF-8, otherwise
    /// `content_hex`.
    public func json() throws(JSONSyntaxError) -> JSONValue {
        switch self {
        case .begin(let xid):
            return .object([.init("kind", .string("begin")), .init("xid", Self.json(xid))])
        case .commit(let xid, let time):
            return .object([.init("kind", .string("commit")), .init("xid", Self.json(xid)),
                            .init("commit_time", Self.json(time))])
        case .prepare(let p): return Self.json(p, kind: "prepare")
        case .commitPrepared(let p): return Self.json(p, kind: "commit_prepared")
        case .rollbackPrepared(let p): return Self.json(p, kind: "rollback_prepared")
        case .truncate(let t):
            let tables = t.relations.map { r in
                JSONValue.object([.init("schema", .string(r.schema)), .init("table", .string(r.table))])
            }
            return .object([.init("kind", .string("truncate")), .init("tables", .array(tables)),
                            .init("restart_seqs", .bool(t.restartSeqs)), .init("cascade", .bool(t.cascade))])
        case .message(let m):
            let content: JSONValue.Member
            if let text = String(validating: m.content, as: UTF8.self) {
                content = .init("content", .string(text))
            } else {
                let hex = m.content.map { byte in
                    let h = String(byte, radix: 16)
                    return h.count == 1 ? "0" + h : h
                }.joined()
                content = .init("content_hex", .string(hex))
            }
            return .object([.init("kind", .string("message")), .init("transactional", .bool(m.transactional)),
                            .init("prefix", .string(m.prefix)), content])
        case .change(let c):
            var types: [JSONValue.Member] = []
            for column in (c.newTuple ?? []) + (c.oldTuple ?? []) where !types.contains(where: { $0.key == column.name }) {
                types.append(.init(column.name, .string(column.typeName)))
            }
            var unchanged: [String] = []
            var newRow = JSONValue.null
            if let tuple = c.completedNewTuple() {
                (newRow, unchanged) = try ValueConversion.row(tuple)
            }
            let oldRow = try c.oldTuple.map { (t) throws(JSONSyntaxError) in try ValueConversion.row(t).row } ?? .null
            return .object([
                .init("kind", .string("change")), .init("operation", .string(c.operation.rawValue)),
                .init("schema", .string(c.relation.schema)), .init("table", .string(c.relation.table)),
                .init("old_row", oldRow), .init("new_row", newRow),
                .init("unchanged_toast", .array(unchanged.map { .string($0) })),
                .init("types", .object(types)),
            ])
        }
    }

    private static func json(_ xid: UInt32?) -> JSONValue {
        xid.map { .number(String($0)) } ?? .null
    }

    private static func json(_ time: PostgresTimestamp?) -> JSONValue {
        time.map { .string($0.iso8601) } ?? .null
    }

    private static func json(_ p: PreparedTransaction, kind: String) -> JSONValue {
        .object([.init("kind", .string(kind)), .init("gid", .string(p.gid)), .init("xid", json(p.xid)),
                 .init("time", json(p.time))])
    }
}
