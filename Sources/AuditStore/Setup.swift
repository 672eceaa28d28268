import PostgresClient
import Schema

/// `walaudit setup`: the schema on the source and the store, and the slot.
public enum Setup {
    /// Applies the migrations either database has not seen yet and creates
    /// the logical replication slot if missing (idempotent); returns one
    /// line for each thing done. Throws `MigrationError` or `PostgresError`.
    public static func install(source: Connection, store: Connection, slot: String) throws -> [String] {
        let appliedSource = try Migrations.apply(.source, on: source)
        let appliedStore = try Migrations.apply(.store, on: store)
        var done = appliedSource.map { "source: applied \($0)" } + appliedStore.map { "store: applied \($0)" }
        if appliedSource.contains(where: { $0.hasSuffix("privileges") }) {
            done.append("source: revoked EXECUTE on pg_logical_emit_message from PUBLIC (only walaudit may emit actor messages)")
        }
        if try ReplicationSlot.read(source, slot: slot) == nil {
            try source.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot])
            done.append("source: created replication slot \(slot)")
        }
        return done
    }
}
