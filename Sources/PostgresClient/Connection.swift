import CLibPQ
import Foundation

/// An error from PostgreSQL (with its SQLSTATE) or from libpq itself.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE, e.g. `42P01`; nil for client-side errors
    /// such as a refused connection.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// Decided where the error is made: the connection is gone, or could
    /// not be made because the server did not answer (down, restarting,
    /// unreachable). Not set for a server that answered with a refusal.
    public var connectionLost: Bool

    public init(sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
                connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.connectionLost = connectionLost
    }

    /// Whether the same work may succeed later without anyone changing
    /// anything: a lost connection, or a SQLSTATE of a passing condition
    /// (connection exceptions, serialization failures and deadlocks,
    /// insufficient resources such as a full disk, an administrator's or a
    /// crash's shutdown, a lock not available, an I/O error). Anything
    /// else, including a client-side error with no SQLSTATE, is not.
    public var isTransient: Bool {
        if connectionLost { return true }
        guard let state = sqlState else { return false }
        return ["08", "40", "53"].contains(String(state.prefix(2))) && state != "53400"  // configuration limit: raise it
            || ["57P01", "57P02", "57P03", "55P03", "58030"].contains(state)
    }

    public var description: String {
        var text = message
        if let detail { text += " (\(detail))" }
        if let hint { text += " Hint: \(hint)" }
        return text
    }
}

/// The rows of a completed statement, every value in PostgreSQL's text format.
public struct QueryResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    /// The command tag, e.g. `INSERT 0 3`.
    public var commandTag: String

    /// The value of the first row's first column, if any.
    public var scalar: String? { rows.first?.first ?? nil }
}

/// One libpq connection used from one task at a time.
public final class Connection {
    private let handle: OpaquePointer

    /// Connects with a libpq conninfo string or `postgresql://` URL; empty
    /// means libpq's defaults and PG* environment variables.
    /// `overrides` (e.g. `application_name`) take precedence over the same
    /// keywords in `conninfo`.
    public init(_ conninfo: String, overrides: [(String, String)] = []) throws(PostgresError) {
        handle = try Self.open(conninfo, overrides: overrides, purpose: "connect to")
    }

    deinit {
        PQfinish(handle)
    }

