import ArgumentParser
import AuditStore

/// `walaudit setup`: install or upgrade the schema and create the slot.
struct SetupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Install or upgrade walaudit's schema and create the replication slot (idempotent).",
        discussion: """
            On the source: the capture functions, triggers and the slot (plugin test_decoding). \
            It revokes EXECUTE on pg_logical_emit_message from PUBLIC, so no ordinary role can \
            forge actor messages. On the audit store (--target, default the source): the event \
            log. Run it as a superuser (or the database owner with the REPLICATION attribute). \
            Safe to run again after an upgrade: it applies only what is new.

            Example: walaudit setup --source 'host=db1 dbname=shop user=postgres'
            """
    )

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let (source, store) = try connection.connectBoth()
        let done = try failing("setup failed") { try Setup.install(source: source, store: store, slot: connection.slot) }
        for line in done { print(line) }
        print("walaudit is set up. Next: walaudit attach TABLE…, then walaudit run")
    }
}
