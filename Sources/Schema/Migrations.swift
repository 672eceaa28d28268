import PostgresClient

/// Which database a migration belongs to: the audited source, or the audit
/// store (the same database unless `--target` says otherwise).
public enum MigrationSet: String, Sendable, CaseIterable {
    case source, store
    /// Applied to both, before their own (e.g. the roles): once per database.
    case common
}

/// One numbered file of `sql/<set>/`, embedded in the binary at build time.
public struct Migration: Sendable {
    public let set: MigrationSet
    public let version: Int
    public let name: String
    public let sql: String
}

/// Installs and upgrades walaudit's schema, idempotently.
public enum Migrations {
    /// The migrations of `set`, in version order.
    public static func all(_ set: MigrationSet) -> [Migration] {
        EmbeddedSQL.files.compactMap { file -> Migration? in
            let parts = file.path.split(separator: "/")
            guard parts.count == 2, parts[0] == set.rawValue,
                  let version = Int(parts[1].prefix(while: \.isNumber)) else { return nil }
            return Migration(set: set, version: version, name: String(parts[1].dropLast(4)), sql: file.text)
        }.sorted { $0.version < $1.version }
    }

    /// Applies the migrations of `set` not yet recorded in the database, each
    /// in its own transaction under an advisory lock (two concurrent setups
    /// cannot interleave). Returns the names of those applied.
    @discardableResult
    public static func apply(_ set: MigrationSet, on connection: Connection) throws -> [String] {
        try connection.execute("""
            CREATE SCHEMA IF NOT EXISTS walaudit;
            CREATE TABLE IF NOT EXISTS walaudit.schema_migrations (
                migration_set text NOT NULL, version integer NOT NULL, name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_set, version));
            """)
        var applied: [String] = []
        for migration in all(.common) + all(set) {
            try connection.execute("BEGIN")
            do {
                try connection.execute("SELECT pg_advisory_xact_lock(hashtext('walaudit.migrations'))")
                let done = try connection.execute(
                    "SELECT 1 FROM walaudit.schema_migrations WHERE migration_set = $1 AND version = $2",
                    [migration.set.rawValue, String(migration.version)])
                if done.rows.isEmpty {
                    try connection.execute(migration.sql)
                    try connection.execute("INSERT INTO walaudit.schema_migrations (migration_set, version, name) VALUES ($1, $2, $3)",
                                           [migration.set.rawValue, String(migration.version), migration.name])
                    applied.append(migration.set == set ? migration.name : "\(migration.set.rawValue)/\(migration.name)")
                }
                try connection.execute("COMMIT")
            } catch {
                _ = try? connection.execute("ROLLBACK")
                throw MigrationError(migration: "\(migration.set.rawValue)/\(migration.name)", underlying: error)
            }
        }
        return applied
    }
}

/// A migration that failed, with the server's reason.
public struct MigrationError: Error, CustomStringConvertible {
    public let migration: String
    public let underlying: PostgresError

    public var description: String { "migration \(migration) failed: \(underlying)" }
}
