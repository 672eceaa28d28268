// How `walaudit setup` installs and upgrades the schema.
//
// `sql/` holds two kinds of files, embedded in the binary at build time:
//
// - Definitions, `sql/<set>/NN_concern.sql`: the current definition of
//   the objects of one concern (tables as CREATE TABLE IF NOT EXISTS at
//   their current shape, indexes IF NOT EXISTS, functions, views and
//   triggers CREATE OR REPLACE, event triggers dropped and created, grants).
//   Every setup runs all of them, in NN order (NN orders, it is no
//   version: a file may use what an earlier one defines). Each is safe to
//   re-run and recorded with its SHA-256 in `walaudit.schema_definitions`,
//   so setup reports only those that are new or changed.
// - Upgrades, `sql/upgrade/<set>/NNN_change.sql`: what re-running the
//   definitions cannot do to an existing database: change a table's
//   columns or constraints, replace an index, drop an object no definition
//   defines any more. Each runs once, in NNN order, and is recorded in
//   `walaudit.schema_migrations`. Their numbers continue those of the
//   numbered migrations that `sql/` held before it was split by concern
//   (common 1-2, source 1-6, store 1-14): those rows mean "the shape those
//   files made", the shape the first upgrades start from.
//
// The order rule: upgrades first, then definitions. An upgrade is written
// against the shape the previous one left (the first against the numbered
// migrations' shape) and relies only on tables and indexes, never on a
// function or view of the definitions, which are (re)defined after it; if
// it needs a function (an index expression), it creates it itself.
// Definitions are written for the current shape only. A fresh database has
// no shape to upgrade: its definitions create the current shape, and every
// upgrade is recorded as applied without running.
//
// So changing a table or an index takes two edits: its definition file
// (the new shape, for fresh installs) and an upgrade (the change, for
// existing ones). Removing a function, view or trigger takes an upgrade
// that drops it. StoreUpgradeTests checks that a store set up by the
// numbered migrations, once upgraded, has exactly a fresh install's schema.
//
// Everything for one set (common included) runs in one transaction under
// an advisory lock: two concurrent setups cannot interleave, and a failure
// leaves the database as it was.
import Decoding
import PostgresClient

/// Which database a file belongs to: the audited source, or the audit
/// store (the same database unless `--target` says otherwise).
public enum MigrationSet: String, Sendable, CaseIterable {
    case source, store
    /// Applied to both, before their own (e.g. the roles): once per database.
    case common

    /// The last of the numbered migrations of this set before `sql/` was
    /// split by concern: an existing database must have all of them.
    var numberedMigrationsEnd: Int {
        switch self {
        case .common: 2
        case .source: 6
        case .store: 14
        }
    }
}

/// One file of `sql/`, embedded in the binary at build time.
public struct Migration: Sendable {
    public enum Kind: Sendable, Equatable {
        /// `sql/<set>/NN_name.sql`: re-run by every setup, in `order`.
        case definition(order: Int)
        /// `sql/upgrade/<set>/NNN_name.sql`: run once on an existing database.
        case upgrade(version: Int)
    }

    public let set: MigrationSet
    public let kind: Kind
    /// The file name without its number and extension, e.g. `verify_chain`;
    /// for an upgrade, with its number, e.g. `015_event_log_operations`.
    public let name: String
    public let sql: String

    /// How setup reports it: `verify_chain`, `common/roles`, `upgrade/015_…`.
    func label(for set: MigrationSet) -> String {
        let kindPrefix = if case .upgrade = kind { "upgrade/" } else { "" }
        return (self.set == set ? "" : "\(self.set.rawValue)/") + kindPrefix + name
    }
}

/// Installs and upgrades walaudit's schema, idempotently.
public enum Migrations {
    /// The definitions of `set`, in order.
    public static func definitions(_ set: MigrationSet) -> [Migration] {
        files(set).filter { if case .definition = $0.kind { true } else { false } }
    }

    /// The upgrades of `set`, in version order.
    public static func upgrades(_ set: MigrationSet) -> [Migration] {
        files(set).filter { if case .upgrade = $0.kind { true } else { false } }
    }

