import AuditStore
import Capture
import PostgresClient

/// An error that retrying will not fix; the message says what to do.
public struct FatalWorkerError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }

    /// The fatal form of any error the worker meets: its message with the
    /// fix a DBA needs.
    init(explaining error: any Error, slot: String) {
        switch error {
        case let fatal as FatalWorkerError:
            self = fatal
        case let failure as PostgresError:
            self.init(Self.explain(failure, slot: slot))
        case is CaptureError, is StoreStateError:
            self.init("\(error)")
        default:
            self.init("\(error). walaudit does not retry an error it does not know to be passing: fix the cause and start `walaudit run` again; nothing after the last confirmed LSN was lost, the slot still holds it")
        }
    }

    /// A PostgreSQL error with the fix for the usual causes.
    private static func explain(_ error: PostgresError, slot: String) -> String {
        switch error.sqlState {
        case "42704": return "replication slot \"\(slot)\" does not exist: run `walaudit setup` (it creates the slot) (\(error.message))"
        case "55006": return "replication slot \"\(slot)\" is in use by another process: is another `walaudit run` active? Two workers must not share a slot (\(error.message))"
        case "42501": return "permission denied: the source role needs REPLICATION (or superuser) and the store login must be a member of walaudit_writer (\(error.message))"
        case "55000" where error.message.contains("wal_level"):
            return "the source server runs without wal_level=logical: set it in postgresql.conf and restart the server (\(error.message))"
        case "55000": return "the replication slot cannot be used: \(error.message). If it was invalidated, changes were lost: see docs/operations.md"
        case "42P01", "3F000", "3D000": return "walaudit's schema or database is missing: run `walaudit setup` (\(error))"
        case "28000", "28P01": return "the server refused the login: check the user and password in --source/--target (\(error))"
        default:
            return "\(error)\(error.sqlState.map { " (SQLSTATE \($0))" } ?? ""). It is not an error that passes by itself, so walaudit stops instead of retrying: fix the cause and start `walaudit run` again; nothing after the last confirmed LSN was lost"
        }
    }
}

/// Whether the worker retries after `error`: only a PostgreSQL error that
/// was marked passing where it was made. Everything else is fatal.
func isTransient(_ error: any Error) -> Bool {
    (error as? PostgresError)?.isTransient ?? false
}

/// Why a capture session was retried: the `cause` label of `walaudit_retries_total`.
enum RetryCause: String, CaseIterable {
    /// A connection to the source or the store was lost or refused (SQLSTATE class 08).
    case connectionLost = "connection_lost"
    /// A server starting, shutting down or restarting (57P01–57P03).
    case serverUnavailable = "server_unavailable"
    /// The store is out of disk, memory or connections (class 53).
    case insufficientResources = "insufficient_resources"
    /// A deadlock, a serialization failure or a lock not available (class 40, 55P03).
    case conflict
    /// An I/O error on the server (58030).
    case ioError = "io_error"

    /// The cause of a passing error (`isTransient`).
    init(_ error: any Error) {
        let failure = error as? PostgresError
        let state = failure?.sqlState ?? ""
        switch state.prefix(2) {
        case _ where failure?.connectionLost ?? false: self = .connectionLost
        case "57": self = .serverUnavailable
        case "53": self = .insufficientResources
        case "40", "55": self = .conflict
        case "58": self = .ioError
        default: self = .connectionLost
        }
    }
}
