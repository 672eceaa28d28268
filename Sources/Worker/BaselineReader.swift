import AuditStore
import Capture
import Decoding
import Foundation
import Logging
import PostgresClient

/// Reads the existing rows of tables whose baseline was asked for, on its
/// own thread and source connection, in chunks in key order, without
/// locking them: each chunk is read, kept here, and then marked in the
/// stream with a logical message (`walaudit.baseline_mark`). When the
/// session meets the mark it takes the chunk and hands it to the store
/// writer, which records as SNAPSHOT events the rows that had no event of
/// their own since the request (their image held from the request to the
/// mark); the others' history already shows them. So every row is recorded
/// exactly once, whatever the application writes meanwhile, and at most
/// `chunksInFlight` chunks are held in memory. Progress is stored with the
/// events: after a restart the reading goes on after the last stored chunk,
/// and a mark whose chunk died with the previous process is passed over.
final class BaselineReader: @unchecked Sendable {  // the fields below `condition` are guarded by it
    private let condition = NSCondition()
    private var queue: [(request: BaselineRequest, members: [TableCapture], resume: BaselineProgress.Pending?)] = []
    private var chunks: [String: BaselineChunk] = [:]
    private var stopped = false

    private let source: String
    private let chunkRows: Int
    private let logger: Logger
    /// What the store has made durable (the handoff's position).
    private let stored: @Sendable () -> LSN

    static let markPrefix = "walaudit.baseline"
    /// Names this reader's marks: a mark an earlier worker wrote (replayed
    /// from the slot after a crash) is never taken for one of this reader's chunks.
    private let session = UInt64.random(in: 0...UInt64.max)
    static let chunksInFlight = 2

    init(source: String, chunkRows: Int, logger: Logger, stored: @escaping @Sendable () -> LSN) {
        (self.source, self.chunkRows, self.logger, self.stored) = (source, chunkRows, logger, stored)
    }

    /// Queues a baseline of `request.table` and its partitions or children (`members`).
    func enqueue(_ request: BaselineRequest, members: [TableCapture], resume: BaselineProgress.Pending? = nil) {
        condition.lock()
        queue.append((request, members, resume))
        condition.broadcast()
        condition.unlock()
    }

    /// The chunk a mark in the stream stands for; nil for a mark this
    /// process did not write (its chunk died with an earlier worker, whose
    /// progress the reading resumed from).
    func take(mark content: [UInt8]) -> BaselineChunk? {
        condition.lock()
        defer { condition.unlock() }
        return chunks.removeValue(forKey: String(decoding: content, as: UTF8.self))
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// The thread's body: baselines one after another until stopped. An
    /// error ends the reading (logged); the next session resumes it.
    func run() {
        do {
            let connection = try Connection(source, overrides: [("application_name", "walaudit-baseline")])
            while let next = nextRequest() {
                try read(next.request, members: next.members, resume: next.resume, on: connection)
            }
        } catch {
            if !isStopped { logger.warning("baseline reading stopped; it resumes when the worker restarts", metadata: ["error": "\(error)"]) }
        }
    }

    private func nextRequest() -> (request: BaselineRequest, members: [TableCapture], resume: BaselineProgress.Pending?)? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopped { condition.wait() }
        return stopped ? nil : queue.removeFirst()
    }

    /// One column of a table as the stream prints it.
    private struct ColumnType {
        var name: String
        var typeName: String
        var typeOID: UInt32
        var sqlType: String
    }