    private static func files(_ set: MigrationSet) -> [Migration] {
        EmbeddedSQL.files.compactMap { file -> (Int, Migration)? in
            let parts = file.path.split(separator: "/").map(String.init)
            guard let fileName = parts.last, fileName.hasSuffix(".sql") else { return nil }
            let digits = fileName.prefix(while: \.isNumber)
            guard let number = Int(digits) else { return nil }
            let stem = String(fileName.dropLast(4))
            if parts.count == 2, parts[0] == set.rawValue {
                return (number, Migration(set: set, kind: .definition(order: number),
                                          name: String(stem.dropFirst(digits.count + 1)), sql: file.text))
            }
            if parts.count == 3, parts[0] == "upgrade", parts[1] == set.rawValue {
                return (number, Migration(set: set, kind: .upgrade(version: number), name: stem, sql: file.text))
            }
            return nil
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Brings `common` and `set` to the current shape on `connection`: the
    /// pending upgrades, then every definition (see the top of this file).
    /// Returns what it did: the upgrades applied and the definitions that
    /// were new or changed (so a setup that changes nothing returns none).
    @discardableResult
    public static func apply(_ set: MigrationSet, on connection: Connection) throws(MigrationError) -> [String] {
        do {
            try connection.execute("BEGIN")
        } catch {
            throw MigrationError(migration: set.rawValue, underlying: error)
        }
        do {
            try run("SELECT pg_advisory_xact_lock(hashtext('walaudit.migrations'))", as: set.rawValue, on: connection)
            try run("""
                CREATE SCHEMA IF NOT EXISTS walaudit;
                CREATE TABLE IF NOT EXISTS walaudit.schema_migrations (
                    migration_set text NOT NULL, version integer NOT NULL, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_set, version));
                CREATE TABLE IF NOT EXISTS walaudit.schema_definitions (
                    migration_set text NOT NULL, name text NOT NULL, sha256 bytea NOT NULL,
                    installed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_set, name));
                """, as: set.rawValue, on: connection)
            var done: [String] = []
            for each in [MigrationSet.common, set] {
                done += try bringUpToDate(each, on: connection).map { $0.label(for: set) }
            }
            try run("COMMIT", as: set.rawValue, on: connection)
            return done
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private static func bringUpToDate(_ set: MigrationSet, on connection: Connection) throws(MigrationError) -> [Migration] {
        let recorded = Set(try run("SELECT version FROM walaudit.schema_migrations WHERE migration_set = $1",
                                   [set.rawValue], as: set.rawValue, on: connection).rows.compactMap { $0[0].flatMap { Int($0) } })
        let defined = try run("SELECT count(*) FROM walaudit.schema_definitions WHERE migration_set = $1",
                              [set.rawValue], as: set.rawValue, on: connection).scalar != "0"
        let upgrades = upgrades(set)
        let fresh = recorded.isEmpty && !defined
        if !defined, !recorded.isEmpty {
            let missing = (1...set.numberedMigrationsEnd).filter { !recorded.contains($0) }
            if !missing.isEmpty {
                throw MigrationError(migration: set.rawValue, underlying: PostgresError(
                    message: "this database's \(set.rawValue) schema predates numbered migration \(missing[0])",
                    hint: "Run `walaudit setup` of a release whose sql/\(set.rawValue) ends at \(set.numberedMigrationsEnd) first."))
            }
        }
        let known = Set(upgrades.compactMap { if case .upgrade(let version) = $0.kind { version } else { nil } })
        if let newer = recorded.filter({ $0 > set.numberedMigrationsEnd && !known.contains($0) }).min() {
            throw MigrationError(migration: set.rawValue, underlying: PostgresError(
                message: "this database's \(set.rawValue) schema has upgrade \(newer), which this walaudit does not know",
                hint: "Use the walaudit release that upgraded it, or a newer one."))
        }

        var done: [Migration] = []
        for upgrade in upgrades {
            guard case .upgrade(let version) = upgrade.kind, !recorded.contains(version) else { continue }
            let label = "\(set.rawValue)/upgrade/\(upgrade.name)"
            if !fresh {
                try run(upgrade.sql, as: label, on: connection)
                done.append(upgrade)
            }
            try run("INSERT INTO walaudit.schema_migrations (migration_set, version, name) VALUES ($1, $2, $3)",
                    [set.rawValue, String(version), upgrade.name], as: label, on: connection)
        }
        let definitions = definitions(set)
        for definition in definitions {
            let label = "\(set.rawValue)/\(definition.name)"
            try run(definition.sql, as: label, on: connection)
            let changed = try run("""
                INSERT INTO walaudit.schema_definitions AS d (migration_set, name, sha256)
                VALUES ($1, $2, sha256(convert_to($3, 'UTF8')))
                ON CONFLICT (migration_set, name) DO UPDATE SET sha256 = EXCLUDED.sha256, installed_at = now()
                    WHERE d.sha256 <> EXCLUDED.sha256
                RETURNING 1
                """, [set.rawValue, definition.name, definition.sql], as: label, on: connection)
            if !changed.rows.isEmpty { done.append(definition) }
        }
        try run("DELETE FROM walaudit.schema_definitions WHERE migration_set = $1 AND NOT name = ANY ($2::text[])",
                [set.rawValue, TextArray.literal(definitions.map(\.name))],
                as: set.rawValue, on: connection)
        return done
    }

    @discardableResult
    private static func run(_ sql: String, _ parameters: [String?] = [], as label: String,
                            on connection: Connection) throws(MigrationError) -> QueryResult {
        do {
            return try connection.execute(sql, parameters)
        } catch {
            throw MigrationError(migration: label, underlying: error)
        }
    }
}

/// A migration that failed, with the server's reason.
public struct MigrationError: Error, CustomStringConvertible {
    public let migration: String
    public let underlying: PostgresError

    public var description: String { "migration \(migration) failed: \(underlying)" }
}