    /// A ready libpq connection, or an error naming the (redacted) target.
    /// Server notices (e.g. "relation already exists, skipping") are not
    /// errors and are not printed.
    public static func open(_ conninfo: String, overrides: [(String, String)], purpose: String) throws(PostgresError) -> OpaquePointer {
        // libpq's parse error may quote the piece it could not read, which may be a password.
        guard ConnectionString.isParsable(conninfo) else {
            throw PostgresError(message: "could not \(purpose) the database: the connection string is not one libpq can parse (not shown: it may hold a password)")
        }
        guard let handle = connect(conninfo, overrides: overrides) else {
            throw PostgresError(message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = clientMessage(handle)
            let refused = PQconnectionNeedsPassword(handle) == 1 || refusedForGood(message)
            PQfinish(handle)
            throw PostgresError(message: "could not \(purpose) \(ConnectionString.redacted(conninfo)): \(message)",
                                connectionLost: !refused)
        }
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        return handle
    }

    /// Whether a failed connection attempt was refused for good, so that
    /// retrying cannot help: libpq gives no SQLSTATE here, only text.
    /// - libpq itself refused: no password to send, TLS or channel binding
    ///   the server cannot do, a certificate that does not verify (its own
    ///   messages, in English: this process never sets a locale);
    /// - the server answered FATAL (authentication, a missing database or
    ///   role, pg_hba.conf), except when it is starting, stopping, full of
    ///   connections or closed to them for maintenance.
    /// Anything else (refused or timed-out network connections, a missing
    /// socket) is a server not reached, which may come back. A server whose
    /// `lc_messages` is not English sends FATAL translated: its refusals
    /// are then retried, each logged with its message.
    static func refusedForGood(_ message: String) -> Bool {
        let byLibpq = ["fe_sendauth", "does not support SSL", "certificate", "channel binding", "GSSAPI", "SCRAM"]
        if byLibpq.contains(where: { message.contains($0) }) { return true }
        guard message.contains("FATAL:") else { return false }
        let passing = ["starting up", "shutting down", "in recovery mode", "accepting connections", "too many clients",
                       "remaining connection slots"]
        return !passing.contains { message.contains($0) }
    }

    /// TCP keepalives and a user timeout, so that a connection whose
    /// network died errors out within about a minute instead of hanging in
    /// a query (the kernel's defaults take hours). `conninfo` may set others;
    /// Unix sockets ignore them.
    static let networkDefaults = [("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
                                  ("keepalives_count", "3"), ("tcp_user_timeout", "60000")]

    /// PQconnectdbParams with the network defaults first, `conninfo`
    /// expanded as the "dbname" after them (its settings win over the
    /// defaults) and the overrides last, so they win over both.
    static func connect(_ conninfo: String, overrides: [(String, String)]) -> OpaquePointer? {
        let keywords = networkDefaults.map(\.0) + ["dbname"] + overrides.map(\.0)
        let values = networkDefaults.map(\.1) + [conninfo] + overrides.map(\.1)
        return withCStrings(keywords) { k in
            withCStrings(values) { v in
                PQconnectdbParams(k + [nil], v + [nil], 1)
            }
        }
    }

    /// The value libpq uses for connection option `keyword` (e.g.
    /// `keepalives_idle`), nil if unset.
    public func setting(_ keyword: String) -> String? {
        guard let options = PQconninfo(handle) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let name = option.pointee.keyword {
            if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
            option += 1
        }
        return nil
    }

    /// The message libpq holds for `handle`, without the trailing newline.
    public static func clientMessage(_ handle: OpaquePointer) -> String {
        guard let message = PQerrorMessage(handle) else { return "unknown libpq error" }
        return String(cString: message).trimmingTrailingWhitespace()
    }

    /// The error libpq holds for `handle`, with no server result: the
    /// connection is lost if the caller knows so or libpq says it is bad.
    public static func clientError(_ handle: OpaquePointer, _ context: String = "", lost: Bool = false) -> PostgresError {
        PostgresError(message: context + clientMessage(handle), connectionLost: lost || PQstatus(handle) == CONNECTION_BAD)
    }

    /// The error of a failed result, with SQLSTATE, detail and hint.
    public static func error(from result: OpaquePointer, connection: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        guard let message = field("M") else { return clientError(connection) }
        return PostgresError(sqlState: field("C"), message: message, detail: field("D"), hint: field("H"))
    }

    /// Runs `sql`. With parameters (`$1`, `$2`, … bound as text, nil = NULL)
    /// it must be a single statement; without, it may be a script of several.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> QueryResult {
        let result: OpaquePointer?
        if parameters.isEmpty {
            result = PQexec(handle, sql)
        } else {
            result = Self.withCStrings(parameters) { values in
                PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        }
        guard let result else { throw Self.clientError(handle) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return Self.rows(of: result)
        default:
            throw Self.error(from: result, connection: handle)
        }
    }

    /// Starts `COPY … FROM STDIN`; send rows with `copyData`, finish with `copyEnd`.
    public func copyBegin(_ sql: String) throws(PostgresError) {
        guard let result = PQexec(handle, sql) else { throw Self.clientError(handle) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else { throw Self.error(from: result, connection: handle) }
    }

    /// Sends COPY data (blocking until libpq has queued it).
    public func copyData(_ bytes: [UInt8]) throws(PostgresError) {
        let status = bytes.withUnsafeBytes { buffer in
            PQputCopyData(handle, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(buffer.count))
        }
        guard status == 1 else { throw Self.clientError(handle) }
    }

    /// Ends the COPY (or aborts it with `failure`) and returns its outcome.
    public func copyEnd(failure: String? = nil) throws(PostgresError) {
        guard PQputCopyEnd(handle, failure) == 1 else { throw Self.clientError(handle) }
        if let firstError = remainingResultsError() { throw firstError }
    }

    /// Reads the results still pending after a COPY; returns the first error.
    private func remainingResultsError() -> PostgresError? {
        var firstError: PostgresError?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) != PGRES_COMMAND_OK && firstError == nil {
                firstError = Self.error(from: result, connection: handle)
            }
            PQclear(result)
        }
        return firstError
    }

    /// Runs `COPY … TO STDOUT` and hands each CopyData message (one row,
    /// or the binary header/trailer) to `body`, valid only during the call.
    /// When `body` returns false the statement is cancelled and the rest of
    /// the output discarded.
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Bool) throws {
        guard let start = PQexec(handle, sql) else { throw Self.clientError(handle) }
        let status = PQresultStatus(start)
        defer { PQclear(start) }
        guard status == PGRES_COPY_OUT else { throw Self.error(from: start, connection: handle) }
        var stopped = false
        var bodyError: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 0)
            if length == -1 { break }  // COPY done; its result follows
            guard length >= 0, let buffer else { throw Self.clientError(handle) }
            defer { PQfreemem(buffer) }
            guard !stopped else { continue }
            do {
                if try !body(UnsafeRawBufferPointer(start: buffer, count: Int(length))) { stopped = true }
            } catch {
                bodyError = error
                stopped = true
            }
            // Stop the server producing rows nobody reads.
            if stopped, let cancel = PQgetCancel(handle) {
                var message = [CChar](repeating: 0, count: 256)
                _ = PQcancel(cancel, &message, Int32(message.count))
                PQfreeCancel(cancel)
            }
        }
        let firstError = remainingResultsError()
        if let bodyError { throw bodyError }
        // A cancellation we asked for is not an error.
        if let firstError, !(stopped && firstError.sqlState == "57014") { throw firstError }
    }

    private static func rows(of result: OpaquePointer) -> QueryResult {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            rows.append((0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        return QueryResult(columns: columns, rows: rows, commandTag: String(cString: PQcmdStatus(result)))
    }

    /// Calls `body` with C strings for `values` (nil stays a NULL pointer),
    /// valid only during the call.
    static func withCStrings<R>(_ values: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = values.map { value in value.map { strdup($0)! } }
        defer { copies.forEach { free($0) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = self[...]
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