    private func read(_ request: BaselineRequest, members: [TableCapture], resume: BaselineProgress.Pending?, on connection: Connection) throws {
        if let xid = request.xid { try awaitVisible(xid, of: request, on: connection) }
        let keys = request.table.keyColumns
        var number = resume?.chunks ?? 0
        var marks: [(lsn: LSN, content: String)] = []
        // Tables with rows of their own (a partitioned table has none), in a fixed order.
        let tables = try ([request.table] + members).filter { table in
            try connection.execute("SELECT relkind FROM pg_class WHERE oid = $1", [String(table.relid)]).scalar == "r"
        }.sorted { $0.relid < $1.relid }
        let startAt = resume?.sourceRelid ?? 0
        logger.info("baseline started", metadata: ["table": "\(request.table.schemaName).\(request.table.tableName)",
                                                   "baseline_id": "\(request.baselineID)", "resumed_at_chunk": "\(number)"])
        for (index, table) in tables.enumerated() where table.relid >= startAt {
            let columns = try connection.execute("""
                SELECT attname, format_type(atttypid, NULL), atttypid, format_type(atttypid, atttypmod)
                FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum
                """, [String(table.relid)]).rows.map { ColumnType(name: $0[0]!, typeName: $0[1]!, typeOID: UInt32($0[2]!)!, sqlType: $0[3]!) }
            let keyTypes = keys.map { key in columns.first { $0.name == key }?.sqlType ?? "text" }
            let keyList = keys.map(SQLText.identifier).joined(separator: ", ")
            let name = SQLText.qualified(table.relation.schema, table.relation.table)
            var after: [String]? = table.relid == resume?.sourceRelid ? resume?.lastKey : nil
            let isLast = index == tables.count - 1
            while true {
                if isStopped { return }
                // At most chunksInFlight chunks read and not yet stored.
                try awaitStored(&marks, keeping: Self.chunksInFlight - 1)
                let condition = after.map { _ in
                    "WHERE (\(keyList)) > (" + keyTypes.enumerated().map { "$\($0.offset + 1)::\($0.element)" }.joined(separator: ", ") + ")"
                } ?? ""
                let result = try connection.execute("SELECT * FROM ONLY \(name) \(condition) ORDER BY \(keyList) LIMIT \(chunkRows)",
                                                    after ?? [])
                let readTime = PostgresTimestamp.now()
                let rows = result.rows.map { row in
                    zip(columns, row).map { Column(name: $0.name, typeName: $0.typeName, value: Datum(typeOID: $0.typeOID, output: $1)) }
                }
                let exhausted = rows.count < chunkRows
                if let last = result.rows.last {
                    after = keys.map { key in last[columns.firstIndex { $0.name == key }!] ?? "" }
                }
                if rows.isEmpty && !(exhausted && isLast) { break }
                number += 1
                try mark(BaselineChunk(request: request, source: table, number: number, rows: rows, readTime: readTime,
                                       lastKey: after ?? [], finishesBaseline: exhausted && isLast), on: connection, marks: &marks)
                if exhausted { break }
            }
        }
        if tables.isEmpty {  // nothing left to read (dropped meanwhile): the baseline ends empty
            let now = PostgresTimestamp.now()
            try mark(BaselineChunk(request: request, source: request.table, number: number + 1, rows: [], readTime: now,
                                   lastKey: [], finishesBaseline: true), on: connection, marks: &marks)
        }
    }

    /// Waits until the transaction `xid`, which the stream showed committed,
    /// is visible to this connection's next query. PostgreSQL writes (and
    /// may stream) a commit record before other sessions' snapshots see the
    /// transaction; rows it wrote before the table was captured (a partition
    /// filled and attached in one transaction) would be missed by a read
    /// between the two, and nothing else records them.
    private func awaitVisible(_ xid: UInt32, of request: BaselineRequest, on connection: Connection) throws {
        let deadline = monotonicSeconds() + 60
        while true {
            let text = try connection.execute("SELECT pg_current_snapshot()::text").scalar ?? ""
            guard let snapshot = Snapshot(text) else { throw CaptureError("unexpected snapshot \(text)") }
            if snapshot.sees(committed: xid) { return }
            if isStopped { return }
            guard monotonicSeconds() < deadline else {
                throw CaptureError("the transaction \(xid) that asked for baseline \(request.baselineID) committed but stayed invisible for 60 s")
            }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }

    /// Waits until no more than `keeping` marked chunks are unstored. A
    /// chunk whose mark the store passed without taking it is an error: the
    /// reading stops, and the next session resumes from the stored progress.
    private func awaitStored(_ marks: inout [(lsn: LSN, content: String)], keeping: Int) throws {
        while marks.count > keeping {
            if isStopped { return }
            guard stored() >= marks[0].lsn else {
                Thread.sleep(forTimeInterval: 0.005)
                continue
            }
            condition.lock()
            let untaken = chunks.removeValue(forKey: marks[0].content) != nil
            condition.unlock()
            if untaken { throw CaptureError("the store passed the mark of baseline chunk \(marks[0].content) without its rows") }
            marks.removeFirst()
        }
    }

    /// Keeps `chunk` for the session and writes its mark into the stream.
    private func mark(_ chunk: BaselineChunk, on connection: Connection, marks: inout [(lsn: LSN, content: String)]) throws {
        let content = "{\"baseline\": \(chunk.request.baselineID), \"chunk\": \(chunk.number), \"reader\": \"\(String(session, radix: 16))\"}"
        condition.lock()
        chunks[content] = chunk
        condition.unlock()
        let mark = try connection.execute("SELECT walaudit.baseline_mark($1)::text", [content]).scalar.flatMap(LSN.init)
        marks.append((mark ?? .zero, content))
    }
}
