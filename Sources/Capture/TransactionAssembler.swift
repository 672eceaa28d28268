import Decoding
import Ledger

/// A capture failure with what went wrong.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A source transaction that committed, ready to become events.
public struct CommittedTransaction {
    public let xid: UInt32?
    /// The end of the commit record: confirmed once the events are stored.
    public let commitLSN: LSN
    public let commitTime: PostgresTimestamp
    /// Attached tables after this transaction, when it changed them.
    public let tablesAfter: [RelationName: TableCapture]?
    /// Baselines this transaction asked for (attach, walaudit.baseline).
    public let baselineRequests: [BaselineRequest]
    /// Not a source transaction but a chunk of baseline rows, at its mark.
    public let baselineChunk: BaselineChunk?
    let changes: ChangeBuffer
    let actors: [Actor]
    let tableSnapshots: [TableCapture]

    init(xid: UInt32?, commitLSN: LSN, commitTime: PostgresTimestamp, tablesAfter: [RelationName: TableCapture]?,
         baselineRequests: [BaselineRequest] = [], baselineChunk: BaselineChunk? = nil,
         changes: ChangeBuffer, actors: [Actor], tableSnapshots: [TableCapture]) {
        (self.xid, self.commitLSN, self.commitTime, self.tablesAfter) = (xid, commitLSN, commitTime, tablesAfter)
        (self.baselineRequests, self.baselineChunk) = (baselineRequests, baselineChunk)
        (self.changes, self.actors, self.tableSnapshots) = (changes, actors, tableSnapshots)
    }

    /// A chunk of baseline rows, stored at `mark` (its mark's LSN) like a transaction.
    public static func baseline(_ chunk: BaselineChunk, mark: LSN) -> CommittedTransaction {
        CommittedTransaction(xid: nil, commitLSN: mark, commitTime: chunk.readTime, tablesAfter: nil, baselineChunk: chunk,
                             changes: ChangeBuffer(memoryLimit: 0), actors: [], tableSnapshots: [])
    }

    /// Whether the store has anything to write for this transaction.
    public var isEmpty: Bool { changes.count == 0 && tablesAfter == nil && baselineChunk == nil }

    /// How many buffered records it holds, and the memory they take (for back-pressure).
    public var changeCount: Int { changes.count + (baselineChunk?.rows.count ?? 0) }
    public var memoryBytes: Int { changes.memoryBytes + (baselineChunk.map { $0.rows.count * 256 } ?? 0) }

    /// The transaction's events in stream order, built one at a time.
    public func forEachEvent(builder: EventBuilder, _ body: (AuditEvent) throws -> Void) throws {
        var position: Int64 = 0
        try changes.forEach { entry in
            let record = try entry.record ?? TestDecoding.parseRecord(entry.raw)
            let actor = entry.actor >= 0 ? actors[Int(entry.actor)] : .unknown
            let context = EventBuilder.Context(xid: xid, commitLSN: commitLSN, commitTime: commitTime, actor: actor)
            let source: EventBuilder.Source = switch entry.table {
            case EventBuilder.ddlLogRow: .ddlLog
            case EventBuilder.captureTablesRow: .captureTables
            default: .table(tableSnapshots[Int(entry.table)])
            }
            if var event = try builder.event(for: record, from: source, context: context) {
                position += 1
                event.lsnPosition = position
                try body(event)
            }
        }
    }
}

/// Turns the ordered records of the stream into committed transactions.
///
/// It follows `test_decoding` with `skip-empty-xacts`: actor messages carry
/// their transaction's xid because one that precedes the first change is
/// printed before BEGIN, and a transaction with only messages prints no
/// BEGIN/COMMIT at all. Changes of tables that are not attached are dropped
/// as they arrive; the rest wait in a `ChangeBuffer` until COMMIT.
public struct TransactionAssembler {
    /// The attached tables at the current point of the stream.
    public private(set) var tables: [RelationName: TableCapture]
    private var inTransaction = false
    private var xid: UInt32?
    private var pendingActors: [(xid: UInt32, actor: Actor)] = []
    private var actors: [Actor] = []
    private var currentActor: Int32 = -1
    private var tableSnapshots: [TableCapture] = []
    /// Where each table's configuration is in `tableSnapshots`; emptied
    /// when the attached set changes, so later changes take a new snapshot.
    /// A transaction's first few tables are looked up in a short list (a
    /// dictionary's hashing and storage per transaction were a sixth of the
    /// reader under pgbench), the rest in the dictionary.
    private var recentSnapshots = ContiguousArray<(relation: RelationName, index: Int32)>()
    private var snapshotIndex: [RelationName: Int32] = [:]
    private static let recentSnapshotLimit = 8
    private var tablesChanged = false
    /// A DELETE from a partition or child of an attached table, held back
    /// one record: if the INSERT of a row moving to another partition
    /// follows, the two become one UPDATE.
    private var heldDelete: ChangeBuffer.Entry?
    /// Baselines asked for in this transaction (their LSN is its commit's).
    private var baselineRequests: [BaselineRequest] = []
    private var changes: ChangeBuffer
    private let memoryLimit: Int
    /// Actors parsed from recent messages, by the message's bytes after its
    /// xid (see `actor(from:)`).
    private(set) var actorsByRest: [ByteKey: Actor] = [:]
    /// Called for records that were understood but rejected (e.g. a forged
    /// or garbled actor message): the transaction's changes are kept.
    public var warn: (String) -> Void = { _ in }

