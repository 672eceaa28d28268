import CLibPQ
import Foundation
import PostgresClient

/// A `replication=database` connection streaming a logical slot.
///
/// Reads are non-blocking (`PQconsumeInput` + `PQgetCopyData` async, waiting
/// in `poll`), so the caller's loop decides when to answer keepalives and
/// never sits inside libpq while feedback is due.
public final class ReplicationConnection {
    private let handle: OpaquePointer
    /// When the last message was handed out (monotonic seconds).
    private var lastMessageAt = 0.0

    /// What IDENTIFY_SYSTEM says about the server.
    public struct SystemIdentity: Sendable {
        public var systemID: String
        public var timeline: Int
        public var walPosition: UInt64
        public var database: String?
    }

    /// Connects in replication mode. The walsender session runs with
    /// `TimeZone=UTC` and an empty `search_path`, so commit times print in
    /// UTC and type names are schema-qualified whatever the user's settings.
    public init(_ conninfo: String, applicationName: String = "walaudit") throws(PostgresError) {
        let overrides = [("replication", "database"), ("application_name", applicationName),
                         ("options", "-c TimeZone=UTC -c search_path=")]
        handle = try Connection.open(conninfo, overrides: overrides, purpose: "open a replication connection to")
    }

    deinit {
        PQfinish(handle)
    }

    public func identifySystem() throws(PostgresError) -> SystemIdentity {
        let rows = try command("IDENTIFY_SYSTEM")
        guard let row = rows.first, row.count >= 4, let timeline = Int(row[1] ?? ""),
              let position = row[2].flatMap(LSN.parse) else {
            throw PostgresError(message: "unexpected IDENTIFY_SYSTEM reply")
        }
        return SystemIdentity(systemID: row[0] ?? "", timeline: timeline, walPosition: position, database: row[3])
    }

    /// Runs a replication command that returns rows (text values).
    private func command(_ sql: String) throws(PostgresError) -> [[String?]] {
        guard let result = PQexec(handle, sql) else { throw PostgresError(message: Connection.clientMessage(handle)) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else { throw Connection.error(from: result, connection: handle) }
        return (0..<PQntuples(result)).map { row in
            (0..<PQnfields(result)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
    }

    /// Starts streaming `slot` from `lsn` (the server starts no earlier than
    /// the slot's confirmed position) with the given plugin options.
    public func startReplication(slot: String, from lsn: UInt64, options: [(String, String)]) throws(PostgresError) {
        let optionList = options.map { "\(SQLText.identifier($0.0)) \(SQLText.literal($0.1))" }.joined(separator: ", ")
        let sql = "START_REPLICATION SLOT \(SQLText.identifier(slot)) LOGICAL \(LSN.text(lsn)) (\(optionList))"
        guard let result = PQexec(handle, sql) else { throw PostgresError(message: Connection.clientMessage(handle)) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_BOTH else { throw Connection.error(from: result, connection: handle) }
    }

    /// The next message, or nil if none arrived within `timeout` seconds.
    public func next(timeout: Double) throws -> ReplicationMessage? {
        var deadline: Double?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                lastMessageAt = monotonicSeconds()
                return try ReplicationMessage.decode(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            }
            if length == -1 {
                // The server ended the stream; collect its reason.
                var failure = PostgresError(message: "the server ended the replication stream")
                while let result = PQgetResult(handle) {
                    if PQresultStatus(result) == PGRES_FATAL_ERROR { failure = Connection.error(from: result, connection: handle) }
                    PQclear(result)
                }
                throw failure
            }
            if length == -2 { throw PostgresError(message: "replication stream failed: \(Connection.clientMessage(handle))") }
            // Nothing buffered: wait for the socket. While the stream flows
            // (the last message is under a millisecond old), first let
            // 0.2 ms of it arrive: read one record at a time, the worker
            // and the walsender woke each other per record. Not when the
            // caller only looks (timeout 0) or has less time than that.
            if deadline == nil && timeout >= 0.0002 && monotonicSeconds() - lastMessageAt < 0.001 { usleep(200) }
            let now = monotonicSeconds()
            let end = deadline ?? (now + timeout)
            deadline = end
            let remaining = end - now
            if remaining <= 0 { return nil }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 1_000_000)))
            if ready < 0 && errno != EINTR { throw PostgresError(message: "poll() failed: \(String(cString: strerror(errno)))") }
            if ready == 0 { return nil }
            guard PQconsumeInput(handle) == 1 else {
                throw PostgresError(message: "replication connection lost: \(Connection.clientMessage(handle))")
            }
        }
    }

    /// Sends a standby status update and flushes it to the socket.
    public func send(_ update: StandbyStatusUpdate) throws(PostgresError) {
        let bytes = update.encoded
        let queued = bytes.withUnsafeBytes { PQputCopyData(handle, $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count)) }
        guard queued == 1, PQflush(handle) == 0 else {
            throw PostgresError(message: "could not send feedback: \(Connection.clientMessage(handle))")
        }
    }
}

/// Seconds on the monotonic clock: for timeouts and intervals, immune to
/// wall-clock changes.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
