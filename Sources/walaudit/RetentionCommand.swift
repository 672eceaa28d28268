import ArgumentParser
import Decoding
import Foundation
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
        let rows: [[String?]]
        do {
            let store = try connection.connectTarget()
            if let actor { try store.execute("SELECT set_config('walaudit.actor', $1, false)", [actor]) }
            rows = try store.execute("SELECT table_name, purged, held FROM walaudit.apply_retention($1)", [dryRun ? "t" : "f"]).rows
        } catch let error as PostgresError where error.sqlState == "42501" {
            FileHandle.standardError.write(Data("walaudit retention apply: \(error.message); the store login needs walaudit_admin (GRANT walaudit_admin TO <login>)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("walaudit retention apply: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            print(JSONValue.object([
                .init("dry_run", .bool(dryRun)),
                .init("tables", .array(rows.map { row in
                    .object([.init("table", .string(row[0] ?? "")), .init("purged", .number(row[1] ?? "0")),
                             .init("held", .number(row[2] ?? "0"))])
                })),
            ]).serialized)
            return
        }
        if rows.isEmpty { print(dryRun ? "nothing would be purged" : "nothing to purge") }
        for row in rows {
            print("\(row[0] ?? "?"): \(row[1] ?? "0") \(dryRun ? "would be purged" : "purged"), \(row[2] ?? "0") kept by legal holds")
        }
    }
}
