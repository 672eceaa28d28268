import CLibPQ
import Decoding
import Foundation

/// A `replication=database` connection streaming a logical slot: the
/// transport only. It moves CopyData payloads; what they mean is the
/// `Replication` module's business.
///
/// Reads are non-blocking (`PQconsumeInput` + `PQgetCopyData` async, waiting
/// in `poll`), so the caller's loop decides when to answer keepalives and
/// never sits inside libpq while feedback is due.
public final class ReplicationConnection {
    private let handle: OpaquePointer

    /// What IDENTIFY_SYSTEM says about the server.
    public struct SystemIdentity: Sendable {
        public var systemID: String
        public var timeline: Int
        public var walPosition: LSN
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
              let position = row[2].flatMap(LSN.init) else {
            throw PostgresError(message: "unexpected IDENTIFY_SYSTEM reply")
        }
        return SystemIdentity(systemID: row[0] ?? "", timeline: timeline, walPosition: position, database: row[3])
    }

    /// Runs a replication command that returns rows (text values).
    private func command(_ sql: String) throws(PostgresError) -> [[String?]] {
        guard let result = PQexec(handle, sql) else { throw Connection.clientError(handle) }
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
    public func startReplication(slot: String, from lsn: LSN, options: [(String, String)]) throws(PostgresError) {
        let optionList = options.map { "\(SQLText.identifier($0.0)) \(SQLText.literal($0.1))" }.joined(separator: ", ")
        let sql = "START_REPLICATION SLOT \(SQLText.identifier(slot)) LOGICAL \(lsn) (\(optionList))"
        guard let result = PQexec(handle, sql) else { throw Connection.clientError(handle) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_BOTH else { throw Connection.error(from: result, connection: handle) }
    }

    /// Hands the next CopyData payload to `body` (valid only during the
    /// call), or returns nil if none arrived within `timeout` seconds.
    /// With nothing buffered or waiting in the socket, it first lets
    /// `gather` seconds of stream arrive (the caller's choice while the
    /// stream flows: reading a few records per wake-up makes the reader and
    /// the walsender wake each other for every few records). Stream already
    /// waiting is read at once, so a reader behind a backlog never sleeps.
    /// A readable `wake` descriptor (another thread's signal) also ends the wait.
    public func next<T>(timeout: Double, gather: Double = 0, wake: Int32? = nil,
                        _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        var deadline: Double?
        var socketRead = false
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                return try body(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            }
            if length == -1 {
                // The server ended the stream; collect its reason.
                var failure = PostgresError(message: "the server ended the replication stream", connectionLost: true)
                while let result = PQgetResult(handle) {
                    if PQresultStatus(result) == PGRES_FATAL_ERROR { failure = Connection.error(from: result, connection: handle) }
                    PQclear(result)
                }
                throw failure
            }
            if length == -2 { throw Connection.clientError(handle, "replication stream failed: ", lost: true) }
            // Nothing buffered: first take what the socket already holds
            // (libpq's socket never blocks).
            if !socketRead {
                socketRead = true
                guard PQconsumeInput(handle) == 1 else {
                    throw Connection.clientError(handle, "replication connection lost: ", lost: true)
                }
                continue
            }
            // The socket had nothing whole either: the stream trickles; let some of it gather.
            if deadline == nil && gather > 0 && timeout >= gather { usleep(useconds_t(gather * 1_000_000)) }
            let now = monotonicSeconds()
            let end = deadline ?? (now + timeout)
            deadline = end
            let remaining = end - now
            if remaining <= 0 { return nil }
            var descriptors = [pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wake ?? -1, events: Int16(POLLIN), revents: 0)]  // poll skips a negative fd
            let ready = poll(&descriptors, 2, Int32(min(remaining * 1000, 1_000_000)))
            if ready < 0 && errno != EINTR { throw PostgresError(message: "poll() failed: \(String(cString: strerror(errno)))") }
            if ready == 0 || descriptors[0].revents == 0 { return nil }
            guard PQconsumeInput(handle) == 1 else {
                throw Connection.clientError(handle, "replication connection lost: ", lost: true)
            }
        }
    }

    /// Sends one CopyData payload (a standby status update) and flushes it to the socket.
    public func send(_ bytes: [UInt8]) throws(PostgresError) {
        let queued = bytes.withUnsafeBytes { PQputCopyData(handle, $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count)) }
        guard queued == 1, PQflush(handle) == 0 else {
            throw Connection.clientError(handle, "could not send feedback: ", lost: true)
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
