import ArgumentParser
import AuditStore

/// `walaudit attach`: start auditing tables.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Start auditing tables (sets REPLICA IDENTITY FULL and the actor trigger).",
        discussion: """
            Each --exclude and --mask names one column, exactly as the catalog spells it \
            (no quotes, no splitting: --exclude 'a,b' is the column named "a,b"); repeat the \
            option for more columns. They apply to every table given. Attaching a table again \
            replaces its lists.

            Example:
              walaudit attach public.customers --mask email --mask phone \\
                --exclude password_hash
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("Tables to attach, e.g. public.orders (quote odd names as SQL does: '\"My table\"').",
                                 valueName: "table"))
    var tables: [String]

    @Option(help: ArgumentHelp("A column never stored; repeat for more.", valueName: "column"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("A column stored as a keyed hash only; repeat for more.", valueName: "column"))
    var mask: [String] = []

    @Flag(help: "Do not record the existing rows (by default the worker records each once as a SNAPSHOT event); the table's history then starts with its first change.")
    var noBaseline = false

    func run() throws {
        let source = try connection.connectSource()
        for table in tables {
            var baselined = false
            do {
                baselined = try Attachment.attach(source, table: table, exclude: exclude, mask: mask, baseline: !noBaseline)
            } catch where error.message.hasPrefix("no such column") && (exclude + mask).contains(where: { $0.contains(",") }) {
                throw CLIError("cannot attach \(table): \(error) (--exclude and --mask take one column each: --exclude a --exclude b)")
            } catch {
                throw CLIError("cannot attach \(table): \(error)")
            }
            if baselined {
                print("attached \(table); the worker records its existing rows as SNAPSHOT events (`walaudit status` shows the progress)")
            } else if noBaseline {
                print("attached \(table), without a baseline: its history starts with its first change")
            } else {
                print("attached \(table), without a baseline (it has no primary key to tell its rows apart): its history starts with its first change")
            }
        }
    }
}

/// `walaudit detach`: stop auditing tables.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Stop auditing tables; the chain records a GAP event (who detached it) for each.",
        discussion: "Example: walaudit detach public.orders"
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("Tables to detach.", valueName: "table"))
    var tables: [String]

    func run() throws {
        let source = try connection.connectSource()
        for table in tables {
            try failing("cannot detach \(table)") { try Attachment.detach(source, table: table) }
            print("detached \(table)")
        }
    }
}
