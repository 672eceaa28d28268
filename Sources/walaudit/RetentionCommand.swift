import ArgumentParser
import AuditStore
import Decoding
import PostgresClient

/// `walaudit retention`: run the retention policies (`retention apply`).
struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Apply the retention policies set with walaudit.set_retention.",
        subcommands: [RetentionApplyCommand.self]
    )
}

/// `walaudit retention apply [--dry-run]`: walaudit.apply_retention from cron.
struct RetentionApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Purge the payloads retention allows (never what a legal hold keeps).",
        discussion: """
            Calls walaudit.apply_retention on the audit store and prints, per table, how many \
            payloads were purged and how many expired events legal holds kept. The call is \
            recorded as a POLICY event naming the login and --actor. The store login needs \
            walaudit_admin. Exit status: 0 done, 2 error.

            Example (cron): walaudit retention apply --actor retention-cron --json
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Count what would be purged without purging.")
    var dryRun = false

    @Option(help: ArgumentHelp("Who runs this, recorded in the POLICY event (e.g. retention-cron).", valueName: "name"))
    var actor: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() throws {
        let store = try connection.connectTarget()
        let results: [Retention.TableResult]
        do {
            results = try Retention.apply(store, dryRun: dryRun, actor: actor)
        } catch where error.sqlState == "42501" {
            throw CLIError("\(error.message); the store login needs walaudit_admin (GRANT walaudit_admin TO <login>)")
        } catch {
            throw CLIError("\(error)")
        }
        if json {
            print(JSONValue.object([
                .init("dry_run", .bool(dryRun)),
                .init("tables", .array(results.map { result in
                    .object([.init("table", .string(result.table)), .init("purged", .number(result.purged)),
                             .init("held", .number(result.held))])
                })),
            ]).serialized)
            return
        }
        if results.isEmpty { print(dryRun ? "nothing would be purged" : "nothing to purge") }
        for result in results {
            print("\(result.table): \(result.purged) \(dryRun ? "would be purged" : "purged"), \(result.held) kept by legal holds")
        }
    }
}
