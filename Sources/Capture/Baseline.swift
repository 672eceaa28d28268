import Decoding
import Ledger

/// A request for a baseline of an attached table's existing rows, as the
/// stream showed it: an attach, or `walaudit.baseline`, that set a new
/// `baseline_id` on the table's `capture_tables` row.
public struct BaselineRequest: Equatable, Sendable {
    public var baselineID: Int64
    /// The attached table (its partitions and children are read too).
    public var table: TableCapture
    /// Who asked: the SNAPSHOT events' actor.
    public var actor: Actor
    /// The commit LSN of the request: a row with an event of its own after
    /// it gets no SNAPSHOT (its history already shows it).
    public var requestLSN: LSN
    /// The requesting transaction, when it was just seen to commit: the
    /// first read must wait until it is visible (its commit record reaches
    /// the stream before other sessions' snapshots see it), or rows it
    /// brought before it started capturing them would be missed. Nil for
    /// a request resumed from the store, long visible.
    public var xid: UInt32?

    public init(baselineID: Int64, table: TableCapture, actor: Actor, requestLSN: LSN, xid: UInt32? = nil) {
        (self.baselineID, self.table, self.actor, self.requestLSN, self.xid) = (baselineID, table, actor, requestLSN, xid)
    }
}

/// Rows of one table read for a baseline, one chunk in key order, and where
/// the read stands after them. They become SNAPSHOT events at the stream
/// position of the chunk's mark, a logical message written after the read:
/// a row that changed between the request and the mark has an event before
/// the mark and gets no SNAPSHOT; any other row had the same image from the
/// request until the mark.
public struct BaselineChunk: Sendable {
    public var request: BaselineRequest
    /// The table the rows were read from (the attached table or one of its
    /// partitions or children), named as the stream names it.
    public var source: TableCapture
    public var number: Int64
    public var rows: [[Column]]
    /// When the rows were read: the SNAPSHOT events' time.
    public var readTime: PostgresTimestamp
    /// The last row's key values (text), where the next chunk of `source` starts.
    public var lastKey: [String]
    /// Whether this is the last chunk of the baseline.
    public var finishesBaseline: Bool

    public init(request: BaselineRequest, source: TableCapture, number: Int64, rows: [[Column]], readTime: PostgresTimestamp,
                lastKey: [String], finishesBaseline: Bool) {
        (self.request, self.source, self.number, self.rows) = (request, source, number, rows)
        (self.readTime, self.lastKey, self.finishesBaseline) = (readTime, lastKey, finishesBaseline)
    }
}

extension EventBuilder {
    /// The SNAPSHOT event of one baseline row: the row as an INSERT would
    /// record it, at the chunk's mark.
    public func snapshotEvent(_ row: [Column], chunk: BaselineChunk, lsn: LSN) throws -> AuditEvent {
        let change = RowChange(relation: chunk.source.relation, operation: .insert, oldTuple: nil, newTuple: row)
        let context = Context(xid: nil, commitLSN: lsn, commitTime: chunk.readTime, actor: chunk.request.actor)
        guard var event = try event(for: .change(change), from: .table(chunk.source), context: context) else {
            throw CaptureError("baseline row of \(chunk.source.relation) made no event")  // a row of an attached table always makes one
        }
        event.operation = .snapshot
        event.changedColumns = nil
        return event
    }

    /// The event that closes a baseline: every row it did not record had an
    /// event of its own since the request. It names its baseline; that of
    /// a partition or child that joined with rows also names the member
    /// (`member`), so it is not taken for the end of the attached table's own.
    public func baselineDoneEvent(_ request: BaselineRequest, rows: Int64, time: PostgresTimestamp, lsn: LSN) -> AuditEvent {
        var members: [JSONValue.Member] = [.init("command_tag", .string("WALAUDIT BASELINE DONE")),
                                           .init("baseline_id", .number(String(request.baselineID))), .init("rows", .number(String(rows)))]
        if request.table.rootRelid != nil {
            members.append(.init("member", .object([.init("schema", .string(request.table.relation.schema)),
                                                    .init("table", .string(request.table.relation.table))])))
        }
        return AuditEvent(eventTime: time, operation: .ddl, schemaName: request.table.schemaName, tableName: request.table.tableName,
                          actor: request.actor, lsn: lsn, newRow: .object(members))
    }
}
