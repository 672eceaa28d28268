import ArgumentParser
import AuditStore
import PostgresClient

/// `walaudit attach`: start auditing tables, or every table of a schema.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Start auditing tables, or a whole schema (sets REPLICA IDENTITY FULL and the actor trigger).",
        discussion: """
            Each --exclude and --mask names one column, exactly as the catalog spells it \
            (no quotes, no splitting: --exclude 'a,b' is the column named "a,b"); repeat the \
            option for more columns. They apply to every table given. Attaching a table again \
            replaces its lists.

            With --schema instead of tables, every table of the schema is attached, now and \
            whenever one is created there later (or moved in), in the transaction that creates \
            it (walaudit.attach_schema). --exclude-table leaves a table out (with its partitions \
            and children), by its name in the schema; repeat it for more. --exclude, --mask and \
            --no-baseline apply to each table as far as it has those columns. An UNLOGGED table \
            in the schema refuses the rule unless it is excluded. Tables attached already keep \
            their own settings. `walaudit detach --schema` ends the rule.

            Examples:
              walaudit attach public.customers --mask email --mask phone \\
                --exclude password_hash
              walaudit attach --schema app --exclude-table sessions --mask email
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("Tables to attach, e.g. public.orders (quote odd names as SQL does: '\"My table\"').",
                                 valueName: "table"))
    var tables: [String] = []

    @Option(help: ArgumentHelp("Attach every table of this schema, now and created later (the name as the catalog spells it, no quotes).",
                               valueName: "schema"))
    var schema: String?

    @Option(name: .customLong("exclude-table"),
            help: ArgumentHelp("With --schema: a table of the schema left out (as the catalog spells it); repeat for more.", valueName: "table"))
    var excludeTables: [String] = []

    @Option(help: ArgumentHelp("A column never stored; repeat for more.", valueName: "column"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("A column stored as a keyed hash only; repeat for more.", valueName: "column"))
    var mask: [String] = []

    @Flag(help: "Do not record the existing rows (by default the worker records each once as a SNAPSHOT event); the table's history then starts with its first change.")
    var noBaseline = false

    func validate() throws {
        guard tables.isEmpty != (schema == nil) else {
            throw ValidationError(tables.isEmpty ? "give the tables to attach, or --schema" : "give either tables or --schema, not both")
        }
        guard schema != nil || excludeTables.isEmpty else { throw ValidationError("--exclude-table goes with --schema") }
    }

    func run() throws {
        let source = try connection.connectSource()
        if let schema {
            try attachSchema(schema, source: source)
            return
        }
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

    private func attachSchema(_ schema: String, source: Connection) throws {
        let attached = try failing("cannot attach schema \(schema)") {
            try Attachment.attachSchema(source, schema: schema, excludeTables: excludeTables, exclude: exclude,
                                        mask: mask, baseline: !noBaseline)
        }
        for table in attached { print("\(table.table): \(table.outcome)") }
        print("schema \(schema): \(attached.isEmpty ? "no tables now; " : "")tables created in it later are attached too"
              + (excludeTables.isEmpty ? "" : " (except \(excludeTables.joined(separator: ", ")))"))
    }
}

/// `walaudit detach`: stop auditing tables, or end a schema rule.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Stop auditing tables; the chain records a GAP event (who detached it) for each.",
        discussion: """
            With --schema, ends the schema's rule (walaudit.detach_schema): tables created there \
            later are not attached. The tables attached so far stay attached, unless \
            --detach-tables detaches them too.

            Examples:
              walaudit detach public.orders
              walaudit detach --schema app --detach-tables
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("Tables to detach.", valueName: "table"))
    var tables: [String] = []

    @Option(help: ArgumentHelp("End the rule that attaches this schema's tables.", valueName: "schema"))
    var schema: String?

    @Flag(help: "With --schema: also detach the tables of the schema the rule covered.")
    var detachTables = false

    func validate() throws {
        guard tables.isEmpty != (schema == nil) else {
            throw ValidationError(tables.isEmpty ? "give the tables to detach, or --schema" : "give either tables or --schema, not both")
        }
        guard schema != nil || !detachTables else { throw ValidationError("--detach-tables goes with --schema") }
    }

    func run() throws {
        let source = try connection.connectSource()
        if let schema {
            let detached = try failing("cannot detach schema \(schema)") {
                try Attachment.detachSchema(source, schema: schema, detachTables: detachTables)
            }
            for table in detached { print("detached \(table)") }
            print("schema \(schema): its rule has ended; tables created in it later are not attached"
                  + (detachTables ? "" : " (those attached so far stay attached)"))
            return
        }
        for table in tables {
            try failing("cannot detach \(table)") { try Attachment.detach(source, table: table) }
            print("detached \(table)")
        }
    }
}