    static let schema = "walaudit"
    static let actorPrefix = "walaudit.actor"

    /// No transaction is in progress and no actor message waits for its
    /// BEGIN: everything received so far has been handed out.
    public var isIdle: Bool { !inTransaction && pendingActors.isEmpty }

    public init(tables: [RelationName: TableCapture], memoryLimit: Int = 8 << 20) {
        self.tables = tables
        self.memoryLimit = memoryLimit
        changes = ChangeBuffer(memoryLimit: memoryLimit)
    }

    /// Feeds one record (`raw` is its exact bytes, `lsn` its XLogData start).
    /// Returns the transaction when the record is its COMMIT.
    public mutating func handle(_ record: DecodedRecord, raw: [UInt8], lsn: LSN) throws -> CommittedTransaction? {
        switch record {
        case .begin(let beginXid):
            startTransaction(xid: beginXid)
        case .message(let message):
            guard message.transactional, message.prefix == Self.actorPrefix else { return nil }
            guard let (messageXid, actor) = actor(from: message.content) else {
                warn("ignored a malformed walaudit.actor message at \(lsn); later changes are recorded with an unknown actor until a valid one")
                if inTransaction { currentActor = -1 }
                return nil
            }
            if inTransaction {
                guard xid == nil || messageXid == xid else {
                    warn("ignored a walaudit.actor message for xid \(messageXid) inside transaction \(xid!)")
                    return nil
                }
                actors.append(actor)
                currentActor = Int32(actors.count - 1)
            } else {
                pendingActors.append((messageXid, actor))
            }
        case .change(let change):
            try requireTransaction(lsn)
            try handleChange(change, record: record, raw: raw)
        case .truncate(let truncate):
            try requireTransaction(lsn)
            try releaseHeldDelete()
            // One event per attached table, however many of its partitions the statement emptied.
            var roots: Set<UInt32> = []
            for relation in truncate.relations {
                if let table = snapshot(of: relation), roots.insert(tableSnapshots[Int(table)].root).inserted {
                    try changes.append(.init(raw: raw, record: record, actor: currentActor, table: table))
                }
            }
        case .commit(let commitXid, let time):
            try requireTransaction(lsn)
            guard commitXid == xid else { throw CaptureError("COMMIT of xid \(commitXid.map(String.init) ?? "?") inside transaction \(xid.map(String.init) ?? "?") at \(lsn)") }
            guard let time else { throw CaptureError("COMMIT without a timestamp at \(lsn): the slot must be read with include-timestamp") }
            try releaseHeldDelete()
            // A request's position is its transaction's commit, known only now.
            let requests = baselineRequests.map { request in
                var request = request
                request.requestLSN = lsn
                request.xid = xid
                return request
            }
            let committed = CommittedTransaction(xid: xid, commitLSN: lsn, commitTime: time,
                                                 tablesAfter: tablesChanged ? tables : nil, baselineRequests: requests, changes: changes,
                                                 actors: actors, tableSnapshots: tableSnapshots)
            inTransaction = false
            changes = ChangeBuffer(memoryLimit: memoryLimit)
            return committed
        case .prepare, .commitPrepared, .rollbackPrepared:
            throw CaptureError("two-phase decoding output at \(lsn): the slot must be created without two_phase")
        }
        return nil
    }

