import ArgumentParser
import Foundation

/// The one way a command fails. `Walaudit.main` prints the message on
/// standard error as `walaudit COMMAND: message` and exits with the kind's
/// status (docs/operations.md, "Exit codes"): 0 done, 1 not intact, 2
/// error, 64 bad arguments (refused by ArgumentParser before anything runs).
struct CLIError: Error, CustomStringConvertible {
    enum Kind {
        /// What the command checks is not intact: a tampered chain or
        /// bundle (`verify`), malformed input (`decode`). Exit status 1.
        case notIntact
        /// The command could not do its job: a connection, a permission, a
        /// file, a fatal worker error. Exit status 2.
        case error

        var exitCode: Int32 {
            switch self {
            case .notIntact: 1
            case .error: 2
            }
        }
    }

    var kind: Kind
    /// One line that says what to do; nil when the command has printed its
    /// verdict already (verify's TAMPERED line).
    var message: String?

    init(_ message: String, kind: Kind = .error) {
        self.kind = kind
        self.message = message
    }

    private init(kind: Kind) {
        self.kind = kind
        message = nil
    }

    /// Exit status 1 with nothing more to say.
    static let notIntact = CLIError(kind: .notIntact)

    var description: String { message ?? "not intact" }

    /// `error` as a CLIError: itself, or an error whose message is
    /// `context: error` (or the error alone).
    init(_ error: any Error, context: String? = nil) {
        if let error = error as? CLIError {
            self = error
        } else {
            self.init(context.map { "\($0): \(error)" } ?? "\(error)")
        }
    }
}

/// Runs `body`; any error but a CLIError becomes one saying `context: error`.
func failing<T>(_ context: String, _ body: () throws -> T) throws(CLIError) -> T {
    do {
        return try body()
    } catch {
        throw CLIError(error, context: context)
    }
}

/// Writes to standard error from any thread (progress lines of parallel checks).
func writeStandardError(_ text: String) {
    _ = text.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
}
