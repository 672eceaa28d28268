import ArgumentParser
import Foundation
import PostgresClient

/// `--source`, `--target` and `--slot`, shared by the commands that connect.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("libpq conninfo or URL of the audited database (env WALAUDIT_SOURCE; default: libpq's PG* variables).",
                               valueName: "conninfo"))
    var source: String?

    @Option(help: ArgumentHelp("conninfo of the audit store (env WALAUDIT_TARGET; default: the source).", valueName: "conninfo"))
    var target: String?

    @Option(help: "Name of the logical replication slot.")
    var slot: String = "walaudit"

    var sourceConninfo: String { source ?? ProcessInfo.processInfo.environment["WALAUDIT_SOURCE"] ?? "" }
    var targetConninfo: String { target ?? ProcessInfo.processInfo.environment["WALAUDIT_TARGET"] ?? sourceConninfo }

    func connectSource() throws -> Connection { try connect(sourceConninfo, role: "source") }
    func connectTarget() throws -> Connection { try connect(targetConninfo, role: "audit store") }

    private func connect(_ conninfo: String, role: String) throws -> Connection {
        do {
            return try Connection(conninfo, overrides: [("application_name", "walaudit")])
        } catch {
            throw CLIError("cannot connect to the \(role): \(error.message)")
        }
    }
}

/// A one-line error for the user; ArgumentParser prints it and exits 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