    private mutating func startTransaction(xid beginXid: UInt32?) {
        inTransaction = true
        xid = beginXid
        heldDelete = nil
        actors = []
        currentActor = -1
        tableSnapshots = []
        forgetSnapshots()
        tablesChanged = false
        baselineRequests = []
        // Messages printed before BEGIN: those of this transaction apply.
        for pending in pendingActors where pending.xid == beginXid {
            actors.append(pending.actor)
            currentActor = Int32(actors.count - 1)
        }
        pendingActors.removeAll()
    }

    private func requireTransaction(_ lsn: LSN) throws {
        guard inTransaction else { throw CaptureError("a change outside BEGIN/COMMIT at \(lsn)") }
    }

    /// Whether changes of `relation` can matter to the trail: an attached
    /// table, or walaudit's capture_tables and ddl_log. The others (tables
    /// nobody attached, the store when it shares the database) are dropped
    /// by `handle`, so their records need not even be parsed.
    public func captures(_ relation: RelationName) -> Bool {
        relation.schema == Self.schema ? relation.table == "capture_tables" || relation.table == "ddl_log" : tables[relation] != nil
    }

    private mutating func handleChange(_ change: RowChange, record: DecodedRecord, raw: [UInt8]) throws {
        if let held = heldDelete {
            heldDelete = nil
            if let moved = try movedRow(held, change, raw: raw) {
                try changes.append(moved)
                return
            }
            try changes.append(held)
        }
        if change.relation.schema == Self.schema {
            switch change.relation.table {
            case "capture_tables": try applyCaptureTablesChange(change, record: record, raw: raw)
            case "ddl_log" where change.operation == .insert:
                try changes.append(.init(raw: raw, record: record, actor: currentActor, table: EventBuilder.ddlLogRow))
            default: break  // walaudit's own writes are never audited
            }
            return
        }
        guard let table = snapshot(of: change.relation) else { return }
        let entry = ChangeBuffer.Entry(raw: raw, record: record, actor: currentActor, table: table)
        if change.operation == .delete, change.oldTuple != nil, tableSnapshots[Int(table)].rootRelid != nil {
            heldDelete = entry
        } else {
            try changes.append(entry)
        }
    }

    private mutating func releaseHeldDelete() throws {
        if let held = heldDelete {
            heldDelete = nil
            try changes.append(held)
        }
    }

    /// `held` (a DELETE from a partition) and `change` as one UPDATE, when
    /// `change` is the INSERT of the same statement into another partition
    /// of the same attached table: that is how the stream shows an UPDATE
    /// that moved a row between partitions (PostgreSQL deletes it from the
    /// old one and inserts it into the new one). The UPDATE is recorded
    /// under the new partition, with the deleted image as its old row.
    private mutating func movedRow(_ held: ChangeBuffer.Entry, _ change: RowChange, raw: [UInt8]) throws -> ChangeBuffer.Entry? {
        guard change.operation == .insert, held.actor == currentActor, change.newTuple != nil,
              let table = snapshot(of: change.relation) else { return nil }
        let from = tableSnapshots[Int(held.table)], to = tableSnapshots[Int(table)]
        guard to.rootRelid != nil, to.root == from.root, to.relid != from.relid else { return nil }
        let merged = try TestDecoding.movedRow(deleted: held.raw, inserted: raw)
        return ChangeBuffer.Entry(raw: merged, record: try TestDecoding.parseRecord(merged), actor: currentActor, table: table)
    }

    /// attach / detach / rename, in stream order. Attach and detach also
    /// leave an event: a DDL event and a GAP event.
    private mutating func applyCaptureTablesChange(_ change: RowChange, record: DecodedRecord, raw: [UInt8]) throws {
        tablesChanged = true
        if let old = change.oldTuple.flatMap(TableCapture.init(row:)) {
            tables[old.relation] = nil
        }
        if let tuple = change.completedNewTuple(), let new = TableCapture(row: tuple) {
            tables[new.relation] = new
            func text(_ tuple: [Column]?, _ name: String) -> String? { tuple?.first { $0.name == name }?.value.textOutput }
            // An attached table's baseline, or a partition's that joined with rows.
            if let id = text(tuple, "baseline_id").flatMap(Int64.init), id > 0, text(change.oldTuple, "baseline_id") != String(id) {
                baselineRequests.append(BaselineRequest(baselineID: id, table: new,
                                                        actor: Actor(dbUser: text(tuple, "attached_by"), roleName: text(tuple, "attached_role")),
                                                        requestLSN: .zero))  // set at COMMIT
            }
        }
        forgetSnapshots()
        try changes.append(.init(raw: raw, record: record, actor: currentActor, table: EventBuilder.captureTablesRow))
    }

