import ArgumentParser
import Foundation
import PostgresClient

/// `--source`, `--target` and `--slot`, shared by the commands that connect.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("libpq conninfo or URL of the audited database (env WALAUDIT_SOURCE; default: libpq's PG* variables). Keep passwords in ~/.pgpass; walaudit never prints one.",
                               valueName: "conninfo"))
    var source: String?

    @Option(help: ArgumentHelp("conninfo or URL of the audit store (env WALAUDIT_TARGET; default: the source).", valueName: "conninfo"))
    var target: String?

    @Option(help: ArgumentHelp("Name of the logical replication slot.", valueName: "name"))
    var slot: String = "walaudit"

    var sourceConninfo: String { source ?? ProcessInfo.processInfo.environment["WALAUDIT_SOURCE"] ?? "" }
    var targetConninfo: String { target ?? ProcessInfo.processInfo.environment["WALAUDIT_TARGET"] ?? sourceConninfo }

    func connectSource() throws(CLIError) -> Connection { try connect(sourceConninfo, role: "source") }
    func connectTarget() throws(CLIError) -> Connection { try connect(targetConninfo, role: "audit store") }

    /// The source and the store: one connection when they are the same database.
    func connectBoth() throws(CLIError) -> (source: Connection, store: Connection) {
        let source = try connectSource()
        return (source, targetConninfo == sourceConninfo ? source : try connectTarget())
    }

    /// Refuses a conninfo libpq cannot parse, without quoting it or
    /// libpq's message (either may hold a password).
    func checkParsable() throws(CLIError) {
        for (conninfo, role) in [(sourceConninfo, "--source (or WALAUDIT_SOURCE)"), (targetConninfo, "--target (or WALAUDIT_TARGET)")]
        where !ConnectionString.isParsable(conninfo) {
            throw CLIError("libpq cannot parse the connection string of \(role) (not shown: it may hold a password); see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING")
        }
    }

    private func connect(_ conninfo: String, role: String) throws(CLIError) -> Connection {
        try checkParsable()
        do {
            return try Connection(conninfo, overrides: [("application_name", "walaudit")])
        } catch {
            throw CLIError("cannot connect to the \(role): \(error.message)")
        }
    }
}
