import ArgumentParser
import AuditStore
import Foundation

/// `walaudit baseline`: record an attached table's rows again.
struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Record the existing rows of attached tables again, as SNAPSHOT events (e.g. after a GAP).",
        discussion: """
            The running worker (walaudit run) reads each table in chunks in key order, without \
            locking it, and records each row that has no event of its own since this request; \
            the table's history for row_as_of starts anew here. Attach already takes a baseline, \
            so this is for after a GAP (a detach, an UNLOGGED spell) or a restore. A table needs \
            a primary key. On a terminal, or with --wait, it shows the progress until done \
            (Ctrl-C stops watching, not the baseline). docs/operations.md says what a baseline \
            costs.

            Example: walaudit baseline public.orders --wait
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("Attached tables, e.g. public.orders.", valueName: "table"))
    var tables: [String]

    @Flag(help: "Wait until the worker has recorded every row, showing the progress.")
    var wait = false

    func run() throws {
        let source = try connection.connectSource()
        var requests: [(table: String, id: Int64, estimate: Int64)] = []
        for table in tables {
            let request = try failing("cannot take a baseline of \(table)") { try Attachment.requestBaseline(source, table: table) }
            requests.append((table, request.id, request.estimatedRows))
            print("asked the worker for a baseline of \(table)")
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        guard wait || terminal else { return }
        let store = try connection.connectTarget()
        for request in requests {
            var shown = ""
            while true {
                let state = try failing("cannot read the baseline's progress") {
                    try BaselineState.read(slot: connection.slot, baselineID: request.id, store)
                }
                let line: String
                if let state {
                    let share = request.estimate > 0 ? " (~\(min(100, (state.rowsRecorded + state.rowsSkipped) * 100 / request.estimate))%)" : ""
                    line = "\(request.table): \(state.rowsRecorded) rows recorded, \(state.rowsSkipped) shown by their own history\(share)"
                    if state.finished {
                        print((terminal ? "\r" : "") + line + ", done")
                        break
                    }
                } else {
                    line = "\(request.table): waiting for the worker to take the request (is walaudit run running?)"
                }
                if terminal && line != shown {
                    FileHandle.standardOutput.write(Data(("\r" + line).utf8))  // unbuffered: no newline to flush it
                    shown = line
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }
}