    /// The index in `tableSnapshots` of `relation`'s current configuration,
    /// nil if it is not attached. One lookup per change once the table is
    /// in the transaction (this runs for every captured change).
    private mutating func snapshot(of relation: RelationName) -> Int32? {
        for recent in recentSnapshots where recent.relation == relation { return recent.index }
        if !snapshotIndex.isEmpty, let index = snapshotIndex[relation] { return index }
        guard let table = tables[relation] else { return nil }
        tableSnapshots.append(table)
        let index = Int32(tableSnapshots.count - 1)
        if recentSnapshots.count < Self.recentSnapshotLimit {
            recentSnapshots.append((relation, index))
        } else {
            snapshotIndex[relation] = index
        }
        return index
    }

    private mutating func forgetSnapshots() {
        recentSnapshots.removeAll(keepingCapacity: true)
        if !snapshotIndex.isEmpty { snapshotIndex = [:] }
    }

    /// `parseActor`, without parsing again what a recent message said: a
    /// session's messages (one per statement) differ only in their xid,
    /// which `actor_message()` puts first, and parsing the JSON was a sixth
    /// of the worker's time under pgbench. Reused only on a byte-exact
    /// match of everything after the xid (the parse takes a key's first
    /// occurrence, so "v" and "xid" come from the fixed start).
    mutating func actor(from content: [UInt8]) -> (UInt32, Actor)? {
        let split = Self.leadingXid(content)
        if let split, let actor = actorsByRest[ByteKey(content[split.rest...])] { return (split.xid, actor) }
        guard let parsed = Self.parseActor(content) else { return nil }
        if let split, split.xid == parsed.0 {
            if actorsByRest.count >= 256 { actorsByRest.removeAll(keepingCapacity: true) }
            actorsByRest[ByteKey(content[split.rest...])] = parsed.1
        }
        return parsed
    }

    private static let xidPrefix = Array(#"{"v" : 1, "xid" : ""#.utf8)

    /// The xid of a message in `actor_message()`'s exact layout and where
    /// the text after the xid's digits begins; nil for any other layout.
    static func leadingXid(_ content: [UInt8]) -> (xid: UInt32, rest: Int)? {
        guard content.starts(with: xidPrefix) else { return nil }
        var end = xidPrefix.count
        var value: UInt64 = 0
        while end < content.count, content[end] >= 0x30 && content[end] <= 0x39, end - xidPrefix.count < 19 {
            value = value * 10 + UInt64(content[end] - 0x30)
            end += 1
        }
        guard end > xidPrefix.count, end < content.count, content[end] == UInt8(ascii: "\"") else { return nil }
        return (UInt32(truncatingIfNeeded: value), end)
    }

    /// The xid and actor of a `walaudit.actor` message (JSON from
    /// `walaudit.actor_message()`), or nil if it is not one.
    static func parseActor(_ content: [UInt8]) -> (UInt32, Actor)? {
        guard let text = String(validating: content, as: UTF8.self), let json = try? JSONValue(parsing: text),
              case .number(let v)? = json["v"], v == "1",
              case .string(let xidText)? = json["xid"], let xid8 = UInt64(xidText) else { return nil }
        func string(_ key: String) -> String? { if case .string(let s)? = json[key] { s } else { nil } }
        func integer(_ key: String) -> Int64? { if case .number(let n)? = json[key] { Int64(n) } else { nil } }
        guard let sessionUser = string("session_user") else { return nil }
        // The store's columns are inet and integer: what they would refuse
        // is not an actor (a forged message must not stop the worker).
        let clientAddr = string("client_addr"), clientPort = integer("client_port"), pid = integer("pid")
        guard clientAddr.map({ InetAddress($0) != nil }) ?? true,
              clientPort.map({ Int32(exactly: $0) != nil }) ?? true, pid.map({ Int32(exactly: $0) != nil }) ?? true else { return nil }
        var context = json["app_context"]
        if context == .object([]) || context == .null { context = nil }
        return (UInt32(truncatingIfNeeded: xid8),
                Actor(dbUser: sessionUser, roleName: string("role"), appUser: string("app_user"), appContext: context,
                      applicationName: string("application_name"), clientAddr: clientAddr,
                      clientPort: clientPort, backendPID: pid))
    }
}

/// Bytes as a dictionary key, hashed in one call (an array of bytes is
/// hashed byte by byte, which showed in the worker's profile).
struct ByteKey: Hashable {
    let bytes: [UInt8]

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = Array(bytes) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
