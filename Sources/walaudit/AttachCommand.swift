import ArgumentParser
import Decoding
import Foundation
import PostgresClient

/// `walaudit attach`: start auditing tables.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Start auditing tables (sets REPLICA IDENTITY FULL and the actor trigger).",
        discussion: "Example: walaudit attach public.orders public.customers --mask email --exclude password_hash"
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Tables to attach, e.g. public.orders.")
    var tables: [String]

    @Option(help: ArgumentHelp("Columns never stored (comma-separated).", valueName: "col,…"))
    var exclude: String = ""

    @Option(help: ArgumentHelp("Columns stored as a keyed hash only (comma-separated).", valueName: "col,…"))
    var mask: String = ""

    func run() throws {
        let source = try connection.connectSource()
        let excluded = TextArray.literal(exclude.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let masked = TextArray.literal(mask.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        for table in tables {
            do {
                try source.execute("SELECT walaudit.attach($1::regclass, $2::text[], $3::text[])", [table, excluded, masked])
                print("attached \(table)")
            } catch {
                throw CLIError("cannot attach \(table): \(error)")
            }
        }
    }
}

/// `walaudit detach`: stop auditing tables.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Stop auditing tables; the chain records a GAP event for each."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Tables to detach.")
    var tables: [String]

    func run() throws {
        let source = try connection.connectSource()
        for table in tables {
            do {
                try source.execute("SELECT walaudit.detach($1::regclass)", [table])
                print("detached \(table)")
            } catch {
                throw CLIError("cannot detach \(table): \(error)")
            }
        }
    }
}

extension Substring {
    func trimmingCharacters(in set: CharacterSet) -> String { String(self).trimmingCharacters(in: set) }
}
