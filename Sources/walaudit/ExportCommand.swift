import ArgumentParser
import AuditStore
import Foundation
import PostgresClient

/// `walaudit export`: events of a time range, verifiable offline.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export events of a time range (and table) with what is needed to verify them offline.",
        discussion: """
            jsonl (the default) writes a bundle: a header, every event from the first match to \
            the first signed checkpoint at or after the last match — matches in full, the \
            others as links (their metadata and payload digest, no payload) — and that \
            checkpoint. `walaudit verify --bundle FILE --public-key KEY` checks it with no \
            database. csv writes the matching events only, for reading; it cannot be verified.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Start of the range (commit time, inclusive), e.g. 2026-11-01 or 2026-11-01T12:00Z; --since=-infinity for no start.", valueName: "time"))
    var since: String

    @Option(help: ArgumentHelp("End of the range (exclusive); infinity for no end.", valueName: "time"))
    var until: String

    @Option(help: ArgumentHelp("Only events of this table, as schema.table (names unquoted).", valueName: "table"))
    var table: String?

    @Option(help: "jsonl (verifiable bundle) or csv (matching events only).")
    var format: Format = .jsonl

    @Option(help: ArgumentHelp("Write here instead of stdout.", valueName: "file"))
    var out: String?

    typealias Format = EventExport.Format

    func run() throws {
        let output: FileHandle
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw CLIError("cannot write \(out)")
            }
            output = handle
        } else {
            output = .standardOutput
        }
        let store = try connection.connectTarget()
        do {
            let count = try EventExport.export(store, since: since, until: until, table: table, format: format) { output.write(Data($0)) }
            if out != nil || isatty(STDERR_FILENO) == 1 {
                FileHandle.standardError.write(Data("exported \(count) events\(out.map { " to \($0)" } ?? "")\n".utf8))
            }
        } catch let refusal as EventExport.Refusal {
            throw CLIError(refusal.description)
        } catch let error as PostgresError {
            throw CLIError("export failed: \(error)")
        }
    }
}

extension EventExport.Format: ExpressibleByArgument {}
