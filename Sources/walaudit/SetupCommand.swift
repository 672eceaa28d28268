import ArgumentParser
import PostgresClient
import Schema

/// `walaudit setup`: install or upgrade the schema and create the slot.
struct SetupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Install or upgrade walaudit's schema and create the replication slot (idempotent).",
        discussion: """
            On the source: the capture functions, triggers and the slot (plugin test_decoding). \
            It revokes EXECUTE on pg_logical_emit_message from PUBLIC, so no ordinary role can \
            forge actor messages. On the audit store (--target, default the source): the event \
            log. Run it as a superuser (or the database owner with the REPLICATION attribute).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let source = try connection.connectSource()
        let target = connection.targetConninfo == connection.sourceConninfo ? source : try connection.connectTarget()
        for line in try Self.install(source: source, target: target, slot: connection.slot) { print(line) }
        print("walaudit is set up. Next: walaudit attach TABLE…, then walaudit run")
    }

    /// Applies the migrations and creates the slot; returns what was done.
    static func install(source: Connection, target: Connection, slot: String) throws -> [String] {
        do {
            let appliedSource = try Migrations.apply(.source, on: source)
            let appliedStore = try Migrations.apply(.store, on: target)
            var done = appliedSource.map { "source: applied \($0)" } + appliedStore.map { "store: applied \($0)" }
            if appliedSource.contains(where: { $0.hasSuffix("privileges") }) {
                done.append("source: revoked EXECUTE on pg_logical_emit_message from PUBLIC (only walaudit may emit actor messages)")
            }
            let exists = try source.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot])
            if exists.rows.isEmpty {
                try source.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot])
                done.append("source: created replication slot \(slot)")
            }
            return done
        } catch let error as MigrationError {
            throw CLIError("setup failed: \(error)")
        } catch let error as PostgresError {
            throw CLIError("setup failed: \(error)")
        }
    }
}
