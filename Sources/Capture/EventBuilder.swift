import Decoding
import Ledger

/// Builds audit events from decoded changes: row images as JSON (PRODUCT.md
/// §2), excluded columns dropped, masked columns replaced by a keyed hash,
/// the row key, and the changed columns.
public struct EventBuilder: Sendable {
    /// Key of the keyed hash for masked columns (`walaudit.store_secrets`).
    public let maskKey: [UInt8]

    static let ddlLogRow: Int32 = -1
    static let captureTablesRow: Int32 = -2

    public init(maskKey: [UInt8]) {
        self.maskKey = maskKey
    }

    /// Where a buffered record came from.
    public enum Source {
        case table(TableCapture)
        /// A row of `walaudit.ddl_log`: a DDL event.
        case ddlLog
        /// A change of `walaudit.capture_tables`: attach or detach.
        case captureTables
    }

    /// What every event of one source transaction shares.
    public struct Context {
        public var xid: UInt32?
        public var commitLSN: LSN
        public var commitTime: PostgresTimestamp
        public var actor: Actor
    }

    /// The event of one buffered record, if it makes one (a TRUNCATE is
    /// buffered once per attached table it emptied, so it too makes one
    /// event per record). Not an array: one per change was a tenth of the
    /// worker's allocations.
    public func event(for record: DecodedRecord, from source: Source, context: Context) throws -> AuditEvent? {
        var base = AuditEvent(eventTime: context.commitTime, operation: .insert, actor: context.actor,
                              xid: context.xid.map(Int64.init), lsn: context.commitLSN)
        switch (record, source) {
        case (.truncate(let truncate), .table(let table)):
            base.operation = .truncate
            base.schemaName = table.schemaName
            base.tableName = table.tableName
            // The tables the statement emptied, when it named more than this
            // one (a single partition's TRUNCATE leaves the others' rows).
            if truncate.relations != [RelationName(schema: table.schemaName, table: table.tableName)] {
                base.newRow = .object([.init("truncated", .array(truncate.relations.map { .string($0.description) }))])
            }
            return base
        case (.change(let change), .table(let table)):
            return try rowEvent(change, table: table, base: base)
        case (.change(let change), .ddlLog):
            return try ddlEvent(change, base: base)
        case (.change(let change), .captureTables):
            return try captureTablesEvent(change, base: base)
        default:
            throw CaptureError("unexpected buffered record \(record)")
        }
    }

    private func rowEvent(_ change: RowChange, table: TableCapture, base: AuditEvent) throws -> AuditEvent {
        var event = base
        event.schemaName = table.schemaName
        event.tableName = table.tableName
        let newRow = try change.completedNewTuple().map { try row($0, table: table) }
        let oldRow = try change.oldTuple.map { try row($0, table: table) }
        event.newRow = newRow
        event.oldRow = oldRow
        switch change.operation {
        case .insert:
            event.operation = .insert
            event.changedColumns = newRow.map(Self.keys)
        case .delete:
            event.operation = .delete
            event.changedColumns = oldRow.map(Self.keys)
        case .update:
            event.operation = .update
            event.changedColumns = newRow.map { Self.changedColumns(old: oldRow, new: $0) }
        }
        if !table.keyColumns.isEmpty, let image = newRow ?? oldRow {
            event.rowKey = .object(table.keyColumns.map { .init($0, image[$0] ?? .null) })
        }
        return event
    }

    /// A tuple as JSON, minus excluded columns, masked columns hashed.
    /// Unchanged TOAST values the old image could not fill are left out.
    private func row(_ tuple: [Column], table: TableCapture) throws -> JSONValue {
        var members: [JSONValue.Member] = []
        members.reserveCapacity(tuple.count)
        for column in tuple where !table.excludes(column.name) {
            if table.masks(column.name) {
                let masked: JSONValue = column.value.textOutput.map {
                    .string("hmac-sha256:" + Hex.encode(Crypto.hmacSHA256(key: maskKey, Array($0.utf8))))
                } ?? .null
                members.append(.init(column.name, masked))
            } else if let value = try ValueConversion.json(column) {
                members.append(.init(column.name, value))
            }
        }
        return .object(members)
    }

    /// (Optional elements, as the event holds them: a `[String]` made here
    /// was copied into a new array on assignment.)
    static func keys(_ row: JSONValue) -> [String?] {
        guard case .object(let members) = row else { return [] }
        return members.map(\.key)
    }

    /// Columns whose value differs; a column absent from the old image
    /// (which omits NULLs) counts as NULL.
    static func changedColumns(old: JSONValue?, new: JSONValue) -> [String?] {
        guard case .object(let members) = new else { return [] }
        guard let old else { return members.map(\.key) }
        var changed: [String?] = []
        changed.reserveCapacity(members.count)
        for member in members where (old[member.key] ?? .null) != member.value { changed.append(member.key) }
        return changed
    }

    private func ddlEvent(_ change: RowChange, base: AuditEvent) throws -> AuditEvent? {
        guard let tuple = change.newTuple else { return nil }
        func text(_ name: String) -> String? { tuple.first { $0.name == name }?.value.textOutput }
        var event = base
        event.operation = .ddl
        event.schemaName = text("schema_name")
        event.tableName = text("table_name")
        event.actor = Actor(dbUser: text("db_user"), roleName: text("role_name"), appUser: base.actor.appUser,
                            appContext: base.actor.appContext, applicationName: text("application_name"),
                            clientAddr: text("client_addr").map(Self.hostAddress), clientPort: base.actor.clientPort,
                            backendPID: base.actor.backendPID)
        event.newRow = .object([
            .init("command_tag", text("command_tag").map(JSONValue.string) ?? .null),
            .init("object_type", text("object_type").map(JSONValue.string) ?? .null),
            .init("object_identity", text("object_identity").map(JSONValue.string) ?? .null),
        ])
        return event
    }

    /// Attach is a DDL event (so is a request for a new baseline); detach,
    /// and changes found escaping the WAL, are a GAP: from then on the
    /// table's changes are not (all) captured, and the chain says so.
    /// Partitions and inheritance children come and go with DDL events of
    /// their own (`ddl_log`), so their rows here make no event.
    private func captureTablesEvent(_ change: RowChange, base: AuditEvent) throws -> AuditEvent? {
        var event = base
        func text(_ tuple: [Column], _ name: String) -> String? { tuple.first { $0.name == name }?.value.textOutput }
        func changed(_ name: String) -> Bool { text(change.oldTuple ?? [], name) != change.newTuple.flatMap { text($0, name) } }
        let config = { (tuple: [Column]) throws -> JSONValue in
            try ValueConversion.row(tuple.filter { ["key_columns", "exclude_columns", "mask_columns"].contains($0.name) }).row
        }
        switch change.operation {
        case .insert, .update:
            guard let tuple = change.completedNewTuple(), let table = TableCapture(row: tuple), table.rootRelid == nil else { return nil }
            event.schemaName = table.schemaName
            event.tableName = table.tableName
            event.actor = Actor(dbUser: text(tuple, "attached_by"), roleName: text(tuple, "attached_role"))
            // true: a baseline follows; "empty": none needed, the table had no rows.
            let baseline: JSONValue = switch text(tuple, "baseline_id") {
            case nil: .bool(false)
            case "0": .string("empty")
            default: .bool(true)
            }
            let configChanged = try change.operation == .insert || change.oldTuple.map(config) != config(tuple)
            // Attached again after a gap: its history starts anew.
            let gapClosed = change.oldTuple.flatMap { text($0, "gap_since") } != nil && text(tuple, "gap_since") == nil
            if configChanged || gapClosed {
                event.operation = .ddl
                event.newRow = .object([.init("command_tag", .string("WALAUDIT ATTACH")), .init("config", try config(tuple)),
                                        .init("baseline", baseline)])
            } else if changed("baseline_id"), text(tuple, "baseline_id") != nil {
                event.operation = .ddl
                event.newRow = .object([.init("command_tag", .string("WALAUDIT BASELINE"))])
            } else if changed("gap_since"), let since = text(tuple, "gap_since") {
                event.operation = .gap
                event.actor = base.actor
                event.newRow = .object([.init("reason", .string("unlogged")), .init("since", .string(since)),
                                        .init("detail", .string("changes of the table escaped capture while walaudit's event triggers were off: it (or a partition or child) turned UNLOGGED, so its changes are not in the write-ahead log, or a partition or child joined it uncaptured; its history is incomplete from here until it is attached again"))])
            } else {
                return nil
            }
        case .delete:
            guard let tuple = change.oldTuple, let table = TableCapture(row: tuple), table.rootRelid == nil else { return nil }
            event.operation = .gap
            event.actor = Actor(dbUser: text(tuple, "detached_by"), roleName: text(tuple, "detached_role"))
            event.schemaName = table.schemaName
            event.tableName = table.tableName
            event.newRow = .object([.init("reason", .string("detached")),
                                    .init("detail", .string("changes of this table after this point are not captured"))])
        }
        return event
    }

    /// `inet` text output of a client address: the host without a /32 or /128 mask.
    static func hostAddress(_ inet: String) -> String {
        if let slash = inet.firstIndex(of: "/"), ["/32", "/128"].contains(String(inet[slash...])) { return String(inet[..<slash]) }
        return inet
    }
}
